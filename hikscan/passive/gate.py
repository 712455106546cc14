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
- `scans`: it is at most `max_scan` bytes and a P2P signature on any port, or one bound to either of
  its ports, can start with its first byte (Matcher.possible).

The pure-Python loop does not use the gate: it hands every payload over, so the differential test of
the two loops also proves that what the gate skips changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from hikscan.passive.sources.base import TCP, UDP

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
    """One transport's tables: ports and first bytes always handed over (`call_*`); and, for payloads of
    at most max_scan bytes, the first bytes a signature on any port starts with (`scan_first`) and, per
    port a signature is bound to, those its signatures start with (`scan_rows`)."""

    call_ports: bytes
    call_first: bytes
    scan_first: bytes
    scan_rows: Mapping[int, bytes]

    @classmethod
    def of(
        cls,
        call_ports: Iterable[int] = (),
        call_first: Iterable[int] = (),
        scan_first: Iterable[int] = (),
        scan_rows: Mapping[int, Iterable[int]] | None = None,
    ) -> Lane:
        rows = {port: bitmap(first, BYTE_BITS) for port, first in (scan_rows or {}).items()}
        return cls(
            bitmap(call_ports, PORT_BITS), bitmap(call_first, BYTE_BITS), bitmap(scan_first, BYTE_BITS), rows
        )

    def scans(self, port: int, first: int) -> bool:
        row = self.scan_rows.get(port)
        return row is not None and _bit(row, first)


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
        return _bit(lane.scan_first, first) or lane.scans(sport, first) or lane.scans(dport, first)
