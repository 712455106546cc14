"""SADP discovery: multicast the read-only inquiry on UDP 37020 and parse the ProbeMatch replies.

Only `build_inquiry()` is ever sent: other SADP verbs change devices (CVE-2023-28810).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from hikscan.active.base import Kind, Observation, ProbeContext, classify_failure, multicast_round, register
from hikscan.errors import MalformedInput
from hikscan.protocols import sadp


@register
class SadpProbe:
    name: ClassVar[str] = "sadp"
    kind: ClassVar[Kind] = "multicast"
    ports: ClassVar[tuple[int, ...]] = ()

    def run(self, ctx: ProbeContext, targets: list[str]) -> Iterator[Observation]:
        payload = sadp.build_inquiry()
        for src, data, extra in multicast_round(ctx, sadp.SADP_GROUP, sadp.SADP_PORT, [payload], "sadp"):
            if data is None:
                yield Observation(src, None, extra, self.name)
                continue
            try:
                reply = sadp.parse_sadp(data)
            except MalformedInput as exc:
                yield Observation(src, None, [classify_failure("sadp", "sadp", exc)], self.name)
                continue
            if reply.kind.lower() == "probe":  # another client's inquiry, not a device
                continue
            yield Observation(src, reply.mac, sadp.evidence(reply), self.name)
