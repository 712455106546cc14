"""MAC addresses on the local segment: the kernel's neighbour table first (filled for free by the
unicast probes' own connections), then an ARP who-has (scapy's packet socket) for in-scope hosts
still missing. Only hosts on the interface's own subnet are asked, one request each, at the scan's
rate; without the rights for a packet socket the scan records `no_permission.arp` and goes on.
"""

from __future__ import annotations

import fcntl
import ipaddress
import select
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from hikscan.active.base import Kind, Observation, ProbeContext, register
from hikscan.active.net import Deadline, interface_ipv4
from hikscan.protocols.sadp import normalise_mac
from hikscan.report.model import Evidence

_SIOCGIFNETMASK = 0x891B
_PROC_ARP = Path("/proc/net/arp")
_MAX_ARP_BYTES = 4 * 2**20
_MAX_FRAMES_PER_DRAIN = 4096


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
        """One who-has per address, each paced by the scan's rate limiter (so the phase obeys the
        deadline and the first Ctrl-C between any two packets), answers read from the same socket."""
        try:
            from scapy.arch.linux import L2Socket  # not conf.L2socket: scapy unsets it without rights
            from scapy.config import conf
            from scapy.layers.l2 import ARP, Ether
        except ImportError:
            return
        conf.verb = 0
        try:
            sock = L2Socket(iface=ctx.interface)
        except PermissionError:
            ctx.count("no_permission.arp")
            return
        except OSError:
            ctx.count("arp.socket_failed")
            return
        wanted = set(ips)
        answered: dict[str, str] = {}

        def drain(until: Deadline) -> Iterator[Observation]:
            for _ in range(_MAX_FRAMES_PER_DRAIN):  # a flood of frames cannot hold the phase open
                ready, _, _ = select.select([sock], [], [], until.remaining())
                if not ready:
                    return
                try:
                    pkt = sock.recv()
                except OSError:
                    return
                if pkt is None or ARP not in pkt or pkt[ARP].op != 2:
                    continue
                ip, mac = str(pkt[ARP].psrc), normalise_mac(str(pkt[ARP].hwsrc))
                if mac and ip in wanted and ip not in answered:
                    answered[ip] = mac
                    yield Observation(ip, mac, [Evidence("arp", "mac.address", mac)], self.name)
                    if len(answered) >= sent:
                        return

        sent = 0
        try:
            for ip in ips:
                if not ctx.send_ok():
                    break
                try:
                    sock.send(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=ip))
                except OSError:
                    ctx.count("arp.send_failed")
                    break
                sent += 1
                yield from drain(Deadline(0.0))
            if sent and len(answered) < sent:
                yield from drain(ctx.probe_deadline())
        finally:
            sock.close()
            ctx.count("arp.requests", sent)
