"""The C record loop (hikscan/passive/_fastloop.c) against the Python one: the same results on every capture.

Each capture goes through pipeline.run twice, with the C loop and with HIKSCAN_PURE_PYTHON=1, and
everything observable must be equal: Stats (warnings included), every Packet given to on_payload (all
its fields, in order), every Flow closed (all its slots, in order, interleaved with the packets), and the
table's and decoder's counters. Captures: the scenario captures and real third-party ones in pcaps/, the
malformed and hostile corpora, benchmark captures written by scripts/make_bench_pcap.py, and pcaps that
Hypothesis writes with hikscan.lab.capwrite (valid and invalid records, VLANs, fragments, IPv6, TCP
options, lying lengths, cut files) or mutates from the real ones.

HIKSCAN_FASTLOOP_SO=path loads the module from that file instead (`make fuzz-c`: a build with
AddressSanitizer and UBSan). Skipped when the extension is not built.
"""

from __future__ import annotations

import functools
import gc
import importlib.machinery
import importlib.util
import os
import struct
import tempfile
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import samples
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from script_module import load_script

from hikscan.capture import MAX_CAPLEN
from hikscan.errors import MalformedInput
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import load_rules
from hikscan.lab import capwrite
from hikscan.passive import loopbench, pipeline
from hikscan.passive.decode import Decoder, Packet
from hikscan.passive.engine import Engine
from hikscan.passive.flows import ENGINE_FLOWS, FIELDS, FLOW_BYTES, FLOW_CLASS, Flow, FlowTable, SlotFlow
from hikscan.passive.gate import PayloadGate

ROOT = Path(__file__).resolve().parents[2]


def _module() -> ModuleType | None:
    so = os.environ.get("HIKSCAN_FASTLOOP_SO")
    if not so:
        return pipeline._fastloop  # type: ignore[no-any-return]
    loader = importlib.machinery.ExtensionFileLoader("hikscan.passive._fastloop", so)
    spec = importlib.util.spec_from_file_location("hikscan.passive._fastloop", so, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


FASTLOOP = _module()
pytestmark = pytest.mark.skipif(
    FASTLOOP is None, reason="hikscan.passive._fastloop is not built (no C compiler at install time)"
)
FUZZ = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PACKET_FIELDS = Packet.__slots__
FLOW_FIELDS = FIELDS
DIRECT: list[int] = []  # each C loop's `direct` (fields by offset: 1), the latest last
EMPTIED: list[int] = []  # with `cache_slots`: times each C loop emptied its full direction cache
# The C layout of the module under test (`make fuzz-c`: the sanitizer build's FlowFields, not the one
# flows.py imported), and the slot layout: every comparison runs both.
# HIKSCAN_PURE_PYTHON=1 when the tests start: flows.py gave the slot layout (as without the module), so the
# C layout is made here as flows.py would make it.
PURE_AT_START = os.environ.get("HIKSCAN_PURE_PYTHON") == "1"
FIELDS_FLOW: type[Flow] = (
    FLOW_CLASS
    if FASTLOOP is None or not (os.environ.get("HIKSCAN_FASTLOOP_SO") or PURE_AT_START)
    else type("FieldsFlow", (Flow, FASTLOOP.FlowFields), {"__slots__": ()})
)


def _captures() -> list[Path]:
    found = [
        *(ROOT / "pcaps").glob("*.pcap*"),
        *(ROOT / "pcaps" / "real").iterdir(),
        *(ROOT / "tests" / "corpus").glob("*.pcap*"),
        *(ROOT / "tests" / "corpus" / "hostile").rglob("*.pcap*"),
    ]
    return sorted(found)


def _value(v: Any) -> Any:
    """A field as a comparable value that keeps its type (bytes vs bytearray, float vs int)."""
    if hasattr(v, "tolist"):  # the beat log (array)
        return ("array", v.typecode, v.tolist())
    return (type(v).__name__, v)


@contextmanager
def _loop(kind: str, direct: bool = True, cache_slots: int | None = None) -> Iterator[None]:
    """Select the C loop (`direct=False`: Flow fields by getattr/setattr; `cache_slots`: its direction
    cache's size) or the Python one."""
    saved = os.environ.get("HIKSCAN_PURE_PYTHON"), pipeline._fastloop, pipeline._pcap_ethernet_loop
    os.environ["HIKSCAN_PURE_PYTHON"] = "1" if kind == "python" else "0"
    if kind == "c":
        assert FASTLOOP is not None
        loop_cls = FASTLOOP.Loop

        def make(*args: object, **kw: object) -> Any:
            if cache_slots is None:
                loop = loop_cls(*args, direct=direct, **kw)
            else:
                loop = _Emptied(loop_cls(*args, direct=direct, cache_slots=cache_slots, **kw))
            DIRECT.append(loop.direct)  # not the loop: its cache holds flows
            return loop

        pipeline._fastloop = SimpleNamespace(Loop=make)

        def not_here(*_: object) -> object:
            raise AssertionError("the Python loop ran where the C loop was selected")

        pipeline._pcap_ethernet_loop = not_here  # type: ignore[assignment]
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("HIKSCAN_PURE_PYTHON", None)
        else:
            os.environ["HIKSCAN_PURE_PYTHON"] = saved[0]
        pipeline._fastloop, pipeline._pcap_ethernet_loop = saved[1], saved[2]  # type: ignore[assignment]


class _Emptied:
    """A C loop that records how often it emptied its direction cache when its counts are read (last)."""

    def __init__(self, loop: Any) -> None:
        self.loop, self.direct = loop, loop.direct

    def run(self, buf: bytes, pos: int) -> Any:
        return self.loop.run(buf, pos)

    @property
    def n(self) -> int:
        return int(self.loop.n)

    def counts(self) -> Any:
        EMPTIED.append(self.loop.cache_emptied)
        return self.loop.counts()


def observe(
    paths: list[Path],
    kind: str,
    *,
    table: Callable[[Callable[[Flow], object]], FlowTable] | None = None,
    direct: bool = True,
    stop_after: int | None = None,
    payloads: bool = True,
    flow_cls: type[Flow] | None = None,
    cache_slots: int | None = None,
    gate: PayloadGate | None = None,
    fast: bool = True,
) -> dict[str, Any]:
    """Everything one run shows: packets and closed flows in order, stats, table and decoder counters.
    `flow_cls`: the flows' layout (default the table's: C values where the module is built). `fast=False`:
    every file through the generic loop (Records → Decoder → FlowTable.add)."""
    events: list[tuple[str, tuple[Any, ...]]] = []

    def on_payload(pkt: Packet) -> None:
        events.append(("packet", tuple(_value(getattr(pkt, f)) for f in PACKET_FIELDS)))

    def on_evict(flow: Flow) -> None:
        events.append(("flow", tuple(_value(getattr(flow, f)) for f in FLOW_FIELDS)))

    flows = table(on_evict) if table else FlowTable(on_evict=on_evict)
    if flow_cls is not None:
        flows.flow_cls = flow_cls
    dec = Decoder()
    stop = threading.Event()
    ticks = [0]

    def progress(_done: int, _total: int) -> None:
        ticks[0] += 1
        if stop_after is not None and ticks[0] >= stop_after:
            stop.set()

    saved_every = pipeline.PROGRESS_EVERY
    pipeline.PROGRESS_EVERY = 0.0  # every tick reports: the stop lands at a record count, not a time
    try:
        with _loop(kind, direct, cache_slots):
            try:
                stats = pipeline.run(
                    paths, on_payload if payloads else None, flows, progress, dec, fast, stop=stop, gate=gate
                ).to_dict()
            except MalformedInput as exc:
                return {"error": str(exc), "events": events}
    finally:
        pipeline.PROGRESS_EVERY = saved_every
    flows.flush()
    assert stats.pop("loop") == kind
    stats.pop("seconds")
    for file in stats["files"]:  # which loop read each file: the fast one (this run's kind) or the generic
        assert file.pop("loop") in (kind, "generic")
    counters = (flows.evicted, flows.expired, flows.total_flows, len(flows), dec.malformed, dec.fragments)
    return {"stats": stats, "events": events, "counters": counters, "ticks": ticks[0]}


def same(paths: list[Path], **kw: Any) -> dict[str, Any]:
    """Run both loops, each with both flow layouts (C values, a slot each); assert all four agree; return
    the C loop's observation with the default layout."""
    c = observe(paths, "c", flow_cls=FIELDS_FLOW, **kw)
    for kind in ("python", "c"):
        for layout in (FIELDS_FLOW, SlotFlow) if kind == "python" else (SlotFlow,):
            other = observe(paths, kind, flow_cls=layout, **kw)
            assert c.keys() == other.keys()
            for key in c:
                assert c[key] == other[key], f"{key} differs on {[p.name for p in paths]} ({kind}, {layout})"
    return c


def _small_table(max_flows: int, **kw: Any) -> Callable[[Callable[[Flow], object]], FlowTable]:
    return lambda on_evict: FlowTable(
        max_flows=max_flows, on_evict=on_evict, sketch=loopbench.local_to_global(), **kw
    )


# -- the bundled captures ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_every_bundled_capture_same_both_ways(path: Path) -> None:
    same([path])
    same([path], table=_small_table(3, evict_batch=2))


def test_the_fast_loops_give_what_the_generic_loop_gives() -> None:
    """Every bundled, real and corpus capture: the fast loops (the C loop as `same` checks it against the
    Python one) give the generic loop's packets, flows, counters and stats, record for record."""
    for path in _captures():
        fast = observe([path], "python")
        generic = observe([path], "python", fast=False)
        assert fast == generic, path.name


@pytest.mark.parametrize("layout", [FIELDS_FLOW, SlotFlow], ids=lambda c: c.__name__)
def test_the_c_loop_reads_and_writes_either_flow_layout_in_place(layout: type[Flow]) -> None:
    """Both layouts are taken by offset (C values, or slots), not through getattr: the differential
    tests above then compare the in-place code paths, not only the generic one."""
    got = observe([ROOT / "pcaps" / "beacon_camera.pcap"], "c", flow_cls=layout)
    assert got["counters"][2] > 0 and DIRECT[-1] == 1
    if FASTLOOP is not None and not os.environ.get("HIKSCAN_FASTLOOP_SO") and not PURE_AT_START:
        assert FLOW_CLASS.__mro__[2] is FASTLOOP.FlowFields  # the module built here gives the C layout
    members = {n for n, v in vars(FASTLOOP.FlowFields).items() if type(v).__name__ == "member_descriptor"}
    assert members == set(FIELDS)  # the C layout has exactly the fields Flow declares


def test_bundled_captures_in_one_run_small_tables_and_getattr_mode() -> None:
    pcaps = [p for p in _captures() if p.suffix == ".pcap" and "hostile" not in p.parts]
    paths = [p for p in pcaps if "error" not in observe([p], "python")]  # not_a_capture.pcap stops a run
    big = same(paths)
    assert big["stats"]["packets"] > 10_000 and big["stats"]["payload_packets"] > 1_000
    for max_flows in (1, 7, 64):
        got = same(
            paths, table=_small_table(max_flows, idle_timeout=5.0, closed_timeout=1.0, sweep_every=1.0)
        )
        assert got["counters"][0] > 100  # evictions happened
    same(paths, direct=False, table=_small_table(16))
    same(paths, payloads=False)


@pytest.fixture(scope="module")
def bench_captures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    make = load_script("make_bench_pcap")
    out = []
    for profile in ("lan", "many-findings", "many-hosts"):  # many-hosts: its first 8,000 hosts' HTTP and FIN
        path = tmp_path_factory.mktemp("bench") / f"{profile}.pcap"
        make.write_capture(path, 40_000, seed=3, profile=profile)
        out.append(path)
    return out


def test_benchmark_captures_same_with_eviction_and_expiry(bench_captures: list[Path]) -> None:
    """37 µs between packets: timeouts of milliseconds make the 1024-record sweeps close flows."""
    for path in bench_captures:
        plain = same([path], table=_small_table(200_000))
        assert plain["stats"]["ip_packets"] == 40_000 and plain["stats"]["payload_packets"] > 1_000
        tight = same(
            [path], table=_small_table(5000, idle_timeout=0.01, closed_timeout=0.005, sweep_every=0.01)
        )
        assert tight["counters"][1] > 100  # expired by the sweeps


def test_the_c_loop_makes_new_flows_itself_while_the_table_has_room(bench_captures: list[Path]) -> None:
    """FlowTable.add is called for no inline record while the table has room (open_flow makes the flow in
    C: the differential tests above compare what it makes), and is called again once the table is full
    (it evicts first)."""
    calls = [0]

    def counted(max_flows: int) -> Callable[[Callable[[Flow], object]], FlowTable]:
        def make(on_evict: Callable[[Flow], object]) -> FlowTable:
            table = FlowTable(max_flows=max_flows, on_evict=on_evict, sketch=loopbench.local_to_global())
            add = table.add

            def counting(pkt: Packet) -> Flow:
                calls[0] += 1
                return add(pkt)

            table.add = counting  # type: ignore[method-assign]
            return table

        return make

    for path in bench_captures:
        calls[0] = 0
        roomy = observe([path], "c", table=counted(200_000), flow_cls=FIELDS_FLOW)
        assert roomy["counters"][2] > 1_000 and calls[0] == 0
        full = observe([path], "c", table=counted(64), flow_cls=FIELDS_FLOW)
        assert full["counters"][0] > 100 and calls[0] > 100  # evictions: the table's own add made those flows


@pytest.mark.parametrize("slots", [2, 64])
def test_a_full_direction_cache_is_emptied_and_the_flows_found_again(
    bench_captures: list[Path], slots: int
) -> None:
    """The C loop's direction cache stops growing at `cache_slots` (262,144 by default: 6 MiB) and is
    emptied when full; the flows it named are found by key again, with the same results."""
    EMPTIED.clear()
    for path in bench_captures:
        same([path], table=_small_table(200_000), cache_slots=slots)
        same([path], table=_small_table(500), cache_slots=slots)
    assert len(EMPTIED) == 4 * len(bench_captures) and min(EMPTIED) > 10  # x 2 tables x 2 layouts: all often


def test_the_direction_cache_size_is_a_power_of_two_up_to_its_default() -> None:
    assert FASTLOOP is not None
    args = (None,) * 9 + (1.0, 0, 0, False, 8, None, None)
    for slots in (0, 1, 3, 100, 2**19):
        with pytest.raises(ValueError, match="cache_slots"):
            FASTLOOP.Loop(*args, cache_slots=slots)


def _ungated_events(full: list[tuple[str, Any]], gated: list[tuple[str, Any]]) -> list[tuple[Any, ...]]:
    """The packet events of `full` missing from `gated`, where `gated` must be `full` with only packet
    events left out (in order: a subsequence)."""
    withheld = []
    j = 0
    for kind, values in full:
        if j < len(gated) and gated[j] == (kind, values):
            j += 1
        else:
            assert kind == "packet", "the gate changed a closed flow or the order of events"
            withheld.append(values)
    assert j == len(gated), "the gated run gave something the full run did not"
    return withheld


@functools.cache
def _gate() -> PayloadGate:
    """The inspectors' gate (passive.gate) from the bundled rules."""
    gate = Engine(load_rules(), GeoLookup(), OuiTable.load()).inspector.gate()
    assert gate is not None
    return gate


def gated_same(paths: list[Path], full: dict[str, Any], gate: PayloadGate, **kw: Any) -> int:
    """Run the C loop with `gate` and compare it with `full`, the Python loop's observation of the same run:
    the same flows, stats and counters, and the packets a subsequence of full's, each one left out one
    `gate.wanted` refuses. Returns how many were left out."""
    gated = observe(paths, "c", gate=gate, **kw)
    assert gated.keys() == full.keys()
    assert all(gated[k] == full[k] for k in full if k != "events")
    index = {f: i for i, f in enumerate(PACKET_FIELDS)}
    left_out = _ungated_events(full["events"], gated["events"])
    for packet in left_out:
        v = {f: packet[i][1] for f, i in index.items()}
        assert not gate.wanted(v["dst_mac"], v["proto"], v["sport"], v["dport"], v["payload"])
    return len(left_out)


def test_the_gate_withholds_only_payloads_no_inspector_reads(bench_captures: list[Path]) -> None:
    """With the inspectors' gate the C loop gives on_payload a subsequence of what the Python loop gives;
    each packet left out is one `PayloadGate.wanted` says no to, and everything else (flows, stats,
    counters) is the same. With a learnt prefix nothing is left out (the sender may be placed). Whether a
    left-out payload would have changed the report is tests/passive/test_gate.py's question."""
    paths = [p for p in _captures() if p.suffix == ".pcap" and "hostile" not in p.parts] + bench_captures
    learnt = replace(_gate(), learnt={b"\xc0\xa8\x01"})
    left_out = 0
    for path in paths:
        full = observe([path], "python")
        left_out += gated_same([path], full, _gate())
        assert gated_same([path], full, learnt) == 0
    assert left_out > 10_000  # most of the bench captures' payloads: the gate is used


def test_stop_lands_on_the_same_record(bench_captures: list[Path], tmp_path: Path) -> None:
    got = same(bench_captures, stop_after=3)
    assert got["stats"]["interrupted"] and got["stats"]["packets"] == 3 * 1024
    ng = tmp_path / "lan.pcapng"
    _as_pcapng(bench_captures[0], ng, 6)
    got = same([ng], stop_after=3)
    assert got["stats"]["interrupted"] and got["stats"]["packets"] == 3 * 1024


def _ip4_frame(src: bytes, dst: bytes, proto: int, l4: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, src, dst)
    return MACS[0] + MACS[1] + b"\x08\x00" + ip + l4


def _pcap_records(path: Path) -> tuple[bytes, struct.Struct, Iterator[tuple[int, int, int, int, bytes]]]:
    """A classic pcap's file header, its record header's layout and its records: (seconds, fraction,
    caplen, wirelen, frame)."""
    data = path.read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    record = struct.Struct(endian + "IIII")

    def records() -> Iterator[tuple[int, int, int, int, bytes]]:
        pos = 24
        while pos + 16 <= len(data):
            sec, frac, caplen, wirelen = record.unpack_from(data, pos)
            yield sec, frac, caplen, wirelen, data[pos + 16 : pos + 16 + caplen]
            pos += 16 + caplen

    return data[:24], record, records()


def _rewritten(
    path: Path, out: Path, frame_of: Callable[[bytes], bytes], linktype: int | None = None
) -> None:
    """A copy of a classic pcap with each record's frame rewritten by `frame_of` (its lengths to match),
    and the file's link type set to `linktype` if given. Each record stays a record."""
    header, record, records = _pcap_records(path)
    if linktype is not None:
        header = header[:20] + struct.pack(record.format[0] + "I", linktype)
    parts = [header]
    for sec, frac, caplen, wirelen, frame in records:
        data = frame_of(frame)
        parts.append(record.pack(sec, frac, len(data), max(0, wirelen + len(data) - caplen)) + data)
    out.write_bytes(b"".join(parts))


def _tagged(path: Path, out: Path, tags: bytes) -> None:
    """A copy of a classic pcap Ethernet capture with `tags` (802.1Q/802.1ad headers) after each frame's
    MAC addresses: the same traffic as a trunk port's SPAN shows it."""
    _rewritten(path, out, lambda frame: frame[:12] + tags + frame[12:] if len(frame) >= 14 else frame)


BYTE_COUNTS = ("wirelen", "bytes_c2s", "bytes_s2c", "folded_bytes")  # a longer or shorter header changes them


def _rows(events: list[tuple[str, tuple[Any, ...]]], left_out: tuple[str, ...]) -> list[Any]:
    """Events as (kind, {field: value}) without the fields `left_out`, and a beat log's (time, bytes so
    far) pairs as its times."""
    out = []
    for kind, fields in events:
        row = dict(zip(PACKET_FIELDS if kind == "packet" else FLOW_FIELDS, fields, strict=True))
        for name in left_out:
            row.pop(name, None)
        if row.get("beat_log", (None,))[0] == "array":
            row["beat_log"] = row["beat_log"][2][::2]
        out.append((kind, row))
    return out


def _untagged(events: list[tuple[str, tuple[Any, ...]]], tags: tuple[int, ...]) -> list[Any]:
    """Events with each packet's and flow's outer VLAN IDs checked to be `tags` and taken out, and the byte
    counts (which the tags lengthen: wire lengths, flow totals, the beat log's) left out."""
    rows = _rows(events, BYTE_COUNTS)
    for _kind, row in rows:
        kind_of, vlans = row["vlans"]
        assert kind_of == "tuple" and vlans[: len(tags)] == tags  # the outer tags: the copy's
        row["vlans"] = vlans[len(tags) :]
    return rows


def _ethernet_reals() -> list[Path]:
    """The committed real captures that are classic pcap of Ethernet frames."""
    reals = [
        p for p in sorted((ROOT / "pcaps" / "real").glob("*.pcap")) if p.read_bytes()[20:24] == b"\x01\0\0\0"
    ]
    assert len(reals) >= 10
    return reals


def _c_loop_decoding(path: Path) -> tuple[dict[str, Any], int]:
    """The C loop's observation of one capture, and how many records it handed to Decoder.decode_frame."""
    calls = 0
    real_decode = Decoder.decode_frame

    def counting(self: Decoder, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        return real_decode(self, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Decoder, "decode_frame", counting)
        seen = observe([path], "c")
    return seen, calls


@pytest.mark.parametrize(
    "tags, ids",
    [(b"\x81\x00\x00\x0a", (10,)), (b"\x88\xa8\x20\x64\x81\x00\xe0\x0a", (100, 10))],
    ids=["802.1Q", "QinQ"],
)
def test_tagged_frames_are_read_inline_with_their_vlans(
    tmp_path: Path, tags: bytes, ids: tuple[int, ...]
) -> None:
    """A trunk port's SPAN (every frame of the real captures with one or two VLAN tags) is read by the
    inline path of both loops, as the untagged frames are: Decoder.decode_frame sees no more frames than
    untagged, every Packet and Flow carries the tags' VLAN IDs, and otherwise nothing changes."""
    for path in _ethernet_reals():
        tagged = tmp_path / path.name
        _tagged(path, tagged, tags)
        plain_run = same([path])
        _, plain_calls = _c_loop_decoding(path)
        _, tagged_calls = _c_loop_decoding(tagged)
        tagged_run = same([tagged])
        assert tagged_calls == plain_calls, path.name
        assert _untagged(tagged_run["events"], ids) == _untagged(plain_run["events"], ())
        assert tagged_run["counters"] == plain_run["counters"]


def test_beats_and_handshakes_same(tmp_path: Path) -> None:
    """UDP keep-alives every 2 s (a beat each) and TCP handshakes, one with its SYN-ACK sent twice and
    one whose first SYN-ACK is timed before the SYN. Every loop looks at every SYN-ACK, as
    FlowTable.add does: the second handshake is measured on its second SYN-ACK (0.2 s)."""
    cam, cloud, lan = bytes([192, 168, 1, 20]), bytes([47, 88, 1, 10]), bytes([192, 168, 1, 30])
    keepalive = _ip4_frame(cam, cloud, 17, struct.pack("!HHHH", 40001, 6800, 12, 0) + b"ping")
    syn = _ip4_frame(cam, cloud, 6, struct.pack("!HHIIBBHHH", 40002, 443, 1, 0, 0x50, 0x02, 512, 0, 0))
    synack = _ip4_frame(cloud, cam, 6, struct.pack("!HHIIBBHHH", 443, 40002, 9, 2, 0x50, 0x12, 512, 0, 0))
    syn2 = _ip4_frame(lan, cloud, 6, struct.pack("!HHIIBBHHH", 40003, 443, 1, 0, 0x50, 0x02, 512, 0, 0))
    synack2 = _ip4_frame(cloud, lan, 6, struct.pack("!HHIIBBHHH", 443, 40003, 9, 2, 0x50, 0x12, 512, 0, 0))
    t0 = 1_700_000_000.0
    records = [(t0 + 2 * i, keepalive) for i in range(100)]
    records += [(t0 + 0.5, syn), (t0 + 0.6, synack), (t0 + 0.7, synack)]
    records += [(t0 + 1.0, syn2), (t0 + 0.9, synack2), (t0 + 1.2, synack2)]
    path = tmp_path / "beats.pcap"
    path.write_bytes(
        capwrite.pcap_header()
        + b"".join(capwrite.pcap_record(int(t), round(t % 1 * 1e6), f) for t, f in records)
    )
    got = same([path], table=_small_table(100))
    assert got == observe([path], "python", table=_small_table(100), fast=False)
    flows = [dict(zip(FLOW_FIELDS, fields, strict=True)) for kind, fields in got["events"] if kind == "flow"]
    assert sorted(f["beats"][1] for f in flows) == [0, 0, 100]
    assert [f["beat_log"][0] for f in flows].count("array") == 1
    assert sorted(round(f["rtt"][1], 3) for f in flows) == [-1.0, 0.1, 0.2]


def test_open_flows_read_by_the_c_loop_cost_what_the_budget_charges(tmp_path: Path) -> None:
    """The direction cache grows with the open flows (up to CACHE_MAX, four slots a flow of the engine's
    table): with it, the flow, its by_key entry and its addresses, an open flow still costs less than the
    FLOW_BYTES the engine's budget charges. 40,000 flows of 200 hosts to 300 servers, both directions,
    then every flow again (the cache's hits); peak traced memory over the run (the cache is freed at its
    end), per flow."""
    import random

    rng = random.Random(2)
    hosts = [bytes((192, 168, 0, i)) for i in range(1, 201)]
    servers = [bytes((47, 88, rng.randrange(256), rng.randrange(256))) for _ in range(300)]
    pairs = [(rng.choice(hosts), rng.choice(servers), rng.randrange(32768, 61000)) for _ in range(40_000)]
    records, t = [], 1.7e9
    for _round in range(2):
        for host, server, port in pairs:
            out = struct.pack("!HHIIBBHHH", port, 443, 1, 0, 0x50, 0x10, 512, 0, 0)
            back = struct.pack("!HHIIBBHHH", 443, port, 9, 2, 0x50, 0x10, 512, 0, 0)
            records += [(t, _ip4_frame(host, server, 6, out)), (t + 0.001, _ip4_frame(server, host, 6, back))]
            t += 0.002
    path = tmp_path / "open.pcap"
    path.write_bytes(
        capwrite.pcap_header()
        + b"".join(capwrite.pcap_record(int(t), round(t % 1 * 1e6), f) for t, f in records)
    )
    del records
    table = FlowTable(max_flows=ENGINE_FLOWS, flow_cls=FIELDS_FLOW)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with _loop("c"):
            stats = pipeline.run([path], None, table)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert stats.packets == 160_000 and len(table) == len(set(pairs)) > 39_000
    per_flow = peak / len(table)
    print(f"{per_flow:.0f} bytes a flow at the peak")
    assert per_flow < FLOW_BYTES, per_flow


# -- pcaps written by Hypothesis ---------------------------------------------------------------------
MACS = [bytes.fromhex(x) for x in ("5850ed010203", "00005e0001fe", "3c5ab4000001")]
ADDRS = [bytes([192, 0, 2, 10]), bytes([198, 51, 100, 7]), bytes([10, 0, 0, 1]), bytes([8, 8, 8, 8])]
PORTS = [53, 80, 443, 554, 5353, 1024, 40000, 65535]


@st.composite
def l4_header(draw: st.DrawFn, proto: int, payload: bytes) -> bytes:
    ports = struct.pack("!HH", draw(st.sampled_from(PORTS)), draw(st.sampled_from(PORTS)))
    if proto == 6:
        doff = draw(st.sampled_from([5, 5, 5, 6, 8, 15, 4, 0]))
        flags = draw(st.sampled_from([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x01, 0x1FF, 0]))
        opts = b"\x01" * (max(doff, 5) * 4 - 20) if draw(st.booleans()) else b""
        return ports + struct.pack("!IIBBHHH", 1, 2, (doff << 4) | flags >> 8, flags & 0xFF, 512, 0, 0) + opts
    if proto == 17:
        ulen = draw(st.sampled_from([8 + len(payload), 8 + len(payload), 0, 4, 8, 9, 0xFFFF]))
        return ports + struct.pack("!HH", ulen, 0)
    return draw(st.binary(max_size=8))


@st.composite
def frame(draw: st.DrawFn) -> bytes:
    """An Ethernet frame: mostly plain IPv4 TCP/UDP (the inline path), else VLANs, IPv6, fragments,
    options, other protocols, lengths that lie, short frames, or random bytes."""
    kind = draw(st.sampled_from(["ip4"] * 6 + ["vlan", "ip6", "arp", "random", "short"]))
    eth = draw(st.sampled_from(MACS)) + draw(st.sampled_from(MACS))
    if kind == "random":
        return draw(st.binary(max_size=80))
    if kind == "arp":
        return eth + b"\x08\x06" + bytes(28)
    payload = draw(st.sampled_from([b"", b"", b"x", b"\x16\x03\x01hello", bytes(range(40))]))
    proto = draw(st.sampled_from([6, 6, 17, 17, 1, 47]))
    l4 = draw(l4_header(proto, payload)) + payload
    if kind == "ip6":
        ip = struct.pack("!IHBB", 6 << 28, len(l4), proto, 64) + bytes(15) + b"\x01" + bytes(15) + b"\x02"
        return eth + b"\x86\xdd" + ip + l4
    ihl = draw(st.sampled_from([5, 5, 5, 6, 4, 15]))
    total = draw(st.sampled_from([None, None, 0, 19, 20, 40, 0xFFFF]))
    frag = draw(st.sampled_from([0, 0, 0, 0x4000, 0x2000, 0x0001, 0x2003, 0x8000]))
    src, dst = draw(st.sampled_from(ADDRS)), draw(st.sampled_from(ADDRS))
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        20 + len(l4) if total is None else total,
        7,
        frag,
        64,
        proto,
        0,
        src,
        dst,
    ) + b"\x01" * (max(ihl, 5) * 4 - 20)
    tag = b""
    if kind == "vlan":  # 802.1Q, 802.1ad and the old QinQ TPID, any VLAN ID (and priority bits); one too many
        tpids = st.sampled_from([b"\x81\x00", b"\x88\xa8", b"\x91\x00"])
        tags = st.lists(st.tuples(tpids, st.integers(0, 0xFFFF)), min_size=1, max_size=5)
        tag = b"".join(tpid + struct.pack("!H", tci) for tpid, tci in draw(tags))
    out = eth + tag + b"\x08\x00" + header + l4 + b"\0" * draw(st.sampled_from([0, 0, 6]))
    return out[: draw(st.integers(0, len(out)))] if kind == "short" else out


LINKTYPES = st.sampled_from(
    [1, 1, 1, capwrite.LINKTYPE_LINUX_SLL, capwrite.LINKTYPE_LINUX_SLL2, capwrite.LINKTYPE_RAW]
)
ADDR_LENS = st.sampled_from([6, 6, 6, 0, 4, 8])  # SLL's address length: a MAC, none, or another's


@st.composite
def capture(draw: st.DrawFn) -> bytes:
    """A classic pcap of Ethernet frames (or the same packets as SLL, SLL2 or raw IP write them), replayed
    in a drawn order with drawn time steps (some long enough to start UDP beats and close idle flows, some
    backwards), sometimes with lying lengths."""
    big, ns, linktype = draw(st.booleans()), draw(st.booleans()), draw(LINKTYPES)
    snaplen = draw(st.sampled_from([65535, 65535, 0, 60]))
    frames = [
        capwrite.relinked(f, linktype, draw(ADDR_LENS))
        for f in draw(st.lists(frame(), min_size=1, max_size=24))
    ]
    order = draw(st.lists(st.integers(0, len(frames) - 1), min_size=1, max_size=300))
    total = draw(st.sampled_from([0, 0, 1100, 3000]))  # past 1024 records: sweeps and ticks
    order = [order[i % len(order)] for i in range(max(len(order), total))]
    steps = draw(st.lists(st.sampled_from([0, 1, 37, 400_000, 2_000_000, 40_000_000, -5]), min_size=1))
    short_wire = draw(st.sets(st.integers(0, len(order) - 1), max_size=3))  # caplen > origlen
    huge = -1  # caplen > 256 KiB at this record: reading stops there
    if draw(st.sampled_from([False, False, False, True])):
        huge = draw(st.integers(0, len(order) - 1))
    unit = 1_000_000_000 if ns else 1_000_000
    t = 1_700_000_000 * unit
    out = [capwrite.pcap_header(linktype, snaplen, ns, big)]
    for i, pick in enumerate(order):
        t = max(0, t + steps[i % len(steps)] * (1000 if ns else 1))
        data = frames[pick]
        wirelen = len(data) - 1 if i in short_wire and data else None
        caplen = MAX_CAPLEN + 1 if i == huge else None
        out.append(capwrite.pcap_record(t // unit, t % unit, data, caplen, wirelen, big))
    data = b"".join(out)
    if draw(st.sampled_from([False, False, False, True])):  # cut anywhere
        data = data[: draw(st.integers(0, len(data)))]
    return data


@st.composite
def pcapng_capture(draw: st.DrawFn) -> bytes:
    """A pcapng of the same frames: sections in either byte order (a second one resets the interfaces),
    Ethernet, SLL, SLL2 and raw-IP interfaces (their EPBs' frames written as each link writes them) with
    drawn if_tsresol and if_tsoffset, EPBs for them and for undeclared ones, with caplens that lie,
    timestamps out of range, SPBs, skipped blocks, lying block lengths, cuts."""
    frames = draw(st.lists(frame(), min_size=1, max_size=16))
    blocks: list[bytes] = []
    resolutions = st.sampled_from([None, None, 6, 9, 3, 0x80 | 20, 0x80 | 0x7F, 0])
    for _ in range(draw(st.integers(1, 2))):
        big = draw(st.booleans())
        blocks.append(capwrite.shb(big))
        ifaces = []
        for _ in range(draw(st.integers(0, 3))):
            linktype = draw(LINKTYPES)
            res, offset = draw(resolutions), draw(st.sampled_from([None, None, 0, 3600, -(10**12), 1 << 40]))
            e = ">" if big else "<"
            opts = b"" if res is None else capwrite.option(9, bytes([res]), big)
            opts += b"" if offset is None else capwrite.option(14, struct.pack(e + "q", offset), big)
            blocks.append(
                capwrite.idb(linktype, 0, opts + capwrite.option(0, b"", big) if opts else b"", big)
            )
            ifaces.append(linktype)
        order = draw(st.lists(st.integers(0, len(frames) - 1), min_size=1, max_size=200))
        total = draw(st.sampled_from([0, 0, 1100, 2500]))  # past 1024 records: sweeps and ticks
        units = draw(st.sampled_from([1_700_000_000 * 10**6, 1_700_000_000 * 10**9, 0, (1 << 64) - 1]))
        steps = draw(st.lists(st.sampled_from([0, 1, 37, 400_000, 40_000_000_000, -5]), min_size=1))
        for i in range(max(len(order), total)):
            data = frames[order[i % len(order)]]
            units = max(0, min((1 << 64) - 1, units + steps[i % len(steps)]))
            kind = (
                draw(st.sampled_from(["epb"] * 12 + ["spb", "undeclared", "lie", "skip", "wire"]))
                if i < 40
                else "epb"
            )
            iface = draw(st.integers(0, max(0, len(ifaces) - 1)))
            if ifaces:
                data = capwrite.relinked(data, ifaces[iface], draw(ADDR_LENS))
            if kind == "spb":
                blocks.append(capwrite.spb(data, big=big))
            elif kind == "skip":
                blocks.append(capwrite.block(5, bytes(20), big))  # an ISB
            elif kind == "undeclared":
                blocks.append(capwrite.epb(len(ifaces) + 1, units, data, big=big))
            elif kind == "lie":
                blocks.append(
                    capwrite.epb(
                        iface, units, data, caplen=len(data) + draw(st.sampled_from([1, 4, 9])), big=big
                    )
                )
            else:
                wire = len(data) - 1 if kind == "wire" and data else None  # caplen > origlen
                blocks.append(capwrite.epb(iface, units, data, wirelen=wire, big=big))
    data = b"".join(blocks)
    if draw(st.sampled_from([False, False, False, True])):  # cut anywhere
        data = data[: draw(st.integers(0, len(data)))]
    return data


def _write(data: bytes) -> Path:
    fd, name = tempfile.mkstemp(suffix=".pcap", prefix="hikscan-fastloop-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


@FUZZ
@given(capture(), st.sampled_from([1, 2, 5, 200_000]), st.booleans())
def test_generated_captures_same_both_ways(data: bytes, max_flows: int, direct: bool) -> None:
    path = _write(data)
    try:
        table = _small_table(max_flows, evict_batch=1, idle_timeout=30.0, sweep_every=0.5)
        got = same([path], direct=direct, table=table)
        event("past 1024 records" if got.get("stats", {}).get("packets", 0) > 1024 else "at most 1024")
        full = observe([path], "python", direct=direct, table=table)
        event(
            "gate left some out" if gated_same([path], full, _gate(), direct=direct, table=table) else "none"
        )
    finally:
        path.unlink()


@FUZZ
@given(pcapng_capture(), st.sampled_from([1, 5, 200_000]))
def test_generated_pcapng_same_both_ways(data: bytes, max_flows: int) -> None:
    """The C loop on pcapng (the reader's blocks, its Ethernet EPBs read by the loop) against the Python
    path (every record through the generic loop): the same packets, flows, counters and warnings."""
    path = _write(data)
    try:
        same([path], table=_small_table(max_flows))
    finally:
        path.unlink()


def _as_pcapng(path: Path, out: Path, tsresol: int) -> None:
    """A classic pcap (µs) rewritten as pcapng: one section, one Ethernet interface with if_tsresol
    `tsresol` (a power of ten), each record an EPB."""
    header, _, records = _pcap_records(path)
    assert header[:4] == b"\xd4\xc3\xb2\xa1"
    opts = capwrite.option(9, bytes([tsresol])) + capwrite.option(0, b"")
    parts = [capwrite.shb(), capwrite.idb(1, 0, opts)]
    for sec, usec, _caplen, wirelen, frame in records:
        units = (sec * 10**6 + usec) * 10 ** (tsresol - 6)
        parts.append(capwrite.epb(0, units, frame, wirelen=wirelen))
    out.write_bytes(b"".join(parts))


@pytest.mark.parametrize("tsresol", [6, 9])
def test_pcapng_read_by_the_c_loop_as_its_pcap_is(
    bench_captures: list[Path], tmp_path: Path, tsresol: int
) -> None:
    """The benchmark captures (40,000 records: many chunk refills, evictions) as pcapng, µs and ns: the
    C loop reads them (Decoder.decode_frame sees only the frames it sees in the pcap), gives the generic
    loop's results, and the pcap's packets and flows."""
    calls = {"pcap": 0, "pcapng": 0}
    real_decode = Decoder.decode_frame
    kind = ["pcap"]

    def counting(self: Decoder, *args: Any) -> Any:
        calls[kind[0]] += 1
        return real_decode(self, *args)

    for path in bench_captures:
        ng = tmp_path / (path.stem + ".pcapng")
        _as_pcapng(path, ng, tsresol)
        got = same([ng], table=_small_table(5000))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(Decoder, "decode_frame", counting)
            kind[0] = "pcap"
            classic = observe([path], "c", table=_small_table(5000))
            kind[0] = "pcapng"
            assert observe([ng], "c", table=_small_table(5000)) == got
        assert calls["pcapng"] == calls["pcap"] < 1000, calls
        assert got["counters"] == classic["counters"]
        assert len(got["events"]) == len(classic["events"]) > 1000
        assert got["stats"]["files"][0]["packets"] == classic["stats"]["files"][0]["packets"] == 40_000


SEEDS = [p.read_bytes()[:6000] for p in _captures() if p.suffix == ".pcap" and p.stat().st_size > 24][:40]
LENGTH_LIES = (0, 1, 11, 12, 15, 16, 31, 32, 53, 54, MAX_CAPLEN, MAX_CAPLEN + 1, 0x7FFFFFFF, 0xFFFFFFFF)


@FUZZ
@given(samples.mutated(SEEDS, random_one_in=20, max_random=600, max_edits=6, length_lies=LENGTH_LIES))
def test_mutated_real_captures_same_both_ways(data: bytes) -> None:
    path = _write(data)
    try:
        table = _small_table(4, evict_batch=1)
        same([path], table=table)
        gated_same([path], observe([path], "python", table=table), _gate(), table=table)
    finally:
        path.unlink()


# -- memory: no reference kept, nothing growing ------------------------------------------------------
def test_no_flow_or_packet_outlives_the_run(bench_captures: list[Path]) -> None:
    observe(bench_captures, "c", table=_small_table(300, idle_timeout=0.05, sweep_every=0.02))
    gc.collect()
    left = [o for o in gc.get_objects() if isinstance(o, Flow | Packet)]
    assert left == []


def test_repeated_runs_do_not_grow(bench_captures: list[Path]) -> None:
    """A leaked reference or buffer per packet, flow or run would add up: 40,000 packets a run."""

    def once() -> None:
        flows = FlowTable(max_flows=300, on_evict=lambda _f: None, idle_timeout=0.05, sweep_every=0.02)
        with _loop("c"):
            pipeline.run(bench_captures[1:], lambda _p: None, flows)
        flows.flush()

    once()
    tracemalloc.start()
    try:
        once()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(4):
            once()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"{grown} bytes more after 4 runs"


# -- other link layers: Linux cooked captures and raw IP -----------------------------------------------
LINKS = {
    "SLL": capwrite.LINKTYPE_LINUX_SLL,
    "SLL2": capwrite.LINKTYPE_LINUX_SLL2,
    "raw": capwrite.LINKTYPE_RAW,
}


def _relinked_file(path: Path, out: Path, linktype: int) -> None:
    """A copy of a classic pcap Ethernet capture as `linktype` writes the same packets (capwrite.relinked):
    what `tcpdump -i any` (SLL, SLL2) or a tunnel interface (raw IP) records. Each record stays a record."""
    _rewritten(path, out, lambda frame: capwrite.relinked(frame, linktype), linktype)


def _linkless(events: list[tuple[str, tuple[Any, ...]]], vlans: bool = True) -> list[Any]:
    """Events without what the link layer decides: MACs (SLL has the sender's alone, raw IP none), the
    byte counts its header lengthens or shortens, and `vlans=False` the VLAN IDs (none on raw IP)."""
    macs = ("src_mac", "dst_mac", "client_mac", "server_mac")
    return _rows(events, (*macs, *BYTE_COUNTS, *(() if vlans else ("vlans",))))


@pytest.mark.parametrize("link", sorted(LINKS))
def test_linux_cooked_and_raw_ip_captures_are_read_inline(tmp_path: Path, link: str) -> None:
    """The real captures as `tcpdump -i any` (SLL, SLL2) or a raw-IP interface records them: the C loop reads
    their IPv4 TCP/UDP records inline (decode_frame sees no more records than for the Ethernet original),
    the same as the generic loop, to the field; packets and flows are those of the Ethernet original but for
    the MACs and byte counts, and each SLL packet's source MAC is the frame's."""
    linktype = LINKS[link]
    inline = records = 0
    for path in _ethernet_reals():
        copy = tmp_path / path.name
        _relinked_file(path, copy, linktype)
        plain, plain_calls = _c_loop_decoding(path)
        _, copy_calls = _c_loop_decoding(copy)
        got = same([copy])  # the C loop against the generic loop
        assert copy_calls <= plain_calls, path.name  # raw: non-IP frames fewer
        if link != "raw":
            assert copy_calls == plain_calls, path.name
        records += plain["stats"]["packets"]
        inline += plain["stats"]["packets"] - copy_calls
        tags = link != "raw"
        assert _linkless(got["events"], tags) == _linkless(plain["events"], tags), path.name
        assert got["counters"][:4] == plain["counters"][:4]
        if link != "raw":
            macs = [dict(zip(PACKET_FIELDS, f, strict=True)) for k, f in plain["events"] if k == "packet"]
            linked = [dict(zip(PACKET_FIELDS, f, strict=True)) for k, f in got["events"] if k == "packet"]
            assert [p["src_mac"] for p in linked] == [p["src_mac"] for p in macs]
            assert all(p["dst_mac"] == ("NoneType", None) for p in linked)
    assert inline > records / 2  # most records were read inline
