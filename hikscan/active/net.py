"""Bounded socket helpers for the probes: deadlines, a rate limiter, TCP/TLS exchanges, multicast.

Every read here is bounded twice: in bytes (a cap per datagram and per TCP exchange) and in time
(the probe's own timeout and the scan's overall deadline, re-checked before every recv so that a
device dripping one byte a second cannot hold a probe open past its budget).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

MAX_DATAGRAM = 64 * 1024
MAX_HEAD = 64 * 1024
MAX_BODY = 256 * 1024
MAX_REPLIES_PER_SOURCE = 8
_SIOCGIFADDR = 0x8915
_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


class Deadline:
    """A point in monotonic time; `remaining()` never goes below zero."""

    def __init__(self, seconds: float, stop: threading.Event | None = None) -> None:
        self.at = time.monotonic() + max(0.0, seconds)
        self.stop = stop  # set by a signal handler: the deadline has passed now
        # work was cut short by this deadline: latched, because the last phase may end just before it
        # (a rate limiter refuses a send whose slot lies past it, then nothing is left to wait for)
        self.hit = False

    def remaining(self) -> float:
        if self.stop is not None and self.stop.is_set():
            return 0.0
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        if self.remaining() <= 0.0:
            self.hit = True
            return True
        return False

    def extend(self, seconds: float) -> None:
        """Move the deadline `seconds` later (the scan gives an opt-in phase its own time)."""
        self.at += max(0.0, seconds)

    def within(self, seconds: float) -> Deadline:
        """A deadline `seconds` from now, but never later than this one."""
        child = Deadline(seconds, self.stop)
        child.at = min(child.at, self.at)
        return child


class RateLimiter:
    """A thread-safe, first-come first-served pacer: at most `rate` sends per second, bursts of `burst`.

    Each `acquire()` reserves the next free send slot (a GCRA: the slots are handed out in the
    order callers arrive, so no host can be starved by luckier threads) and sleeps until it. When
    the slot lies past the deadline nothing is reserved and it returns False at once; the wait
    wakes early when the deadline's stop event is set. A rate of 0 or below means unlimited.
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tat = time.monotonic()  # theoretical arrival time of the next send
        self._lock = threading.Lock()
        self.sent = 0

    def acquire(self, deadline: Deadline | None = None) -> bool:
        if self.rate <= 0:
            with self._lock:
                self.sent += 1
            return True
        interval = 1.0 / self.rate
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat, now)
            slot = max(now, tat - (self.burst - 1) * interval)
            if deadline is not None and slot - now > deadline.remaining():
                deadline.hit = True
                return False
            self._tat = tat + interval
            self.sent += 1
        wait = slot - time.monotonic()
        if wait > 0:
            stop = deadline.stop if deadline is not None else None
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                time.sleep(wait)
        return True

    def note(self, n: int) -> None:
        """Count sends paced by someone else."""
        with self._lock:
            self.sent += n


@dataclass(frozen=True, slots=True)
class Exchange:
    """What a TCP exchange returned: the bytes (capped), and why reading stopped."""

    data: bytes
    connected: bool
    oversized: bool = False  # the peer sent more than the cap
    timed_out: bool = False  # the peer was still sending (or silent) when time ran out
    error: str | None = None
    peer_cert: bytes | None = None  # DER, for TLS exchanges


def interface_ipv4(interface: str) -> str:
    """The IPv4 address of a local interface (ioctl SIOCGIFADDR); OSError if it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", interface.encode()[:15]))
    return socket.inet_ntoa(packed[20:24])


def _connect(ip: str, port: int, deadline: Deadline, device: str | None = None) -> socket.socket:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if device:
            sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, device.encode())
        sock.settimeout(max(0.01, deadline.remaining()))
        sock.connect((ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _read(
    sock: socket.socket | ssl.SSLSocket,
    deadline: Deadline,
    max_bytes: int,
    done: Callable[[bytes | bytearray], bool] | None,
) -> tuple[bytes, bool, bool]:
    """Read until EOF, `done(data)`, the byte cap or the deadline. Returns (data, oversized, timed_out)."""
    buf = bytearray()
    while True:
        left = deadline.remaining()
        if left <= 0:
            return bytes(buf), False, True
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(65536, max_bytes + 1 - len(buf)))
        except TimeoutError:
            return bytes(buf), False, True
        except (ssl.SSLError, OSError):
            return bytes(buf), False, False
        if not chunk:
            return bytes(buf), False, False
        buf += chunk
        if len(buf) > max_bytes:
            return bytes(buf[:max_bytes]), True, False
        if done is not None and done(buf):  # the buffer itself: a copy per recv churned every worker's heap
            return bytes(buf), False, False


def tcp_exchange(
    ip: str,
    port: int,
    request: bytes | None,
    deadline: Deadline,
    max_bytes: int = MAX_HEAD + MAX_BODY,
    done: Callable[[bytes | bytearray], bool] | None = None,
    tls: bool = False,
    device: str | None = None,
) -> Exchange:
    """Connect, send `request` (None: just listen, as for a banner), read a bounded reply.

    `device` binds the socket to an interface (SO_BINDTODEVICE) so traffic leaves only there.
    """
    try:
        sock = _connect(ip, port, deadline, device)
    except TimeoutError:
        return Exchange(b"", False, timed_out=True, error="connect timed out")
    except OSError as exc:
        return Exchange(b"", False, error=exc.strerror or type(exc).__name__)
    cert: bytes | None = None
    try:
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # we read the subject; we trust nothing it says
            sock.settimeout(max(0.01, deadline.remaining()))
            try:
                sock = ctx.wrap_socket(sock)
            except (ssl.SSLError, OSError) as exc:
                return Exchange(b"", True, error=f"TLS: {type(exc).__name__}")
            cert = sock.getpeercert(binary_form=True)
        if request:
            sock.settimeout(max(0.01, deadline.remaining()))
            try:
                sock.sendall(request)
            except OSError as exc:
                return Exchange(b"", True, error=exc.strerror or type(exc).__name__, peer_cert=cert)
        data, oversized, timed_out = _read(sock, deadline, max_bytes, done)
        return Exchange(data, True, oversized=oversized, timed_out=timed_out, peer_cert=cert)
    finally:
        sock.close()


def open_ports(
    ip: str,
    ports: Iterable[int],
    window: float,
    deadline: Deadline,
    device: str | None = None,
    before_send: Callable[[], bool] | None = None,
) -> set[int]:
    """Which of `ports` accept a TCP connection: non-blocking connects in parallel, one select loop.

    `before_send` (the rate limiter) is called before each connect; False stops the sweep. The
    `window` for answers starts when the last connect has left, not when the sweep was queued, so
    a slow rate limiter never eats a host's time; `deadline` (the scan's) still bounds it.
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    pending: dict[socket.socket, int] = {}
    found: set[int] = set()
    try:
        for port in ports:
            if before_send is not None and not before_send():
                break
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            if device:
                sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, device.encode())
            err = sock.connect_ex((ip, port))
            if err == 0:
                found.add(port)
                sock.close()
            elif err in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
                pending[sock] = port
            else:
                sock.close()
        answers = deadline.within(window)
        while pending and answers.remaining() > 0:
            _, writable, _ = select.select([], list(pending), [], min(0.25, answers.remaining()))
            for sock in writable:
                port = pending.pop(sock)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    found.add(port)
                sock.close()
    finally:
        for sock in pending:
            sock.close()
    return found


def cert_subject(der: bytes | None) -> str | None:
    """The subject of a DER certificate as 'C=…,O=…,CN=…' (certificate order); None if unreadable.

    Decoded with `cryptography` (x509.load_der_x509_certificate): no private CPython helper, no temp file.
    """
    if not der or len(der) > MAX_HEAD:
        return None
    try:
        subject = x509.load_der_x509_certificate(der).subject
        parts = [f"{_short_name(a)}={a.value!s}" for rdn in subject.rdns for a in rdn]
    except (ValueError, TypeError):
        return None
    return ",".join(parts) or None


def _short_name(attribute: x509.NameAttribute) -> str:
    """CN, O, OU, L, ST, C… as RFC 4514 writes them; emailAddress by name, other OIDs dotted."""
    if attribute.oid == NameOID.EMAIL_ADDRESS:
        return "emailAddress"
    return attribute.rfc4514_attribute_name


def udp_socket(interface: str | None = None, bind_addr: str = "", port: int = 0) -> socket.socket:
    """A UDP socket, bound to `interface` (SO_BINDTODEVICE + IP_MULTICAST_IF) when one is given."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        if interface:
            sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, interface.encode())
            addr = interface_ipv4(interface)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr))
        sock.bind((bind_addr, port))
    except BaseException:
        sock.close()
        raise
    return sock


def group_socket(interface: str, group: str, port: int) -> socket.socket:
    """A socket listening on a multicast group's port, joined on `interface` only."""
    sock = udp_socket(interface, "", port)
    mreq = socket.inet_aton(group) + socket.inet_aton(interface_ipv4(interface))
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except BaseException:
        sock.close()
        raise
    return sock


class ReplyFilter:
    """Drops duplicate datagrams and caps how many replies one source may contribute."""

    def __init__(self, per_source: int = MAX_REPLIES_PER_SOURCE) -> None:
        self.per_source = per_source
        self._seen: set[bytes] = set()
        self._count: dict[str, int] = {}
        self.dropped: dict[str, int] = {}

    def accept(self, src: str, data: bytes) -> bool:
        digest = hashlib.blake2b(src.encode() + b"\0" + data, digest_size=16).digest()
        if digest in self._seen:
            self.dropped[src] = self.dropped.get(src, 0) + 1
            return False
        if self._count.get(src, 0) >= self.per_source:
            self.dropped[src] = self.dropped.get(src, 0) + 1
            return False
        self._seen.add(digest)
        self._count[src] = self._count.get(src, 0) + 1
        return True

    def flooded(self, src: str) -> bool:
        """More dropped replies from this source than a device could plausibly mean to send."""
        return self.dropped.get(src, 0) >= 4 * self.per_source


def receive(socks: list[socket.socket], deadline: Deadline) -> Iterator[tuple[str, bytes, bool]]:
    """Datagrams from any of `socks` until the deadline: (source ip, data, oversized).

    Reads at most MAX_DATAGRAM + 1 bytes per datagram so an oversized one is seen as such.
    """
    while socks:
        left = deadline.remaining()
        if left <= 0:
            return
        ready, _, _ = select.select(socks, [], [], left)
        for sock in ready:
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM + 1)
            except OSError:
                continue
            yield addr[0], data[:MAX_DATAGRAM], len(data) > MAX_DATAGRAM
