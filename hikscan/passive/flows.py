"""A bounded, bidirectional flow table keyed by packed 5-tuples.

Both directions of a conversation are one Flow. The client is the first packet's sender, unless that
packet is a SYN/ACK (then it is the server), or it comes from a well-known port to an ephemeral one
(a reply seen before its request, e.g. a DNS answer at the start of a capture).

When the table is full the least-recently-seen flows (by capture time) are evicted to `on_evict`, in
batches of `evict_batch` (default max_flows/16) so that eviction costs O(1) per new flow amortised and
nothing per packet. `expire(now)` closes flows idle for longer than `idle_timeout` seconds of CAPTURE
time (`closed_timeout` once a TCP FIN or RST was seen); callers check it every 1024 records, and it scans
the table at most once per `sweep_every` capture seconds, so detectors see flows as they end in live
monitoring too. `flush()` evicts all flows at the end, in the order they were opened. Nothing is lost: the
caller folds what it is given.

Two cheap per-flow measurements feed the behaviour detectors:
- a timing sketch for UDP flows (`beats`; those the table's `sketch` predicate accepts): a client→server
  packet after at least BEAT_GAP s of client silence starts a "beat" (a keep-alive, a retry, a query);
  the first BEAT_LOG beats are logged as (time, client bytes so far), so per-beat sizes are the
  differences. A stream is one beat; a keep-alive every 20 s on one 5-tuple is one beat per datagram.
  Cost: one compare and one store per client UDP packet.
- the TCP handshake round trip (`rtt`): SYN→SYN-ACK, when the SYN was sent once (a retransmitted SYN
  would add its timeout to the figure). Set once per flow, from the first server packet.
"""

from __future__ import annotations

import bisect
import os
import struct
from array import array
from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import TYPE_CHECKING

from hikscan.passive.decode import PROTO_UDP, Packet

_PORT = struct.Struct("!H").pack
PROTO_BYTE = [bytes([i]) for i in range(256)]  # the key's last byte, by protocol number
_SYN, _ACK = 0x02, 0x10
_FIN_RST = 0x05
BEAT_GAP = 1.0  # seconds of client silence that start a new UDP beat
BEAT_LOG = 64  # beats logged per flow (the count goes on); 64 x 16 bytes at most
IDLE_TIMEOUT = 300.0  # capture seconds without a packet before a flow is closed (Zeek: TCP 5 min)
CLOSED_TIMEOUT = 30.0  # the same once a TCP FIN or RST was seen
SWEEP_EVERY = 30.0  # capture seconds between two scans for idle flows
# The engine's open flows at once: ~300 bytes each where the compiled module is built (FieldsFlow: the
# numbers C values), ~480 without (SlotFlow), more with a UDP beat log (tests/passive/test_flows.py
# measures both); the budget charges FLOW_BYTES either way, so ≤ ~38 MiB. A fuller table closes its
# longest-idle flows early (folded like any other), as Suricata does past its memcap.
ENGINE_FLOWS = 65_536
FLOW_BYTES = 600  # what the engine's memory budget charges an open flow (engine.STATE_MEMORY): at most
MIN_FLOWS = 4_096  # the fewest open flows a table with `room` holds, however full the budget
MAX_SHARED = 65_536  # addresses and MACs shared between flows (FlowTable._share_addresses)


class Flow:
    """One conversation. Addresses are packed bytes; MACs are 6 bytes or None.

    The methods only: a flow is a `FieldsFlow` (its numbers C values in the object, the compiled module's
    FlowFields) where hikscan.passive._fastloop was built, else a `SlotFlow` (a slot each). `FLOW_CLASS`
    is the one the flow table makes; both give the same results (tests/passive/test_fastloop.py)."""

    if not TYPE_CHECKING:
        __slots__ = ()
    key: bytes
    proto: int
    version: int
    vlans: tuple[int, ...]
    client: bytes
    client_port: int
    server: bytes
    server_port: int
    client_mac: bytes | None
    server_mac: bytes | None
    first_seen: float
    last_seen: float
    packets_c2s: int
    packets_s2c: int
    bytes_c2s: int
    bytes_s2c: int
    tcp_flags: int
    inspected: int
    folded_packets: int
    folded_bytes: int
    beat_log: array[float] | None
    sketched: bool
    c2s_last: float
    beat0: float
    beats: int
    syn_at: float
    rtt: float

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
        self.inspected = 0  # payload packets handed to the inspectors (see pyloop.INSPECT_PER_FLOW)
        self.folded_packets = self.folded_bytes = 0  # already counted into a contact (passive.contacts)
        # UDP timing sketch (see the module docstring); only UDP flows beat. A flow opened by its client
        # starts with its first beat here (no call on the hot path for the many one-beat flows).
        self.beat_log: array[float] | None = None
        self.sketched = pkt.proto == PROTO_UDP  # FlowTable's `sketch` predicate may turn it off
        if client_is_src and self.sketched:
            self.c2s_last = self.beat0 = pkt.ts
            self.beats = 1
        else:
            self.c2s_last = -_INF
            self.beats = 0
            self.beat0 = 0.0
        # TCP handshake: the client's SYN time (-1: not seen), and SYN→SYN-ACK seconds (-1: not measured)
        self.syn_at = pkt.ts if client_is_src and pkt.tcp_flags & (_SYN | _ACK) == _SYN else -1.0
        self.rtt = -1.0

    def beat(self, ts: float) -> None:
        """A new UDP beat at ts (called before the packet's bytes are counted)."""
        n = self.beats
        self.beats = n + 1
        if n == 0:
            self.beat0 = ts
        elif n < BEAT_LOG:
            log = self.beat_log
            if log is None:
                log = self.beat_log = array("d", (self.beat0, 0.0))
            log.append(ts)
            log.append(float(self.bytes_c2s))

    def beat_events(self) -> list[tuple[float, int]]:
        """(time, client bytes) per logged beat; the last size is only known when no beat went unlogged."""
        marks = self.beat_marks()
        return [(marks[i], int(marks[i + 1])) for i in range(0, len(marks), 2)]

    def beat_marks(self) -> list[float]:
        """`beat_events()` flat: time, client bytes, time, client bytes, … (what the beacon log keeps)."""
        if self.beats == 0:
            return []
        log = self.beat_log
        if log is None:
            return [self.beat0, float(self.bytes_c2s)]
        out = log.tolist()  # time, client bytes so far, … : each size is the next count less this one
        for i in range(1, len(out) - 2, 2):
            out[i] = out[i + 2] - out[i]
        if self.beats <= BEAT_LOG:
            out[-1] = self.bytes_c2s - out[-1]
        else:
            del out[-2:]
        return out

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


def pure_python() -> bool:
    """HIKSCAN_PURE_PYTHON=1: run as an install without the compiled module (read when asked: the loop is
    chosen per run, the flows' layout once, at import)."""
    return os.environ.get("HIKSCAN_PURE_PYTHON") == "1"


FIELDS = tuple(Flow.__annotations__)  # the fields, as Flow declares them (FlowFields in C has the same)


class SlotFlow(Flow):
    """A flow with one slot per field: the layout without the compiled module."""

    __slots__ = FIELDS


if TYPE_CHECKING:
    FLOW_CLASS: type[Flow] = SlotFlow
else:
    try:
        if pure_python():  # as an install without the module: the slot layout
            raise ImportError("HIKSCAN_PURE_PYTHON=1")
        from hikscan.passive._fastloop import FlowFields
    except ImportError:  # not built: see setup.py
        FLOW_CLASS = SlotFlow
    else:

        class FieldsFlow(Flow, FlowFields):
            """A flow whose numbers are C values in the object (the compiled module's FlowFields)."""

            __slots__ = ()

        FLOW_CLASS = FieldsFlow

_INF = float("inf")


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
        idle_timeout: float = IDLE_TIMEOUT,
        closed_timeout: float = CLOSED_TIMEOUT,
        sweep_every: float = SWEEP_EVERY,
        sketch: Callable[[Flow], bool] | None = None,
        flow_cls: type[Flow] | None = None,
        room: Callable[[], int] | None = None,
    ) -> None:
        if max_flows < 1:
            raise ValueError("max_flows must be at least 1")
        self.max_flows = self.most_flows = max_flows
        # Bytes the open flows may take now (the engine's budget less what its other tables hold), read at
        # every expire() call: max_flows is then what fits at FLOW_BYTES each (at least MIN_FLOWS)
        self.room = room
        self.on_evict = on_evict
        self.evict_batch = max(1, min(max_flows, evict_batch or max_flows // 16))
        self.evicted = 0
        self.expired = 0
        self.total_flows = 0
        self.idle_timeout = idle_timeout
        self.closed_timeout = min(closed_timeout, idle_timeout)
        self.sweep_every = sweep_every
        self._swept_at = -_INF
        # Which UDP flows keep the timing sketch (default all; the engine: local client, external server)
        self.sketch = sketch
        self.flow_cls = flow_cls or FLOW_CLASS  # the flows it makes (SlotFlow: the layout without C)
        self._flows: dict[bytes, Flow] = {}
        self._shared: dict[bytes, bytes] = {}  # see _share_addresses

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
            flow = self.flow_cls(key, pkt, _client_is_src(pkt))
            if flow.sketched and self.sketch is not None and not self.sketch(flow):
                flow.sketched, flow.beats = False, 0
            self._share_addresses(flow)
            self._flows[key] = flow
            self.total_flows += 1
        ts = pkt.ts
        if ts > flow.last_seen:
            flow.last_seen = ts
        elif ts < flow.first_seen:
            flow.first_seen = ts
        if src == flow.client and sport == flow.client_port:
            if flow.sketched:
                if ts - flow.c2s_last >= BEAT_GAP:
                    flow.beat(ts)
                flow.c2s_last = ts
            flow.packets_c2s += 1
            flow.bytes_c2s += pkt.wirelen
            if flow.client_mac is None:
                flow.client_mac = pkt.src_mac
        else:
            if pkt.tcp_flags & (_SYN | _ACK) == _SYN | _ACK:
                handshake_rtt(flow, ts)
            flow.packets_s2c += 1
            flow.bytes_s2c += pkt.wirelen
            if flow.server_mac is None:
                flow.server_mac = pkt.src_mac
        flow.tcp_flags |= pkt.tcp_flags
        return flow

    def _share_addresses(self, flow: Flow) -> None:
        """One bytes object per address and MAC seen, not one per flow: a few hosts and servers carry
        most flows, so this saves ~150 bytes per flow (the table is bounded; when full it starts over)."""
        shared = self._shared
        if len(shared) >= MAX_SHARED:
            shared.clear()
        flow.client = shared.setdefault(flow.client, flow.client)
        flow.server = shared.setdefault(flow.server, flow.server)
        if flow.client_mac is not None:
            flow.client_mac = shared.setdefault(flow.client_mac, flow.client_mac)
        if flow.server_mac is not None:
            flow.server_mac = shared.setdefault(flow.server_mac, flow.server_mac)

    def _evict_oldest(self) -> None:
        victims = self._least_recent(self.evict_batch)
        flows = self._flows
        for f in victims:
            del flows[f.key]
        self.evicted += len(victims)
        if self.on_evict is not None:
            for f in victims:
                self.on_evict(f)

    def _least_recent(self, k: int) -> list[Flow]:
        """The k flows seen least recently, oldest first (ties in table order): heapq.nsmallest's answer,
        found with one sort of bare floats and one pass instead of a key call per flow and heap step
        (at 64k flows, ~10 ms a batch instead of ~22)."""
        flows = self._flows.values()
        seen = [f.last_seen for f in flows]
        if k >= len(seen):
            return sorted(flows, key=attrgetter("last_seen"))
        seen.sort()
        cut = seen[k - 1]
        ties = k - bisect.bisect_left(seen, cut)  # flows at exactly `cut` to take, in table order
        victims = []
        for f in flows:
            t = f.last_seen
            if t < cut:
                victims.append(f)
            elif t == cut and ties:
                victims.append(f)
                ties -= 1
        victims.sort(key=attrgetter("last_seen"))
        return victims

    def expire(self, now: float) -> int:
        """Close the flows idle at capture time `now` (see the module docstring); returns how many. With
        `room`, first sets how many flows the table holds (a fuller table closes its oldest as flows come)."""
        if self.room is not None:
            self.max_flows = min(self.most_flows, max(MIN_FLOWS, self.room() // FLOW_BYTES))
        if now - self._swept_at < self.sweep_every:
            return 0
        self._swept_at = now
        idle, closed = now - self.idle_timeout, now - self.closed_timeout
        victims = [
            f
            for f in self._flows.values()
            if f.last_seen < idle or (f.last_seen < closed and f.tcp_flags & _FIN_RST and f.proto == 6)
        ]
        if not victims:
            return 0
        victims.sort(key=attrgetter("last_seen"))
        flows = self._flows
        for f in victims:
            del flows[f.key]
        self.evicted += len(victims)
        self.expired += len(victims)
        if self.on_evict is not None:
            for f in victims:
                self.on_evict(f)
        return len(victims)

    def flush(self) -> None:
        """Evict every flow to on_evict in the order they were opened (the table's) and empty the table. Each
        flow is freed as soon as it is folded: the flows lie in memory in about that order (exactly, when none
        was freed before), so their memory comes free a block at a time and serves what they are folded into.
        """
        flows = self._flows
        order = list(flows)  # keys only
        on_evict = self.on_evict
        for key in order:
            flow = flows.pop(key)
            if on_evict is not None:
                on_evict(flow)
        self._flows = {}


def handshake_rtt(flow: Flow, ts: float) -> None:
    """A SYN-ACK from the server at ts: the round trip, if the SYN was seen once and none was measured."""
    if flow.rtt < 0 <= flow.syn_at and flow.packets_c2s == 1 and ts >= flow.syn_at:
        flow.rtt = ts - flow.syn_at
