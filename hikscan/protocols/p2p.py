"""P2P NAT-traversal and vendor-cloud protocols recognised by their bytes (rules/signatures.yaml).

The byte markers are data (`Signature`: markers, ports, length field, trailer); this module only
decides which side of a datagram a signature speaks for and what evidence that gives. A signature is
tried against the destination port first (a device or app talking to a rendezvous server), then the
source port (a device answering from its own service port, e.g. miIO on 54321).

Most payloads on the passive path are media or TLS records that no signature can match, so the rule
set is compiled once (`Matcher`) into tables by transport, port and the payload's first byte (from
each signature's marker at offset 0, if it has one): a payload that selects no signature costs two
dict look-ups and three tuple indexings. `match_reference` is the plain loop over `Signature.matches`, the
definition the compiled tables must agree with (tests compare the two).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hikscan.knowledge.ruleset import Signature
from hikscan.report.model import Evidence

MAX_SCAN = 1500  # bytes of a payload the markers and length field may look at

# (proto, port) -> signatures bound to that port; (proto, None) -> signatures on any port, in rule order.
Index = dict[tuple[int, int | None], tuple[Signature, ...]]
Check = Callable[[bytes, int], bool]
# Compiled candidates: (signature, its byte check) in rule order.
Candidates = tuple[tuple[Signature, Check], ...]
Row = tuple[Candidates, ...]  # indexed by the payload's first byte
_EMPTY_ROW: Row = ((),) * 256
_NO_PORTS: dict[int, Row] = {}
_MATCHERS: dict[int, tuple[Sequence[Signature], Matcher]] = {}


@dataclass(frozen=True, slots=True)
class P2pHit:
    signature: Signature
    role: str  # "client": sent to the signature's port; "server": sent from it

    @property
    def sender_is_device(self) -> bool:
        """True when the signature says the sender is the device itself (not an app or a server)."""
        return self.signature.device_side == self.role


def index(signatures: Sequence[Signature]) -> Index:
    """Signatures by (transport, port), deprecated ones left out, in rule order."""
    out: dict[tuple[int, int | None], list[Signature]] = {}
    for sig in signatures:
        if sig.status == "deprecated":
            continue
        for proto in (6, 17) if sig.proto is None else (sig.proto,):
            for port in sig.ports or (None,):
                out.setdefault((proto, port), []).append(sig)
    return {key: tuple(sigs) for key, sigs in out.items()}


def compile_check(sig: Signature) -> Check:
    """`Signature.matches` without the transport and port tests (the tables select by those): the
    length, markers, trailer and length field, as one closure over the rule's own values."""
    markers = tuple((o, b) for o, b in sig.markers if b)  # an empty marker always matched
    need = max([sig.min_length, *(o + len(b) for o, b in markers)])
    trailer, length_at = sig.trailer, sig.length_at

    def check(data: bytes, n: int) -> bool:
        if n < need:
            return False
        for offset, marker in markers:
            if not data.startswith(marker, offset):
                return False
        if trailer and not data.endswith(trailer):
            return False
        if length_at is not None:
            offset, size, adjust = length_at
            if int.from_bytes(data[offset : offset + size], "big") + adjust != n:
                return False
        return True

    return check


def _first_byte(sig: Signature) -> int | None:
    """The byte a payload must start with for sig to match, or None when it has no marker at offset 0."""
    return next((b[0] for o, b in sig.markers if o == 0 and b), None)


class Matcher:
    """A rule set's signatures compiled for the hot path. For each transport: `free`, a row of 256
    (one per first byte) of the port-less candidates; `bound`, port -> such a row of the candidates
    bound to that port. A candidate is (signature, check), in rule order. Built from the rule data alone."""

    __slots__ = ("bound", "free", "signatures")

    def __init__(self, signatures: Sequence[Signature]) -> None:
        self.signatures = signatures
        self.bound: dict[int, dict[int, Row]] = {6: {}, 17: {}}
        self.free: dict[int, Row] = {6: _EMPTY_ROW, 17: _EMPTY_ROW}
        for (proto, port), sigs in index(signatures).items():
            compiled = [(sig, compile_check(sig), _first_byte(sig)) for sig in sigs]
            row = tuple(
                tuple((s, c) for s, c, first in compiled if first is None or first == byte)
                for byte in range(256)
            )
            if port is None:
                self.free[proto] = row
            else:
                self.bound.setdefault(proto, {})[port] = row

    def possible(self, proto: int, sport: int, dport: int, payload: bytes | memoryview) -> bool:
        """False when no signature can match this payload on these ports (the cheap test first)."""
        if not payload or len(payload) > MAX_SCAN:
            return False
        first, ports = payload[0], self.bound.get(proto, _NO_PORTS)
        free, to, back = self.free.get(proto, _EMPTY_ROW), ports.get(dport), ports.get(sport)
        return bool(free[first] or (to and to[first]) or (back and back[first]))

    def match(
        self, proto: int, sport: int, dport: int, payload: bytes | memoryview, any_port: bool = True
    ) -> P2pHit | None:
        """As `match_reference`, from the compiled tables."""
        n = len(payload)
        if not n or n > MAX_SCAN:
            return None
        first, ports = payload[0], self.bound.get(proto, _NO_PORTS)
        to, back = ports.get(dport), ports.get(sport)
        bound = to[first] if to else ()
        free = self.free.get(proto, _EMPTY_ROW)[first] if any_port else ()
        server = back[first] if back else ()
        if not bound and not free and not server:
            return None
        data = bytes(payload)
        for sig, check in (*bound, *free):
            if check(data, n):
                return P2pHit(sig, "client")
        for sig, check in server:
            if check(data, n):
                return P2pHit(sig, "server")
        return None


def matcher(signatures: Sequence[Signature]) -> Matcher:
    """The compiled Matcher of a rule set's signatures, built once per signatures tuple."""
    cached = _MATCHERS.get(id(signatures))
    if cached is not None and cached[0] is signatures:
        return cached[1]
    built = Matcher(signatures)
    if len(_MATCHERS) > 16:
        _MATCHERS.clear()
    _MATCHERS[id(signatures)] = (signatures, built)
    return built


def match(
    signatures: Sequence[Signature],
    proto: int,
    sport: int,
    dport: int,
    payload: bytes | memoryview,
    any_port: bool = True,
) -> P2pHit | None:
    """The first signature matching the payload by its destination port (port-bound signatures first,
    then, with any_port, those for any port), else a port-bound one by its source port."""
    return matcher(signatures).match(proto, sport, dport, payload, any_port)


def match_reference(
    signatures: Sequence[Signature],
    proto: int,
    sport: int,
    dport: int,
    payload: bytes | memoryview,
    any_port: bool = True,
) -> P2pHit | None:
    """`match` by its definition: every candidate signature tried with `Signature.matches` (slow)."""
    if not payload or len(payload) > MAX_SCAN:
        return None
    idx = index(signatures)
    bound, free, back = idx.get((proto, dport), ()), idx.get((proto, None), ()), idx.get((proto, sport), ())
    data = bytes(payload)
    for sig in (*bound, *(free if any_port else ())):
        if sig.matches(proto, dport, data):
            return P2pHit(sig, "client")
    for sig in back:
        if sig.matches(proto, sport, data):
            return P2pHit(sig, "server")
    return None


def evidence(hit: P2pHit, source: str = "capture") -> list[Evidence]:
    """`p2p.protocol` for the sender, when the signature marks it as the device; else nothing."""
    sig = hit.signature
    if not hit.sender_is_device or not sig.protocol:
        return []
    return [Evidence(source, "p2p.protocol", sig.protocol, raw=sig.id)]
