"""A bounded, bidirectional flow table keyed by packed 5-tuples.

Both directions of a conversation are one Flow. The client is the first packet's sender, unless that
packet is a SYN/ACK (then it is the server), or it comes from a well-known port to an ephemeral one
(a reply seen before its request, e.g. a DNS answer at the start of a capture).

When the table is full the least-recently-seen flows (by capture time) are evicted to `on_evict`, in
batches of `evict_batch` (default max_flows/64) so that eviction costs O(1) per new flow amortised and
nothing per packet. `flush()` evicts all flows at the end. Nothing is lost: the caller folds what it
is given.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Iterator
from operator import attrgetter

from hikscan.passive.decode import Packet

_PORT = struct.Struct("!H").pack
PROTO_BYTE = [bytes([i]) for i in range(256)]  # the key's last byte, by protocol number
_SYN, _ACK = 0x02, 0x10


class Flow:
    """One conversation. Addresses are packed bytes; MACs are 6 bytes or None."""

    __slots__ = (
        "bytes_c2s",
        "bytes_s2c",
        "client",
        "client_mac",
        "client_port",
        "first_seen",
        "folded_bytes",
        "folded_packets",
        "inspected",
        "key",
        "last_seen",
        "packets_c2s",
        "packets_s2c",
        "proto",
        "server",
        "server_mac",
        "server_port",
        "tcp_flags",
        "version",
        "vlans",
    )

    def __init__(self, key: bytes, pkt: Packet, client_is_src: bool) -> None:
        self.key = key
        self.proto = pkt.proto
        self.version = pkt.version
        self.vlans = pkt.vlans
        if client_is_src:
            self.client, self.client_port, self.server, self.server_port = (
                pkt.src,
                pkt.sport,
                pkt.dst,
                pkt.dport,
            )
            self.client_mac, self.server_mac = pkt.src_mac, pkt.dst_mac
        else:
            self.client, self.client_port, self.server, self.server_port = (
                pkt.dst,
                pkt.dport,
                pkt.src,
                pkt.sport,
            )
            self.client_mac, self.server_mac = pkt.dst_mac, pkt.src_mac
        self.first_seen = self.last_seen = pkt.ts
        self.packets_c2s = self.packets_s2c = self.bytes_c2s = self.bytes_s2c = 0
        self.tcp_flags = 0
        self.inspected = 0  # payload packets handed to the inspectors (see pipeline.INSPECT_PER_FLOW)
        self.folded_packets = self.folded_bytes = 0  # already counted into a contact (passive.contacts)

    @property
    def packets(self) -> int:
        return self.packets_c2s + self.packets_s2c

    @property
    def bytes(self) -> int:
        return self.bytes_c2s + self.bytes_s2c

    def __repr__(self) -> str:
        from hikscan.passive.decode import ip_text

        return (
            f"Flow({ip_text(self.client)}:{self.client_port} <-> {ip_text(self.server)}:{self.server_port} "
            f"proto={self.proto} packets={self.packets_c2s}/{self.packets_s2c} "
            f"bytes={self.bytes_c2s}/{self.bytes_s2c})"
        )


def flow_key(src: bytes, sport: int, dst: bytes, dport: int, proto: int) -> bytes:
    """The same packed key for both directions: the lower (addr, port) end first, then the protocol."""
    a = src + _PORT(sport)
    b = dst + _PORT(dport)
    return (a + b if a <= b else b + a) + PROTO_BYTE[proto]


def _client_is_src(pkt: Packet) -> bool:
    flags = pkt.tcp_flags
    if flags & (_SYN | _ACK) == _SYN | _ACK:
        return False
    if flags & _SYN:
        return True
    return not (pkt.sport < 1024 <= pkt.dport)


class FlowTable:
    """Bounded flow table: `add(pkt)` per packet, `flush()` at the end."""

    def __init__(
        self,
        max_flows: int = 200_000,
        on_evict: Callable[[Flow], object] | None = None,
        evict_batch: int | None = None,
    ) -> None:
        if max_flows < 1:
            raise ValueError("max_flows must be at least 1")
        self.max_flows = max_flows
        self.on_evict = on_evict
        self.evict_batch = max(1, min(max_flows, evict_batch or max_flows // 64))
        self.evicted = 0
        self.total_flows = 0
        self._flows: dict[bytes, Flow] = {}

    def __len__(self) -> int:
        return len(self._flows)

    def __iter__(self) -> Iterator[Flow]:
        return iter(self._flows.values())

    @property
    def by_key(self) -> dict[bytes, Flow]:
        """The live flow_key → Flow map, for lookups only (the pipeline's inline fast path)."""
        return self._flows

    def get(self, src: bytes, sport: int, dst: bytes, dport: int, proto: int) -> Flow | None:
        return self._flows.get(flow_key(src, sport, dst, dport, proto))

    def add(self, pkt: Packet) -> Flow:
        """Count one packet into its flow (created if new); returns the flow."""
        src, sport, dst, dport = pkt.src, pkt.sport, pkt.dst, pkt.dport
        a = src + _PORT(sport)
        b = dst + _PORT(dport)
        key = (a + b if a <= b else b + a) + PROTO_BYTE[pkt.proto]
        flow = self._flows.get(key)
        if flow is None:
            if len(self._flows) >= self.max_flows:
                self._evict_oldest()
            flow = Flow(key, pkt, _client_is_src(pkt))
            self._flows[key] = flow
            self.total_flows += 1
        ts = pkt.ts
        if ts > flow.last_seen:
            flow.last_seen = ts
        elif ts < flow.first_seen:
            flow.first_seen = ts
        if src == flow.client and sport == flow.client_port:
            flow.packets_c2s += 1
            flow.bytes_c2s += pkt.wirelen
            if flow.client_mac is None:
                flow.client_mac = pkt.src_mac
        else:
            flow.packets_s2c += 1
            flow.bytes_s2c += pkt.wirelen
            if flow.server_mac is None:
                flow.server_mac = pkt.src_mac
        flow.tcp_flags |= pkt.tcp_flags
        return flow

    def _evict_oldest(self) -> None:
        victims = heapq.nsmallest(self.evict_batch, self._flows.values(), key=attrgetter("last_seen"))
        flows = self._flows
        for f in victims:
            del flows[f.key]
        self.evicted += len(victims)
        if self.on_evict is not None:
            for f in victims:
                self.on_evict(f)

    def flush(self) -> None:
        """Evict every flow to on_evict (oldest first) and empty the table."""
        flows = sorted(self._flows.values(), key=attrgetter("last_seen"))
        self._flows = {}
        if self.on_evict is not None:
            for f in flows:
                self.on_evict(f)
