"""Loopback responders and a probe context for the active-probe unit tests (127.0.0.1, port 0)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hikscan.active.base import ProbeContext
from hikscan.active.net import Deadline, RateLimiter

DATA = Path(__file__).parent / "data" / "active"


def make_ctx(timeout: float = 1.0, rate: float = 0.0, overall: float = 10.0) -> ProbeContext:
    return ProbeContext(
        interface=None,
        interface_addr=None,
        timeout=timeout,
        deadline=Deadline(overall),
        limiter=RateLimiter(rate),
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Responder:
    """A TCP server on 127.0.0.1: `handler(request bytes) -> reply bytes` (or a list of chunks with
    `delay` seconds between them, to drip). Records every request it read."""

    def __init__(
        self, handler: Callable[[bytes], bytes | list[bytes]], delay: float = 0.0, read: bool = True
    ):
        self.handler = handler
        self.delay = delay
        self.read = read
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2.0)
            data = b""
            if self.read:
                try:
                    while b"\r\n\r\n" not in data and len(data) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            want = int(line.split(b":")[1])
                            while len(body) < want:
                                chunk = conn.recv(4096)
                                if not chunk:
                                    break
                                body += chunk
                            data = head + b"\r\n\r\n" + body
                except OSError:
                    return
            self.requests.append(data)
            reply = self.handler(data)
            chunks = reply if isinstance(reply, list) else [reply]
            try:
                for chunk in chunks:
                    conn.sendall(chunk)
                    if self.delay:
                        time.sleep(self.delay)
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self.sock.close()

    def __enter__(self) -> Responder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
