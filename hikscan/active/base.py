"""The probe interface and its registry.

A probe is a small class: a `name`, a `kind` and `run(ctx, targets)` yielding Observations.
- kind "multicast": runs once per scan, only when an interface is given; `targets` is empty.
- kind "unicast": run once per target host (the scan calls it with `[ip]`), to that host only.
- kind "segment": runs once on the interface's local segment (ARP), scoped to the targets.
- kind "extra": opt-in passes (nmap), given every target at once.
Probes are read-only and never raise for what a device sends: a reply that fails to parse is
evidence (`<proto>.malformed`), and a hostile one (XML bomb, oversized, flood) marks the device.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol, runtime_checkable

from hikscan.active.net import Deadline, Exchange, RateLimiter, tcp_exchange
from hikscan.errors import MalformedInput
from hikscan.report.model import Evidence

Kind = Literal["multicast", "unicast", "segment", "extra"]
HOSTILE_KEY = "hostile"
_COUNT_LOCK = threading.Lock()  # ProbeContext.count: the unicast workers count at once


@dataclass
class Observation:
    """What one probe saw of one host."""

    ip: str | None
    mac: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    probe: str = ""

    @property
    def hostile(self) -> list[str]:
        return [e.value for e in self.evidence if e.key == HOSTILE_KEY]


@dataclass
class ProbeContext:
    """What every probe needs: where it may send, how fast, and until when."""

    interface: str | None
    interface_addr: str | None
    timeout: float
    deadline: Deadline
    limiter: RateLimiter
    scope: Callable[[str], bool] = lambda ip: True
    stats: dict[str, int] = field(default_factory=dict)
    open_ports: dict[str, set[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # one-line notices for the user (stderr)

    def is_open(self, ip: str, port: int) -> bool:
        """Whether the port sweep found `port` open on `ip` (True when no sweep ran for the host)."""
        ports = self.open_ports.get(ip)
        return ports is None or port in ports

    def probe_deadline(self, seconds: float | None = None) -> Deadline:
        return self.deadline.within(self.timeout if seconds is None else seconds)

    def send_ok(self) -> bool:
        """Wait for the rate limiter; False when the scan deadline passes first."""
        return not self.deadline.expired and self.limiter.acquire(self.deadline)

    def tcp(
        self,
        ip: str,
        port: int,
        request: bytes | None,
        max_bytes: int,
        done: Callable[[bytes | bytearray], bool] | None = None,
        tls: bool = False,
    ) -> Exchange:
        """One bounded TCP exchange within the probe timeout, on the scan's interface if any."""
        return tcp_exchange(ip, port, request, self.probe_deadline(), max_bytes, done, tls, self.interface)

    def count(self, key: str, n: int = 1) -> None:
        """Add n to a stat; safe from the scan's worker threads (a read-then-write would lose counts)."""
        with _COUNT_LOCK:
            self.stats[key] = self.stats.get(key, 0) + n


@runtime_checkable
class Probe(Protocol):
    name: ClassVar[str]
    kind: ClassVar[Kind]
    ports: ClassVar[tuple[int, ...]]  # TCP ports a unicast probe talks to (for the port sweep)

    def run(self, ctx: ProbeContext, targets: list[str]) -> Iterator[Observation]: ...


PROBES: dict[str, type[Probe]] = {}


def register(cls: type[Probe]) -> type[Probe]:
    """Class decorator adding a probe to the registry under its name."""
    if cls.name in PROBES and PROBES[cls.name] is not cls:
        raise ValueError(f"probe {cls.name!r} registered twice")
    PROBES[cls.name] = cls
    return cls


def load_probes() -> dict[str, type[Probe]]:
    """Import every probe module (each registers itself) and return the registry."""
    from hikscan.active import arp, dhip, nmap, rtsp, sadp, sdk8000, web, wsd  # noqa: F401

    return dict(PROBES)


def hostile(source: str, reason: str) -> Evidence:
    return Evidence(source, HOSTILE_KEY, reason)


def classify_failure(source: str, proto: str, exc: MalformedInput) -> Evidence:
    """A parse failure as evidence: hostile when it is an attack shape, else merely malformed."""
    text = str(exc)
    lowered = text.lower()
    if any(w in lowered for w in ("forbidden", "too large", "entity", "dtd", "too many", "oversized")):
        return hostile(source, f"{proto}: {text}"[:200])
    return Evidence(source, f"{proto}.malformed", text[:200])


def in_networks(networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> Callable[[str], bool]:
    nets = list(networks)

    def check(ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in n for n in nets)

    return check


def multicast_round(
    ctx: ProbeContext,
    group: str,
    port: int,
    payloads: list[bytes],
    source: str,
    listen_group: bool = True,
    window: float | None = None,
) -> Iterator[tuple[str, bytes | None, list[Evidence]]]:
    """Send `payloads` to a group on ctx.interface and collect replies for `window` seconds.

    Listens on the sending socket (unicast replies) and, if asked, on the group itself.
    Yields (source ip, datagram or None, extra evidence): duplicates are dropped, each source is
    capped, oversized datagrams and floods come back as hostile evidence instead of data.
    """
    from hikscan.active.net import ReplyFilter, group_socket, receive, udp_socket

    if not ctx.interface:
        return
    try:
        socks = [udp_socket(ctx.interface, ctx.interface_addr or "", 0)]
    except PermissionError:
        ctx.count(f"no_permission.{source}")
        return
    try:
        if listen_group:
            try:
                socks.append(group_socket(ctx.interface, group, port))
            except OSError:
                ctx.count(f"{source}.group_bind_failed")
        for payload in payloads:
            if not ctx.send_ok():
                return
            socks[0].sendto(payload, (group, port))
            ctx.count(f"{source}.sent")
        filt = ReplyFilter()
        for src, data, oversized in receive(socks, ctx.probe_deadline(window)):
            if oversized:
                yield src, None, [hostile(source, f"{source}: datagram over 64 KiB")]
                continue
            if filt.accept(src, data):
                yield src, data, []
        for src in filt.dropped:
            ctx.count(f"{source}.dropped", filt.dropped[src])
            if filt.flooded(src):
                yield src, None, [hostile(source, f"{source}: {filt.dropped[src]} surplus replies")]
    finally:
        for s in socks:
            s.close()
