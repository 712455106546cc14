"""Dahua DHIP discovery: DHDiscover.search to 239.255.255.251:37810, client.notifyDevInfo replies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from hikscan.active.base import Kind, Observation, ProbeContext, classify_failure, multicast_round, register
from hikscan.errors import MalformedInput
from hikscan.protocols import dhip


@register
class DhipProbe:
    name: ClassVar[str] = "dhip"
    kind: ClassVar[Kind] = "multicast"
    ports: ClassVar[tuple[int, ...]] = ()

    def run(self, ctx: ProbeContext, targets: list[str]) -> Iterator[Observation]:
        payload = dhip.build_search()
        for src, data, extra in multicast_round(ctx, dhip.DHIP_GROUP, dhip.DHIP_PORT, [payload], "dhip"):
            if data is None:
                yield Observation(src, None, extra, self.name)
                continue
            try:
                reply = dhip.parse_dhip(data)
            except MalformedInput as exc:
                yield Observation(src, None, [classify_failure("dhip", "dhip", exc)], self.name)
                continue
            if reply.method and reply.method != "client.notifyDevInfo":
                continue  # another client's search seen on the group
            ev = dhip.evidence(reply)
            if ev:
                yield Observation(src, reply.mac, ev, self.name)
