"""Which addresses are on the captured LAN: the policy's private ranges, the user's `--local-net`s,
and what the traffic itself shows.

A camera LAN may be numbered from public space (a real case: 172.168.x.x), so RFC 1918 alone would
make its camera and viewer "external" and hide them. The traffic says more: a host that sends a
broadcast or link-local multicast (DHCP, SSDP, mDNS, SADP), or that a DHCP server hands an address,
is on this segment; so is a host in the same /24 as such a host whose MAC sends from that one address
only (a router's MAC sends for many addresses, and not from inside the LAN's own /24). (Non-IP ARP
frames do not reach the inspectors; a MAC seen from one address is also used in analysis to place
global IPv6 addresses.) Learnt addresses are bounded in number.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from hikscan.errors import UsageError
from hikscan.knowledge.netset import NetSet
from hikscan.knowledge.policy import Policy
from hikscan.knowledge.ruleset import IpNet, ip_of

MAX_LEARNT = 100_000


def parse_local_nets(texts: Iterable[str]) -> tuple[IpNet, ...]:
    """`--local-net` values as networks; a one-line UsageError for a bad one."""
    out = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise UsageError(f"--local-net {text!r}: give a network such as 172.168.0.0/16") from None
    return tuple(out)


class Locality:
    """is_local(ip): in the policy's internal ranges, in a stated local net, or learnt from the traffic."""

    def __init__(self, policy: Policy, local_nets: Iterable[IpNet] = ()) -> None:
        self.policy = policy
        self.local_nets = tuple(local_nets)
        self._stated = NetSet((*policy.internal_cidrs, *self.local_nets))
        self.learnt: dict[str, str] = {}  # address -> why (for the report's evidence)
        self.prefixes: set[bytes] = set()  # /24s (first three bytes) of learnt IPv4 addresses
        self.mac_ip: dict[bytes, bytes] = {}  # MAC -> the one address it sends from (b"" once several)
        self.dropped = 0

    def stated(self, ip: str) -> bool:
        """Local by configuration alone (policy ranges or --local-net), not by what was seen."""
        return ip in self._stated

    def is_local(self, ip: str) -> bool:
        return ip in self.learnt or self.stated(ip)

    def learn(self, ip: str, why: str) -> bool:
        """Record that the traffic shows ip on this LAN; True if that is news."""
        if ip in self.learnt or self.stated(ip):
            return False
        addr = ip_of(ip)
        if addr is None or addr.is_unspecified or addr.is_multicast or addr.is_loopback:
            return False
        if len(self.learnt) >= MAX_LEARNT:
            self.dropped += 1
            return False
        self.learnt[ip] = why
        if addr.version == 4:
            self.prefixes.add(addr.packed[:3])
        return True

    def neighbour(self, src: bytes, mac: bytes | None) -> bool:
        """True if packed IPv4 src sits in a learnt /24 and its MAC has sent from no other address."""
        if mac is None or len(src) != 4 or src[:3] not in self.prefixes:
            return False
        seen = self.mac_ip.get(mac)
        if seen is None:
            if len(self.mac_ip) >= MAX_LEARNT:
                return False
            self.mac_ip[mac] = seen = src
        elif seen != src:
            self.mac_ip[mac] = seen = b""
        return seen == src
