"""Handshake round trips per remote: the smallest SYN→SYN-ACK time of its first few TCP handshakes."""

from __future__ import annotations

import ipaddress

from hikscan.passive.flows import Flow

MAX_REMOTES = 100_000  # remotes with a round-trip sample
MAX_PARSED = 100_000  # remote texts parsed back to packed addresses
SAMPLES = 4  # handshakes measured per remote (the first ones); the smallest round trip is kept


class RoundTrips:
    """Bounded map remote (packed) → [smallest round trip in seconds, handshakes measured]."""

    def __init__(self) -> None:
        self.samples: dict[bytes, list[float]] = {}
        self._packed: dict[str, bytes | None] = {}  # remote text → packed (None: not an address)
        self._ms: dict[str, float | None] = {}  # remote text → ms() (emptied when a sample is taken)

    def sample(self, flow: Flow) -> None:
        """The flow's handshake, once (sync() and the close both fold; syn_at marks it taken)."""
        if flow.rtt >= 0 <= flow.syn_at:
            flow.syn_at = -1.0
            if self._ms:
                self._ms.clear()
            sample = self.samples.get(flow.server)
            if sample is None:
                if len(self.samples) < MAX_REMOTES:
                    self.samples[flow.server] = [flow.rtt, 1]
            elif sample[1] < SAMPLES:
                sample[0], sample[1] = min(sample[0], flow.rtt), sample[1] + 1

    def ms(self, ip: str) -> float | None:
        """The smallest round trip measured to ip, in milliseconds (once per remote while no sample
        comes: a report asks for each remote once per finding)."""
        ms = self._ms.get(ip, -1.0)
        if ms != -1.0:
            return ms
        ms = self._measure(ip)
        if len(self._ms) < MAX_PARSED:
            self._ms[ip] = ms
        return ms

    def _measure(self, ip: str) -> float | None:
        packed = self._packed.get(ip, b"")
        if packed == b"":  # not parsed yet: once per remote, not once per finding
            try:
                packed = ipaddress.ip_address(ip).packed
            except ValueError:
                packed = None
            if len(self._packed) < MAX_PARSED:
                self._packed[ip] = packed
        sample = self.samples.get(packed) if packed is not None else None
        return round(sample[0] * 1000, 2) if sample is not None else None
