"""P2P NAT-traversal and vendor-cloud protocols recognised by their bytes (rules/signatures.yaml).

The byte markers are data (`Signature`: markers, ports, length field, trailer); this module only
decides which side of a datagram a signature speaks for and what evidence that gives. A signature is
tried against the destination port first (a device or app talking to a rendezvous server), then the
source port (a device answering from its own service port, e.g. miIO on 54321).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hikscan.knowledge.ruleset import Signature
from hikscan.report.model import Evidence

MAX_SCAN = 1500  # bytes of a payload the markers and length field may look at

SignatureFor = Callable[[int, int, bytes], Signature | None]


@dataclass(frozen=True, slots=True)
class P2pHit:
    signature: Signature
    role: str  # "client": sent to the signature's port; "server": sent from it

    @property
    def sender_is_device(self) -> bool:
        """True when the signature says the sender is the device itself (not an app or a server)."""
        return self.signature.device_side == self.role


def match(signature_for: SignatureFor, proto: int, sport: int, dport: int, payload: bytes) -> P2pHit | None:
    """The first signature matching the payload by its destination port, else by its source port."""
    data = payload[:MAX_SCAN] if len(payload) <= MAX_SCAN else b""
    if not data:
        return None
    sig = signature_for(proto, dport, data)
    if sig is not None:
        return P2pHit(sig, "client")
    sig = signature_for(proto, sport, data)
    if sig is not None and sig.ports:
        return P2pHit(sig, "server")
    return None


def evidence(hit: P2pHit, source: str = "capture") -> list[Evidence]:
    """`p2p.protocol` for the sender, when the signature marks it as the device; else nothing."""
    sig = hit.signature
    if not hit.sender_is_device or not sig.protocol:
        return []
    return [Evidence(source, "p2p.protocol", sig.protocol, raw=sig.id)]
