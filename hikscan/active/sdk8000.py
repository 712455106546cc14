"""Hikvision command port (TCP 8000): nmap's NULL probe — connect, send nothing, read 16 bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from hikscan.active.base import Kind, Observation, ProbeContext, classify_failure, register
from hikscan.errors import MalformedInput
from hikscan.protocols import sdk8000

_MAX_READ = 64


def _full_reply(data: bytes | bytearray) -> bool:
    return len(data) >= sdk8000.REPLY_LEN


@register
class Sdk8000Probe:
    name: ClassVar[str] = "sdk8000"
    kind: ClassVar[Kind] = "unicast"
    ports: ClassVar[tuple[int, ...]] = (sdk8000.PORT,)

    def __init__(self, port: int = sdk8000.PORT) -> None:
        self.port = port

    def run(self, ctx: ProbeContext, targets: list[str]) -> Iterator[Observation]:
        for ip in targets:
            if not ctx.is_open(ip, self.port) or not ctx.send_ok():
                continue
            ctx.count("sdk8000.requests")
            ex = ctx.tcp(ip, self.port, sdk8000.build_probe("null"), _MAX_READ, _full_reply)
            if not ex.data:
                continue
            try:
                reply = sdk8000.parse_sdk8000(ex.data)
            except MalformedInput as exc:
                yield Observation(ip, None, [classify_failure("sdk8000", "sdk8000", exc)], self.name)
                continue
            yield Observation(ip, None, sdk8000.evidence(reply), self.name)
