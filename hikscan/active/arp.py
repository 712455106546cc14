"""MAC addresses on the local segment: the kernel's neighbour table first (filled for free by the
unicast probes' own connections), then a scapy ARP who-has for in-scope hosts still missing.

Only hosts on the interface's own subnet are asked, one request each, at the scan's rate.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from hikscan.active.base import Kind, Observation, ProbeContext, register
from hikscan.active.net import interface_ipv4
from hikscan.protocols.sadp import normalise_mac
from hikscan.report.model import Evidence

_SIOCGIFNETMASK = 0x891B
_PROC_ARP = Path("/proc/net/arp")
_MAX_ARP_BYTES = 4 * 2**20


def interface_network(interface: str) -> ipaddress.IPv4Network:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        packed = fcntl.ioctl(s.fileno(), _SIOCGIFNETMASK, struct.pack("256s", interface.encode()[:15]))
    mask = socket.inet_ntoa(packed[20:24])
    return ipaddress.IPv4Network(f"{interface_ipv4(interface)}/{mask}", strict=False)


def kernel_neighbours(interface: str) -> dict[str, str]:
    """ip -> mac from /proc/net/arp for complete entries on `interface`."""
    out: dict[str, str] = {}
    try:
        with _PROC_ARP.open("rb") as fh:
            text = fh.read(_MAX_ARP_BYTES).decode("ascii", "replace")
    except OSError:
        return out
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 6 and cols[5] == interface and cols[2] != "0x0":
            mac = normalise_mac(cols[3])
            if mac and mac != "00:00:00:00:00:00":
                out[cols[0]] = mac
    return out


@register
class ArpProbe:
    name: ClassVar[str] = "arp"
    kind: ClassVar[Kind] = "segment"
    ports: ClassVar[tuple[int, ...]] = ()

    def __init__(self, use_scapy: bool = True) -> None:
        self.use_scapy = use_scapy

    def in_segment(self, ctx: ProbeContext, targets: list[str]) -> list[str]:
        """The targets on the interface's own subnet (not the scanner itself)."""
        if not ctx.interface:
            return []
        try:
            net = interface_network(ctx.interface)
        except OSError:
            return []
        return [ip for ip in targets if ipaddress.ip_address(ip) in net and ip != ctx.interface_addr]

    def run(self, ctx: ProbeContext, targets: list[str]) -> Iterator[Observation]:
        if not ctx.interface:
            return
        local = self.in_segment(ctx, targets)
        known = kernel_neighbours(ctx.interface)
        for ip in local:
            if ip in known:
                yield Observation(ip, known[ip], [Evidence("arp", "mac.address", known[ip])], self.name)
        missing = [ip for ip in local if ip not in known]
        if missing and self.use_scapy and not ctx.deadline.expired:
            yield from self._scapy(ctx, missing)

    def _scapy(self, ctx: ProbeContext, ips: list[str]) -> Iterator[Observation]:
        try:
            from scapy.config import conf
            from scapy.layers.l2 import ARP, Ether
            from scapy.sendrecv import srp
        except ImportError:
            return
        conf.verb = 0
        rate = ctx.limiter.rate
        sent = 0
        for chunk in (ips[i : i + 1024] for i in range(0, len(ips), 1024)):
            if ctx.deadline.expired:
                return
            # srp paces the requests itself (inter = 1/rate); phases run one after another, so
            # nothing else draws on the limiter meanwhile: just count the sends.
            ctx.limiter.note(len(chunk))
            sent += len(chunk)
            pkts = [Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=ip) for ip in chunk]
            try:
                answered, _ = srp(
                    pkts,
                    iface=ctx.interface,
                    timeout=min(ctx.timeout, max(0.1, ctx.deadline.remaining())),
                    inter=(1.0 / rate) if rate > 0 else 0,
                    verbose=0,
                )
            except (OSError, PermissionError):
                return
            for _, reply in answered:
                ip, mac = str(reply[ARP].psrc), normalise_mac(str(reply[ARP].hwsrc))
                if mac and ip in chunk:
                    yield Observation(ip, mac, [Evidence("arp", "mac.address", mac)], self.name)
        ctx.count("arp.requests", sent)
