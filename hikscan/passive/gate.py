"""Which payloads the inspectors would ignore, known before a Packet is made for them.

Most payload packets a flow hands to the inspectors reach no source: a UDP datagram on no source's port,
a TCP segment whose first byte starts no protocol a source reads, and no P2P signature possible on its
ports and first byte. `Inspector.on_payload` returns for those without touching anything, but the
compiled loop (`_fastloop`) must first make the Packet and call it: ~3 µs each, most of a camera
capture's payloads. The gate is the inspectors' own tables as bitmaps, so the compiled loop skips them.

A payload goes to the inspectors (`PayloadGate.wanted`) when any of these hold:
- its frame is broadcast or multicast, or an address prefix has been learnt local (the sender may be
  placed: `Inspector._place_sender`), or it is not TCP or UDP;
- `calls`: a source reads it whatever its length (a UDP source's port, either side; a TCP source's first
  byte);
- `scans`: it is at most `max_scan` bytes and a P2P signature is bound to either port, or one on any
  port starts with its first byte.

The pure-Python loop does not use the gate: it hands every payload over, so the differential test of
the two loops also proves that what the gate skips changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

TCP, UDP = 6, 17
PORT_BITS = 65536 // 8  # bytes of a bitmap of every port
BYTE_BITS = 256 // 8  # bytes of a bitmap of every first byte


def bitmap(values: Iterable[int], size: int) -> bytes:
    """Bit v of the result (byte v >> 3, bit v & 7) set for each value."""
    out = bytearray(size)
    for v in values:
        out[v >> 3] |= 1 << (v & 7)
    return bytes(out)


def _bit(bits: bytes, v: int) -> bool:
    return bool(bits[v >> 3] >> (v & 7) & 1)


@dataclass(frozen=True)
class Lane:
    """One transport's tables: ports and first bytes always handed over (`call_*`), and those handed over
    when the payload is at most max_scan bytes (`scan_*`)."""

    call_ports: bytes
    call_first: bytes
    scan_ports: bytes
    scan_first: bytes

    @classmethod
    def of(
        cls,
        call_ports: Iterable[int] = (),
        call_first: Iterable[int] = (),
        scan_ports: Iterable[int] = (),
        scan_first: Iterable[int] = (),
    ) -> Lane:
        ports, first = PORT_BITS, BYTE_BITS
        return cls(bitmap(call_ports, ports), bitmap(call_first, first), bitmap(scan_ports, ports),
                   bitmap(scan_first, first))  # fmt: skip


@dataclass(frozen=True)
class PayloadGate:
    tcp: Lane
    udp: Lane
    max_scan: int
    learnt: Set[object]  # the learnt local prefixes: the live set, not a copy (non-empty: all go in)

    def wanted(self, dst_mac: bytes | None, proto: int, sport: int, dport: int, payload: bytes) -> bool:
        """What the compiled loop decides, in Python (for tests): False when on_payload would ignore it."""
        if not dst_mac or dst_mac[0] & 1 or self.learnt or proto not in (TCP, UDP) or not payload:
            return True
        lane = self.tcp if proto == TCP else self.udp
        first = payload[0]
        if _bit(lane.call_ports, sport) or _bit(lane.call_ports, dport) or _bit(lane.call_first, first):
            return True
        if len(payload) > self.max_scan:
            return False
        return _bit(lane.scan_ports, sport) or _bit(lane.scan_ports, dport) or _bit(lane.scan_first, first)
