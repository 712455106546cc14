"""The typed interface between the payload Inspector and its evidence sources (one module per protocol)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from hikscan.errors import MalformedInput
from hikscan.knowledge.ruleset import RuleSet
from hikscan.passive.attribution import Attribution
from hikscan.passive.decode import PROTO_TCP, PROTO_UDP, Packet
from hikscan.passive.locality import Locality
from hikscan.passive.naming import NameBook
from hikscan.report.model import Evidence

TCP, UDP = PROTO_TCP, PROTO_UDP  # as the sources name them
MAX_KEEP = 16_384  # NameFilter decisions remembered
Payload = bytes | memoryview


class Context(Protocol):
    """What a source may use: the shared tables and the Inspector's cached address helpers."""

    rules: RuleSet
    names: NameBook
    attribution: Attribution
    locality: Locality

    def text(self, packed: bytes) -> str: ...
    def is_internal(self, ip: str) -> bool: ...
    def is_internal_packed(self, packed: bytes) -> bool: ...
    def worth_parsing(self, a: bytes, b: bytes, kind: str) -> bool: ...
    def bad(self, what: str) -> None: ...
    def learn_local(self, ip: str, why: str) -> None: ...


class Source(Protocol):
    """One evidence source. `ports` select it for UDP (either side); with no ports, a TCP source is tried
    on payloads whose first byte is in `first_bytes` and then `accepts` on the first 8 bytes decides."""

    name: str
    proto: int
    ports: frozenset[int]
    first_bytes: frozenset[int]

    def accepts(self, head: bytes) -> bool: ...
    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None: ...


class NameFilter:
    """Names a host asks for or sends (`dns.query`, `tls.sni`) are kept as its evidence only when a
    fingerprint rule reads them or they name a vendor cloud: a PC's hundreds of ordinary names would
    otherwise fill its evidence and the report. Decisions are cached per name (MAX_KEEP: ≤ ~2.5 MiB)."""

    def __init__(self, rules: RuleSet, key: str) -> None:
        self.rules = rules
        self.key = key
        self.rule_list = rules.fingerprints_for(key)
        self._keep: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        keep = self._keep.get(name)
        if keep is None:
            keep = self.rules.cloud_for_name(name) is not None or any(
                r.status != "deprecated" and r.regex.search(name) for r in self.rule_list
            )
            if len(self._keep) >= MAX_KEEP:
                self._keep.clear()
            self._keep[name] = keep
        return keep


def host_evidence(ctx: Context, ip: str, items: Iterable[Evidence]) -> None:
    """Evidence about a host on the LAN (never about an external server)."""
    if ctx.is_internal(ip):
        ctx.attribution.add(ip, items)


class Announcement:
    """A discovery reply or announcement on a well-known UDP port (SADP, WS-Discovery, DHIP): a cheap byte
    test that it is a device's message, then the parser, a check on the result, and its evidence."""

    proto = UDP
    first_bytes: frozenset[int] = frozenset()

    def __init__(
        self,
        name: str,
        port: int,
        marker: bytes,
        parse: Callable[[bytes], Any],
        from_device: Callable[[Any], bool],
        to_evidence: Callable[[Any], list[Evidence]],
    ) -> None:
        self.name = name
        self.ports = frozenset({port})
        self.marker = marker
        self.parse = parse
        self.from_device = from_device
        self.to_evidence = to_evidence

    def accepts(self, head: bytes) -> bool:
        return True

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        data = bytes(payload)
        if not ctx.is_internal_packed(pkt.src) or (self.marker not in data and b"Hello" not in data):
            return
        try:
            result = self.parse(data)
        except MalformedInput:
            ctx.bad(self.name)
            return
        if self.from_device(result):
            ctx.attribution.add(ctx.text(pkt.src), self.to_evidence(result))
