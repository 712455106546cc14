"""P2P NAT-traversal and vendor-cloud protocols recognised by their bytes (rules/signatures.yaml).

The byte markers are data (`Signature`: markers, ports, length field, trailer); this module only
decides which side of a datagram a signature speaks for and what evidence that gives. A signature is
tried against the destination port first (a device or app talking to a rendezvous server), then the
source port (a device answering from its own service port, e.g. miIO on 54321).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hikscan.knowledge.ruleset import Signature
from hikscan.report.model import Evidence

MAX_SCAN = 1500  # bytes of a payload the markers and length field may look at

# (proto, port) -> signatures bound to that port; (proto, None) -> signatures on any port, in rule order.
Index = dict[tuple[int, int | None], tuple[Signature, ...]]
_INDEXES: dict[int, tuple[Sequence[Signature], Index]] = {}


@dataclass(frozen=True, slots=True)
class P2pHit:
    signature: Signature
    role: str  # "client": sent to the signature's port; "server": sent from it

    @property
    def sender_is_device(self) -> bool:
        """True when the signature says the sender is the device itself (not an app or a server)."""
        return self.signature.device_side == self.role


def _index(signatures: Sequence[Signature]) -> Index:
    """Signatures by (transport, port), built once per rule set (the hot path tries few of them)."""
    cached = _INDEXES.get(id(signatures))
    if cached is not None and cached[0] is signatures:
        return cached[1]
    index: dict[tuple[int, int | None], list[Signature]] = {}
    for sig in signatures:
        if sig.status == "deprecated":
            continue
        for proto in (6, 17) if sig.proto is None else (sig.proto,):
            for port in sig.ports or (None,):
                index.setdefault((proto, port), []).append(sig)
    built = {key: tuple(sigs) for key, sigs in index.items()}
    if len(_INDEXES) > 16:
        _INDEXES.clear()
    _INDEXES[id(signatures)] = (signatures, built)
    return built


def _first(candidates: tuple[Signature, ...], proto: int, port: int, data: bytes) -> Signature | None:
    for sig in candidates:
        if sig.matches(proto, port, data):
            return sig
    return None


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
    if not payload or len(payload) > MAX_SCAN:
        return None
    index = _index(signatures)
    bound, free, back = index.get((proto, dport)), index.get((proto, None)), index.get((proto, sport))
    if not any_port:
        free = None
    if not bound and not free and not back:
        return None
    data = bytes(payload)
    sig = _first(bound or (), proto, dport, data) or _first(free or (), proto, dport, data)
    if sig is not None:
        return P2pHit(sig, "client")
    sig = _first(back or (), proto, sport, data)
    return P2pHit(sig, "server") if sig is not None else None


def evidence(hit: P2pHit, source: str = "capture") -> list[Evidence]:
    """`p2p.protocol` for the sender, when the signature marks it as the device; else nothing."""
    sig = hit.signature
    if not hit.sender_is_device or not sig.protocol:
        return []
    return [Evidence(source, "p2p.protocol", sig.protocol, raw=sig.id)]
