"""A set of networks that answers "is this address in one of them?" quickly for IPv4 text.

The passive engine asks it of every flow's addresses (tens of thousands of distinct hosts on a flat LAN):
`ipaddress.ip_address` and a scan of `addr in net` cost ~10 µs an answer there, most of a many-hosts run's
time. The IPv4 networks are kept as merged integer ranges searched by bisection, and dotted-quad text is
parsed by `inet_pton` (as strict as ipaddress: no leading zeros, no short forms). Anything else (IPv6, a
scope suffix, not an address) takes the ipaddress way, so every answer is that of `addr in net`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from socket import AF_INET, inet_pton

from hikscan.knowledge.ruleset import IpNet, ip_of


class NetSet:
    __slots__ = ("_ends", "_starts", "nets")

    def __init__(self, nets: Iterable[IpNet]) -> None:
        self.nets = tuple(nets)
        merged: list[list[int]] = []
        for lo, hi in sorted(
            (int(n.network_address), int(n.broadcast_address)) for n in self.nets if n.version == 4
        ):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        self._starts = [lo for lo, _hi in merged]
        self._ends = [hi for _lo, hi in merged]

    def __contains__(self, ip: str) -> bool:
        try:
            value = int.from_bytes(inet_pton(AF_INET, ip), "big")
        except (OSError, ValueError, TypeError):  # not dotted-quad IPv4 text
            addr = ip_of(ip)
            return addr is not None and any(addr in net for net in self.nets if net.version == addr.version)
        i = bisect_right(self._starts, value) - 1
        return i >= 0 and value <= self._ends[i]

    def __bool__(self) -> bool:
        return bool(self.nets)
