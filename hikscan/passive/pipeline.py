"""The passive hot loop: read captures → decode headers → flow table → on_payload for packets with data.

`python -m hikscan.passive.loopbench FILE…` times this loop alone (decode + flows, no inspection).

Classic pcap files of Ethernet frames go through the record loop in C (hikscan/passive/_fastloop.c)
when it was built at install time, unless HIKSCAN_PURE_PYTHON=1 (which, set at start, also gives the flows
the layout without the module: flows.FLOW_CLASS); else through pyloop.pcap_ethernet_loop. pcapng files go
through the C loop too (their Ethernet packet blocks), else through the generic loop. All give the
generic loop's results (tests/passive/test_fastloop.py); Stats.loop and each file's loop say which ran.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from hikscan.capture import LINKTYPE_ETHERNET, MAX_CAPLEN, PcapReader, open_capture
from hikscan.capture.base import (
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    LINKTYPE_RAW_BSD,
    LINKTYPE_RAW_OPENBSD,
)
from hikscan.capture.inputs import expand_paths, input_size
from hikscan.capture.pcapng import MAX_PACKET_BLOCK, PcapngReader
from hikscan.passive.decode import Decoder, Packet
from hikscan.passive.flows import (
    BEAT_GAP,
    BEAT_LOG,
    MAX_SHARED,
    FlowTable,
    handshake_rtt,
    pure_python,
)
from hikscan.passive.gate import PayloadGate
from hikscan.passive.pyloop import ALWAYS_INSPECT, INSPECT_PER_FLOW
from hikscan.passive.pyloop import hand_over as _hand_over
from hikscan.passive.pyloop import pcap_ethernet_loop as _pcap_ethernet_loop

PROGRESS_EVERY = 0.25  # seconds
# The link types whose records the compiled loop reads itself (_fastloop.c's link_of; the Python loop reads
# Ethernet only): Ethernet, Linux cooked captures (`tcpdump -i any`: SLL, SLL2) and raw IP.
C_LINKTYPES = (
    LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW, LINKTYPE_RAW_BSD, LINKTYPE_RAW_OPENBSD, LINKTYPE_IPV4, LINKTYPE_IPV6,
)  # fmt: skip


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
    ethernet_loop = _pcap_loop_c if stats.loop == "c" else _pcap_ethernet_loop
    inline_links = C_LINKTYPES if stats.loop == "c" else (LINKTYPE_ETHERNET,)
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

            if fast and isinstance(reader, PcapReader) and reader.linktype in inline_links:
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


def _c_loop(
    reader: PcapReader | PcapngReader,
    dec: Decoder,
    flows: FlowTable,
    on_payload: Callable[[Packet], object] | None,
    tick: Callable[[int], bool],
    gate: PayloadGate | None,
    ts_div: float,
    snaplen: int,
    most: int,
    pcapng: bool = False,
    linktype: int = LINKTYPE_ETHERNET,
) -> Any:
    """The compiled loop over one file: records of at most `most` bytes (a pcap record, a pcapng block);
    `linktype`: a classic pcap's (pcapng gives each interface's through Loop.interfaces)."""
    return _fastloop.Loop(
        reader, dec, flows, on_payload, tick, _hand_over, Packet, flows.flow_cls, handshake_rtt,
        ts_div, snaplen, most, reader.endian == ">", INSPECT_PER_FLOW, ALWAYS_INSPECT, BEAT_GAP,
        gate=gate, beat_log=BEAT_LOG, open_flows=type(flows) is FlowTable, max_shared=MAX_SHARED,
        pcapng=pcapng, linktype=linktype,
    )  # fmt: skip


def _pcap_loop_c(
    reader: PcapReader,
    dec: Decoder,
    flows: FlowTable,
    on_payload: Callable[[Packet], object] | None,
    tick: Callable[[int], bool],
    gate: PayloadGate | None = None,
) -> tuple[int, int, int, int]:
    """pyloop.pcap_ethernet_loop with its record loop (`while pos + 16 <= end`) in C, for any of
    C_LINKTYPES (the Python loop reads Ethernet only); the refills, cuts and corrupt lengths are handled
    here as there. The same results, to the warning. Only the C loops use `gate`: the Python loop hands
    every payload over, so the differential test proves the gate."""
    if not reader._header_ok:
        return 0, 0, 0, 0
    loop = _c_loop(
        reader, dec, flows, on_payload, tick, gate, reader.ts_div, reader.snaplen or MAX_CAPLEN, MAX_CAPLEN,
        linktype=reader.linktype,
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
    Packet Blocks of interfaces of C_LINKTYPES (PcapngReader.fast_reader); the records it yields itself (other
    link types, or a block it has something to warn about) are read here as the generic loop reads
    them, and counted by the loop, so records are counted, flows closed and progress ticked in one order.
    The results are the generic loop's (tests/passive/test_fastloop.py)."""
    # ts_div and snaplen are per interface in pcapng (Loop.interfaces); the length bound is the block's.
    loop = _c_loop(reader, dec, flows, on_payload, tick, gate, 1e6, MAX_CAPLEN, MAX_PACKET_BLOCK, pcapng=True)
    # The section and how many of its interfaces the loop was told of. Only new interfaces are sent: a
    # section may declare 65,536 between its packets.
    told = [-1, 0]

    def fast_reader(buf: bytes, pos: int) -> tuple[int, bool]:
        if reader.sections != told[0] or reader.interface_count != told[1]:
            if reader.sections != told[0]:  # a new section: its byte order, and none of the old interfaces
                told[:] = reader.sections, 0
            new = reader.interfaces_from(told[1])
            loop.interfaces(reader.endian == ">", new, told[1])
            told[1] = reader.interface_count
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
