"""The fallback live source: scapy's AF_PACKET listening socket, read in batches without dissection.

Used when libpcap cannot be loaded (or with `--capture socket`). The kernel filter is compiled by scapy
(libpcap again, so `--bpf` needs it either way); the receive buffer is raised to the requested size
(SO_RCVBUFFORCE as root, else SO_RCVBUF within the system limit); drops come from
getsockopt(SOL_PACKET, PACKET_STATISTICS), which resets on every read and so is summed here.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from typing import Any

from hikscan.capture.base import LINKTYPE_ETHERNET, LINKTYPE_RAW
from hikscan.capture.ring import DEFAULT_BUFFER_MB, Counters, Frame, buffer_bytes
from hikscan.errors import UsageError

SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_RCVBUFFORCE = 33
ARPHRD_NONE = 0xFFFE
MAX_FRAME = 65_535


class PacketSocket:
    """scapy's L2ListenSocket, non-blocking, with a large buffer and the kernel's counters."""

    method = "socket"

    def __init__(self, interface: str, bpf: str | None = None, buffer_mb: int = DEFAULT_BUFFER_MB) -> None:
        self.buffer_bytes = buffer_bytes(buffer_mb)
        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # its link-type guess warns on stderr
        try:
            from scapy.arch.linux import L2ListenSocket
            from scapy.error import Scapy_Exception

            self.sock: Any = L2ListenSocket(iface=interface, filter=bpf)
        except (OSError, ValueError, ImportError) as exc:
            raise UsageError(f"cannot listen on {interface!r}: {exc}") from None
        except Scapy_Exception as exc:
            raise UsageError(f"cannot listen on {interface!r}: {str(exc).splitlines()[0]}") from None
        ins: socket.socket = self.sock.ins
        try:
            ins.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.buffer_bytes)
        except OSError:
            ins.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.buffer_bytes)
        ins.setblocking(False)
        self.ins = ins
        hatype = ins.getsockname()[3]
        self.linktype = LINKTYPE_RAW if hatype == ARPHRD_NONE else LINKTYPE_ETHERNET
        self._packets = 0
        self._drops = 0

    def fileno(self) -> int:
        return self.ins.fileno()

    def read(self, limit: int) -> list[Frame]:
        """Up to `limit` frames waiting in the socket buffer (never waits)."""
        out: list[Frame] = []
        recv = self.sock.recv_raw
        for _ in range(limit):
            try:
                _cls, frame, ts = recv(MAX_FRAME)
            except BlockingIOError:
                break
            if frame:
                out.append((ts if ts is not None else time.time(), frame, len(frame)))
        return out

    def counters(self) -> Counters:
        try:
            raw = self.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        except OSError:
            raw = b""
        if len(raw) == 8:
            packets, drops = struct.unpack("=II", raw)
            self._packets += packets
            self._drops += drops
        return Counters(self.method, self._packets, self._drops)

    def close(self) -> None:
        self.sock.close()
