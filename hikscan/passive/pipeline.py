"""The passive hot loop: read captures → decode headers → flow table → on_payload for packets with data.

`python -m hikscan.passive.loopbench FILE…` times this loop alone (decode + flows, no inspection).

Classic pcap files of Ethernet frames go through the record loop in C (hikscan/passive/_fastloop.c)
when it was built at install time, unless HIKSCAN_PURE_PYTHON=1 (which, set at start, also gives the flows
the layout without the module: flows.FLOW_CLASS); else through _pcap_ethernet_loop below. Both give the
same results (tests/passive/test_fastloop.py); Stats.loop says which one ran.
"""

from __future__ import annotations

import importlib
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from hikscan.capture import LINKTYPE_ETHERNET, MAX_CAPLEN, PcapReader, open_capture
from hikscan.capture.inputs import expand_paths, input_size
from hikscan.capture.pcapng import MAX_PACKET_BLOCK, PcapngReader
from hikscan.passive.decode import MAX_VLANS, VLAN_TPIDS, Decoder, Packet
from hikscan.passive.flows import (
    BEAT_GAP,
    BEAT_LOG,
    MAX_SHARED,
    PROTO_BYTE,
    Flow,
    FlowTable,
    handshake_rtt,
    pure_python,
)
from hikscan.passive.gate import PayloadGate

_PORTS = struct.Struct("!HH").unpack_from
PROGRESS_EVERY = 0.25  # seconds
# Names, banners, announcements and cloud signatures sit at the start of a flow (ClientHello, HTTP
# request, first response, P2P hello): like nDPI, only the first payload packets of each flow go to
# the inspectors. DNS is the exception, since a resolver may carry many answers on one 5-tuple.
INSPECT_PER_FLOW = 8
ALWAYS_INSPECT = frozenset({53, 5353})


def _load_fastloop() -> Any:
    try:
        return importlib.import_module("hikscan.passive._fastloop")
    except ImportError:  # not built (no C compiler at install time): the Python loop
        return None


_fastloop = _load_fastloop()


def hot_loop() -> str:
    """Which loop reads classic pcap Ethernet files now: "c" or "python" (HIKSCAN_PURE_PYTHON=1)."""
    return "c" if _fastloop is not None and not pure_python() else "python"


@dataclass
class FileStats:
    path: str
    format: str
    packets: int = 0
    bytes: int = 0
    truncated: bool = False
    linktypes: list[int] = field(default_factory=list)
    loop: str = "generic"  # which loop read it: "c", "python" (the fast loops) or "generic" (any format)


@dataclass
class Stats:
    """Counts over all files. `bytes` is the sum of on-the-wire lengths."""

    packets: int = 0
    bytes: int = 0
    ip_packets: int = 0
    malformed: int = 0
    fragments: int = 0
    non_ip: int = 0
    payload_packets: int = 0
    truncated_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[FileStats] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    loop: str = "python"  # the loop selected for classic pcap Ethernet files: "c" or "python" (hot_loop)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def run(
    paths: Iterable[str | os.PathLike[str]],
    on_payload: Callable[[Packet], object] | None,
    flows: FlowTable,
    progress: Callable[[int, int], object] | None = None,
    decoder: Decoder | None = None,
    fast: bool = True,
    stop: threading.Event | None = None,
    gate: PayloadGate | None = None,
) -> Stats:
    """Stream every capture through decode and the flow table.

    on_payload(pkt) is called for each packet with a non-empty L4 payload that is not a later fragment.
    progress(bytes_read, total_bytes) is called at most every PROGRESS_EVERY seconds, and once at the end.
    A file that is not a capture raises MalformedInput (naming it); a truncated one is read to its cut.
    The caller flushes `flows` when it wants the remaining flows. Every 1024 records the flows idle at
    that record's capture time are closed (FlowTable.expire), as Engine.feed does for live traffic.
    When `stop` is set (a signal handler does it) reading ends within ~1024 packets, the counts so far
    are kept and `stats.interrupted` is True: what was read is still analysed and reported.
    `gate`: the payloads on_payload ignores (passive.gate), skipped by the compiled loop.
    """
    files = expand_paths(paths)
    total = sum(input_size(p) for p in files)
    dec = decoder or Decoder()
    stats = Stats(loop=hot_loop())
    ethernet_loop = _pcap_ethernet_loop_c if stats.loop == "c" else _pcap_ethernet_loop
    started = time.monotonic()
    done_bytes = 0
    last_report = started
    for path in files:
        with open_capture(path) as reader:
            fs = FileStats(str(path), reader.format)

            def tick(pos: int, base: int = done_bytes) -> bool:
                """Report progress now and then; True when the run must stop."""
                nonlocal last_report
                if progress is not None:
                    now = time.monotonic()
                    if now - last_report >= PROGRESS_EVERY:
                        last_report = now
                        progress(base + pos, total)
                return stop is not None and stop.is_set()

            if fast and isinstance(reader, PcapReader) and reader.linktype == LINKTYPE_ETHERNET:
                n, wire, ip, with_payload = ethernet_loop(reader, dec, flows, on_payload, tick, gate)
                fs.loop = stats.loop
            elif fast and isinstance(reader, PcapngReader) and stats.loop == "c":
                n, wire, ip, with_payload = _pcapng_loop_c(reader, dec, flows, on_payload, tick, gate)
                fs.loop = stats.loop
            else:
                n, wire, ip, with_payload = _generic_loop(reader, dec, flows, on_payload, tick)
            fs.packets, fs.bytes, fs.truncated = n, wire, reader.truncated
            fs.linktypes = sorted(getattr(reader, "linktypes", ()))
            stats.files.append(fs)
            stats.packets += n
            stats.bytes += wire
            stats.ip_packets += ip
            stats.payload_packets += with_payload
            stats.warnings.extend(reader.warnings)
            if reader.truncated:
                stats.truncated_files.append(str(path))
            done_bytes += reader.size
        if stop is not None and stop.is_set():
            stats.interrupted = True
            break
    stats.malformed, stats.fragments, stats.non_ip = dec.malformed, dec.fragments, dec.non_ip
    stats.seconds = round(time.monotonic() - started, 3)
    if progress is not None:
        progress(total, total)
    return stats


def should_inspect(flow: Flow, sport: int, dport: int) -> bool:
    """The one rule for which payloads the inspectors see (the fast loop below inlines it)."""
    return flow.inspected < INSPECT_PER_FLOW or sport in ALWAYS_INSPECT or dport in ALWAYS_INSPECT


def _hand_over(pkt: Packet, flow: Flow, on_payload: Callable[[Packet], object] | None) -> int:
    """Give pkt to on_payload if it carries data the inspectors should see; 1 if it was given."""
    if (
        pkt.payload
        and pkt.frag != 2
        and on_payload is not None
        and should_inspect(flow, pkt.sport, pkt.dport)
    ):
        flow.inspected += 1
        on_payload(pkt)
        return 1
    return 0


def _generic_loop(
    reader: object,
    dec: Decoder,
    flows: FlowTable,
    on_payload: Callable[[Packet], object] | None,
    tick: Callable[[int], bool],
) -> tuple[int, int, int, int]:
    """Any capture, any link type: Records → Decoder → flows. Returns (records, wire bytes, IP, payload)."""
    n = wire = ip = with_payload = 0
    decode = dec.decode_frame
    add = flows.add
    for rec in reader:  # type: ignore[attr-defined]
        n += 1
        wire += rec.wirelen
        pkt = decode(rec.ts, rec.linktype, rec.data, rec.wirelen)
        if pkt is not None:
            ip += 1
            with_payload += _hand_over(pkt, add(pkt), on_payload)
        if not n & 0x3FF:
            flows.expire(rec.ts)
            if tick(reader.position):  # type: ignore[attr-defined]
                break
    return n, wire, ip, with_payload


def _pcap_ethernet_loop(
    reader: PcapReader,
    dec: Decoder,
    flows: FlowTable,
    on_payload: Callable[[Packet], object] | None,
    tick: Callable[[int], bool],
    gate: PayloadGate | None = None,
) -> tuple[int, int, int, int]:
    """Classic pcap + Ethernet: records unpacked by offset from the reader's chunk, and Ethernet (with
    up to MAX_VLANS VLAN tags: a trunk port's SPAN) → IPv4 (no options, not a fragment) → TCP/UDP
    decoded inline. Everything else (IPv6, options, fragments, odd lengths, ARP) goes through
    Decoder.decode_frame, which also counts malformed packets. Framing and truncation rules are the
    same as PcapReader.__iter__.

    For speed, an inline-decoded packet of a flow already in the table is counted straight from the
    buffer (FlowTable.add's updates), found by its direction's addresses and ports as they sit in the
    buffer; a Packet object is built only when the packet starts a flow or has a payload for
    on_payload. `gate` is not used here (see _pcap_ethernet_loop_c).
    """
    hdr = struct.Struct(reader.endian + "IIII").unpack_from
    ports = _PORTS
    ts_div = reader.ts_div
    decode = dec.decode_frame
    add = flows.add
    known = flows.by_key.get
    proto_byte = PROTO_BYTE
    beat_gap = BEAT_GAP
    # Per direction of each flow seen inline (bounded by the table: cleared whenever it evicts).
    tcp_dirs: dict[bytes, tuple[Flow, int]] = {}
    udp_dirs: dict[bytes, tuple[Flow, int]] = {}
    evicted = flows.evicted
    n = wire = ip = with_payload = 0
    if not reader._header_ok:
        return n, wire, ip, with_payload
    snaplen = reader.snaplen or MAX_CAPLEN
    warned_snap = warned_orig = False
    while True:
        buf = reader._buf
        pos = reader._pos
        end = len(buf)
        while pos + 16 <= end:
            sec, frac, caplen, wirelen = hdr(buf, pos)
            s = pos + 16
            nxt = s + caplen
            if nxt > end or caplen > MAX_CAPLEN:
                break
            if caplen > wirelen:
                if not warned_orig:  # the same warnings as PcapReader.__iter__, once per file
                    warned_orig = True
                    at = reader._base + pos
                    reader._warn(f"record at offset {at} has caplen {caplen} > origlen {wirelen}")
                wirelen = caplen
            if caplen > snaplen and not warned_snap:
                warned_snap = True
                reader._warn(f"record at offset {reader._base + pos} has caplen {caplen} > snaplen {snaplen}")
            n += 1
            wire += wirelen
            # Ethernet (VLAN tags allowed) + IPv4 (IHL 5, not a fragment) + TCP/UDP: data = payload
            # start, else -1. ipo + 40 <= nxt (caplen >= 54 untagged): every header byte read is inside.
            data = -1
            ipo = s + 14
            etype = buf[s + 12] << 8 | buf[s + 13] if caplen >= 54 else 0
            vlans: tuple[int, ...] = ()
            while etype in VLAN_TPIDS and len(vlans) < MAX_VLANS and ipo + 4 <= nxt:  # else decode_frame's
                vlans = (*vlans, (buf[ipo] << 8 | buf[ipo + 1]) & 0x0FFF)
                etype = buf[ipo + 2] << 8 | buf[ipo + 3]
                ipo += 4
            if (
                etype == 0x0800
                and ipo + 40 <= nxt
                and buf[ipo] == 0x45
                and not (buf[ipo + 6] & 0x3F or buf[ipo + 7])
            ):
                proto = buf[ipo + 9]
                stop = ipo + ((buf[ipo + 2] << 8) | buf[ipo + 3])
                if stop > nxt:
                    stop = nxt
                l4 = ipo + 20
                if proto == 6 and l4 + 20 <= stop:
                    doff = (buf[l4 + 12] >> 4) * 4
                    if doff >= 20 and l4 + doff <= stop:
                        data = l4 + doff
                        flags = buf[l4 + 13] | ((buf[l4 + 12] & 1) << 8)
                        dirs = tcp_dirs
                elif proto == 17 and l4 + 8 <= stop:
                    ulen = (buf[l4 + 4] << 8) | buf[l4 + 5]
                    if ulen >= 8 and l4 + ulen < stop:
                        stop = l4 + ulen
                    data = l4 + 8
                    flags = 0
                    dirs = udp_dirs
            if data < 0:
                pkt = decode(sec + frac / ts_div, LINKTYPE_ETHERNET, buf[s:nxt], wirelen)
                if pkt is not None:
                    ip += 1
                    with_payload += _hand_over(pkt, add(pkt), on_payload)
                    if flows.evicted != evicted:  # the direction caches may name evicted flows
                        evicted = flows.evicted
                        tcp_dirs.clear()
                        udp_dirs.clear()
            else:
                ip += 1
                ts = sec + frac / ts_div
                # This direction's src+dst+sport+dport, as on the wire → (flow, sent by its client).
                key = buf[ipo + 12 : ipo + 20] + buf[l4 : l4 + 4]
                hit = dirs.get(key)
                pkt = None
                if hit is None:  # the first packet of this direction in this file: the canonical key
                    src = buf[ipo + 12 : ipo + 16]
                    a = src + buf[l4 : l4 + 2]  # as flow_key builds it
                    b = buf[ipo + 16 : ipo + 20] + buf[l4 + 2 : l4 + 4]
                    flow = known((a + b if a <= b else b + a) + proto_byte[proto])
                    sport, dport = ports(buf, l4)
                    if flow is None:
                        pkt = Packet(
                            ts, buf[s + 6 : s + 12], buf[s : s + 6], vlans, 4, src, buf[ipo + 16 : ipo + 20],
                            proto, sport, dport, flags, wirelen, buf[data:stop], 0,
                        )  # fmt: skip
                        flow = add(pkt)  # counts pkt
                        if flows.evicted != evicted:
                            evicted = flows.evicted
                            tcp_dirs.clear()
                            udp_dirs.clear()
                    # 0: from the server; 1: from the client; 2: from the client of a sketched UDP flow
                    c2s = (
                        (2 if flow.sketched else 1) if sport == flow.client_port and src == flow.client else 0
                    )
                    dirs[key] = (flow, c2s)
                else:
                    flow, c2s = hit
                if pkt is None:  # FlowTable.add's updates, inline
                    if not c2s and flags & 0x12 == 0x12:  # a SYN-ACK: the handshake RTT
                        handshake_rtt(flow, ts)
                    if ts > flow.last_seen:
                        flow.last_seen = ts
                    elif ts < flow.first_seen:
                        flow.first_seen = ts
                    if c2s:
                        if c2s == 2:  # the UDP timing sketch (FlowTable.add's)
                            if ts - flow.c2s_last >= beat_gap:
                                flow.beat(ts)
                            flow.c2s_last = ts
                        flow.packets_c2s += 1
                        flow.bytes_c2s += wirelen
                        if flow.client_mac is None:
                            flow.client_mac = buf[s + 6 : s + 12]
                    else:
                        flow.packets_s2c += 1
                        flow.bytes_s2c += wirelen
                        if flow.server_mac is None:
                            flow.server_mac = buf[s + 6 : s + 12]
                    flow.tcp_flags |= flags
                if (
                    data < stop
                    and on_payload is not None
                    and (flow.inspected < INSPECT_PER_FLOW or not ALWAYS_INSPECT.isdisjoint(ports(buf, l4)))
                ):
                    if pkt is None:
                        sport, dport = ports(buf, l4)
                        pkt = Packet(
                            ts, buf[s + 6 : s + 12], buf[s : s + 6], vlans, 4, buf[ipo + 12 : ipo + 16],
                            buf[ipo + 16 : ipo + 20], proto, sport, dport, flags, wirelen, buf[data:stop], 0,
                        )  # fmt: skip
                    flow.inspected += 1
                    with_payload += 1
                    on_payload(pkt)
            pos = nxt
            if not n & 0x3FF:
                reader._pos = pos
                if flows.expire(sec + frac / ts_div):  # idle flows closed: the caches may name them
                    evicted = flows.evicted
                    tcp_dirs.clear()
                    udp_dirs.clear()
                if tick(reader.position):
                    reader.records = n
                    return n, wire, ip, with_payload
        reader._pos = pos
        if not reader.next_record_in_buffer():
            break
    reader.records = n
    return n, wire, ip, with_payload


def _pcap_ethernet_loop_c(
    reader: PcapReader,
    dec: Decoder,
    flows: FlowTable,
    on_payload: Callable[[Packet], object] | None,
    tick: Callable[[int], bool],
    gate: PayloadGate | None = None,
) -> tuple[int, int, int, int]:
    """_pcap_ethernet_loop with its record loop (`while pos + 16 <= end`) in C; the refills, cuts and
    corrupt lengths are handled here as there. The same results, to the warning. Only this loop uses
    `gate`: the Python loop hands every payload over, so the differential test proves the gate."""
    if not reader._header_ok:
        return 0, 0, 0, 0
    loop = _fastloop.Loop(
        reader, dec, flows, on_payload, tick, _hand_over, Packet, flows.flow_cls, handshake_rtt,
        reader.ts_div, reader.snaplen or MAX_CAPLEN, MAX_CAPLEN, reader.endian == ">", INSPECT_PER_FLOW,
        ALWAYS_INSPECT, BEAT_GAP, gate=gate, beat_log=BEAT_LOG, open_flows=type(flows) is FlowTable,
        max_shared=MAX_SHARED,
    )  # fmt: skip
    while True:
        reader._pos, stopped = loop.run(reader._buf, reader._pos)
        if stopped or not reader.next_record_in_buffer():
            break
    reader.records = loop.n
    counts: tuple[int, int, int, int] = loop.counts()
    return counts


def _pcapng_loop_c(
    reader: PcapngReader,
    dec: Decoder,
    flows: FlowTable,
    on_payload: Callable[[Packet], object] | None,
    tick: Callable[[int], bool],
    gate: PayloadGate | None = None,
) -> tuple[int, int, int, int]:
    """pcapng through the C loop: the reader walks the blocks and hands the loop each run of Enhanced
    Packet Blocks of Ethernet interfaces (PcapngReader.fast_reader); the records it yields itself (other
    link types, or a block it has something to warn about) are read here as the generic loop reads
    them, and counted by the loop, so records are counted, flows closed and progress ticked in one order.
    The results are the generic loop's (tests/passive/test_fastloop.py)."""
    loop = _fastloop.Loop(
        reader, dec, flows, on_payload, tick, _hand_over, Packet, flows.flow_cls, handshake_rtt,
        1e6, MAX_CAPLEN, MAX_PACKET_BLOCK, reader.endian == ">", INSPECT_PER_FLOW, ALWAYS_INSPECT, BEAT_GAP,
        gate=gate, beat_log=BEAT_LOG, open_flows=type(flows) is FlowTable, max_shared=MAX_SHARED, pcapng=True,
    )  # fmt: skip
    # The section and how many of its interfaces the loop was told of; whether one of them is Ethernet.
    # Only new interfaces are sent: a section may declare 65,536 between its packets.
    told = [-1, 0, False]

    def fast_reader(buf: bytes, pos: int) -> tuple[int, bool]:
        if reader.sections != told[0] or reader.interface_count != told[1]:
            if reader.sections != told[0]:
                told[:] = reader.sections, 0, False
            new = [(lt == LINKTYPE_ETHERNET, div, off) for lt, div, off in reader.interfaces_from(told[1])]
            loop.interfaces(reader.endian == ">", new, told[1])
            told[1:] = reader.interface_count, told[2] or any(t[0] for t in new)
        if not told[2]:
            return pos, False
        before = loop.n
        pos, stopped = loop.run(buf, pos)
        reader.records += loop.n - before
        return pos, bool(stopped)

    decode, add, counted = dec.decode_frame, flows.add, loop.counted
    reader.fast_reader = fast_reader
    try:
        for rec in reader:
            pkt = decode(rec.ts, rec.linktype, rec.data, rec.wirelen)
            given = 0 if pkt is None else _hand_over(pkt, add(pkt), on_payload)
            if counted(rec.wirelen, pkt is not None, given, rec.ts, reader._pos):
                break
    finally:
        reader.fast_reader = None
    counts: tuple[int, int, int, int] = loop.counts()
    return counts
