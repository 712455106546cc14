"""Live capture sources for `watch`: a TPACKET_V3 ring, libpcap's, or scapy's packet socket as a fallback.

ring (hikscan.capture.tpacket, the default): AF_PACKET TPACKET_V3 blocks walked in Python.
pcap (PcapRing below): the same kernel ring driven by libpcap through ctypes.
socket (hikscan.capture.packet_socket): scapy's packet socket, read in batches.

All give the same small interface (`LiveSource`): a file descriptor to wait on, `read(limit)` returning
at most `limit` raw frames as (timestamp, bytes, wire length) without any dissection, and `counters()`
with what the kernel saw and dropped. Sizes are bounded: the kernel buffer by MAX_BUFFER_MB, one read
by the caller's limit, one frame by SNAPLEN (or, in our ring, by its block size).

PcapRing: libpcap (hikscan.capture.libpcap) without immediate mode, so that on Linux it maps a
TPACKET_V3 block ring (immediate mode makes libpcap fall back to TPACKET_V2); the kernel retires a
block when it is full or after BLOCK_TIMEOUT_MS, so a quiet link still delivers within that time.
Kernel drops come from pcap_stats, i.e. getsockopt(SOL_PACKET, PACKET_STATISTICS).
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, byref, c_ubyte, string_at
from dataclasses import dataclass
from typing import Protocol

from hikscan.capture.libpcap import Handle, PcapStat, PktHdr
from hikscan.errors import UsageError

DEFAULT_BUFFER_MB = 64
MIN_BUFFER_MB = 1
MAX_BUFFER_MB = 1024
SNAPLEN = 65_535
BLOCK_TIMEOUT_MS = 100
METHODS = ("auto", "ring", "pcap", "socket")

Frame = tuple[float, bytes, int]  # timestamp, captured bytes, length on the wire


@dataclass
class Counters:
    """What the capture layer counted: the kernel's own packet and drop counters, as Suricata/Zeek show."""

    method: str
    kernel_packets: int = 0  # seen by the socket after the BPF filter (drops included)
    kernel_drops: int = 0  # not delivered: the buffer was full
    interface_drops: int | None = None  # dropped by the interface/driver, where known


class LiveSource(Protocol):
    method: str
    linktype: int
    buffer_bytes: int

    def fileno(self) -> int: ...

    def read(self, limit: int) -> list[Frame]: ...

    def counters(self) -> Counters: ...

    def close(self) -> None: ...


def buffer_bytes(buffer_mb: int) -> int:
    if not MIN_BUFFER_MB <= buffer_mb <= MAX_BUFFER_MB:
        raise UsageError(f"--buffer-mb must be between {MIN_BUFFER_MB} and {MAX_BUFFER_MB}")
    return buffer_mb * 2**20


class _Wrapping:
    """A running total of a 32-bit counter the library may wrap."""

    def __init__(self) -> None:
        self.last = 0
        self.total = 0

    def update(self, raw: int) -> int:
        self.total += (raw - self.last) & 0xFFFFFFFF
        self.last = raw
        return self.total


class PcapRing:
    """AF_PACKET through libpcap: an mmap'd TPACKET_V3 block ring on Linux, kernel BPF, kernel counters."""

    method = "pcap"

    def __init__(
        self, interface: str, bpf: str | None = None, buffer_mb: int = DEFAULT_BUFFER_MB, promisc: bool = True
    ) -> None:
        self.buffer_bytes = buffer_bytes(buffer_mb)
        self.handle = handle = Handle.create(interface)
        lib = handle.lib
        try:
            lib.pcap_set_snaplen(handle.ptr, SNAPLEN)
            lib.pcap_set_promisc(handle.ptr, int(promisc))
            lib.pcap_set_timeout(handle.ptr, BLOCK_TIMEOUT_MS)
            lib.pcap_set_buffer_size(handle.ptr, self.buffer_bytes)
            code = lib.pcap_activate(handle.ptr)
            if code < 0:
                raise UsageError(f"cannot listen on {interface!r}: {handle.status(code)}")
            self.warning = handle.status(code) if code > 0 else None
            if bpf:
                program = handle.compile(bpf)
                try:
                    if lib.pcap_setfilter(handle.ptr, byref(program)) != 0:
                        raise UsageError(f"cannot set --bpf filter: {handle.error()}")
                finally:
                    handle.free(program)
            errbuf = ctypes.create_string_buffer(256)
            if lib.pcap_setnonblock(handle.ptr, 1, errbuf) != 0:
                raise UsageError(f"cannot listen on {interface!r}: {errbuf.value.decode(errors='replace')}")
            self.fd = lib.pcap_get_selectable_fd(handle.ptr)
            if self.fd < 0:
                raise UsageError(f"cannot listen on {interface!r}: no selectable descriptor")
            self.linktype = lib.pcap_datalink(handle.ptr)
        except BaseException:
            handle.close()
            raise
        self._hdr = POINTER(PktHdr)()
        self._data = POINTER(c_ubyte)()
        self._refs = (byref(self._hdr), byref(self._data))
        self._received = _Wrapping()
        self._dropped = _Wrapping()
        self._ifdropped = _Wrapping()

    def fileno(self) -> int:
        return self.fd

    def read(self, limit: int) -> list[Frame]:
        """Up to `limit` frames already in the ring (never waits). OSError when the capture fails."""
        out: list[Frame] = []
        append = out.append
        next_ex, ptr = self.handle.lib.pcap_next_ex, self.handle.ptr
        hdr_ref, data_ref = self._refs
        hdr, data = self._hdr, self._data
        for _ in range(limit):
            code = next_ex(ptr, hdr_ref, data_ref)
            if code != 1:
                if code < 0:
                    raise OSError(f"capture failed: {self.handle.error() or code}")
                break
            h = hdr.contents
            append((h.tv_sec + h.tv_usec * 1e-6, string_at(data, h.caplen), h.len))
        return out

    def counters(self) -> Counters:
        stat = PcapStat()
        if self.handle.ptr is not None and self.handle.lib.pcap_stats(self.handle.ptr, byref(stat)) == 0:
            self._received.update(stat.ps_recv)
            self._dropped.update(stat.ps_drop)
            self._ifdropped.update(stat.ps_ifdrop)
        return Counters(self.method, self._received.total, self._dropped.total, self._ifdropped.total)

    def close(self) -> None:
        self.handle.close()


def open_source(
    interface: str, method: str = "auto", bpf: str | None = None, buffer_mb: int = DEFAULT_BUFFER_MB
) -> LiveSource:
    """ring (ours), pcap (libpcap's ring) or socket; auto = ring, else the socket. UsageError in one line."""
    from hikscan.capture import libpcap
    from hikscan.capture.packet_socket import PacketSocket
    from hikscan.capture.tpacket import TpacketRing, interface_type

    if method not in METHODS:
        raise UsageError(f"unknown capture method {method!r} (one of {', '.join(METHODS)})")
    buffer_bytes(buffer_mb)
    if bpf is not None:
        libpcap.load()  # every method compiles filters with libpcap
        libpcap.check_filter(bpf)
    if method == "pcap":
        return PcapRing(interface, bpf, buffer_mb)
    if method == "socket":
        return PacketSocket(interface, bpf, buffer_mb)
    if method == "ring":
        return TpacketRing(interface, bpf, buffer_mb)
    interface_type(interface)  # an unknown interface is an error, not a reason to fall back
    try:
        return TpacketRing(interface, bpf, buffer_mb)
    except UsageError:
        return PacketSocket(interface, bpf, buffer_mb)
