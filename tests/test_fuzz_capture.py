"""Property tests for the passive path below the protocol parsers: capture readers, decoder, flow table,
pipeline and the payload inspector, fed mutated real captures and arbitrary bytes.

Invariants: a reader yields sane Records and stops cleanly or raises MalformedInput, in bounded time;
the pipeline's fast pcap loop and its generic loop agree on every count and payload; the decoder
returns a Packet or None and counts what it drops, never raising; the flow table stays bounded and
loses no packet; the inspector never raises. Longer run:
HYPOTHESIS_MAX_EXAMPLES=20000 pytest tests/test_fuzz_capture.py (see docs/FUZZING.md).
"""

from __future__ import annotations

import os
import struct
import tempfile
import time
from pathlib import Path

import samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hikscan.capture import MAX_CAPLEN, Record, open_capture
from hikscan.capture.base import MAX_TS
from hikscan.cli.analyze import Totals
from hikscan.errors import MalformedInput
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import load_rules
from hikscan.passive.attribution import Attribution
from hikscan.passive.decode import Decoder, Packet
from hikscan.passive.engine import Engine
from hikscan.passive.flows import Flow, FlowTable
from hikscan.passive.naming import NameBook
from hikscan.passive.payload import Inspector
from hikscan.passive.pipeline import run
from hikscan.report.output import dumps

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEED_BYTES = 6000  # a prefix of each capture: enough for several records, small enough to mutate fast
CAPTURES = sorted(p for p in (*(ROOT / "pcaps").glob("*.pcap*"), *(ROOT / "pcaps" / "real").iterdir()))
CAPTURE_SEEDS = [p.read_bytes()[:SEED_BYTES] for p in CAPTURES]
LENGTH_LIES = (0, 1, 11, 12, 15, 16, 31, 32, MAX_CAPLEN, MAX_CAPLEN + 1, 0x7FFFFFFF, 0xFFFFFFFF)


def mutated(seeds: list[bytes], max_random: int = 600) -> st.SearchStrategy[bytes]:
    """Seeds with capture-style edits, length fields that lie included."""
    return samples.mutated(
        seeds, random_one_in=20, max_random=max_random, max_edits=5, max_delete=32, length_lies=LENGTH_LIES
    )


RULES = load_rules()
GEO = GeoLookup()
OUI = OuiTable.load()
SECONDS = 10.0  # per example, generous for a shared 2-core machine; a hang would blow through it


def _frames(path: Path, limit: int = 40) -> list[bytes]:
    with open_capture(path) as reader:
        return [bytes(rec.data) for _, rec in zip(range(limit), reader, strict=False)]


ETH_FRAMES = [f for p in CAPTURES for f in _frames(p) if len(f) > 14][:400]


def _write(data: bytes, suffix: str = ".pcap") -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="hikscan-fuzz-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


# -- capture readers --------------------------------------------------------------------------------
def test_seed_captures_read_cleanly() -> None:
    assert len(CAPTURE_SEEDS) >= 8 and len(ETH_FRAMES) >= 100
    for path in CAPTURES:
        with open_capture(path) as reader:
            assert sum(1 for _ in reader) > 0 and not reader.truncated


@FUZZ
@given(mutated(CAPTURE_SEEDS))
def test_reader_yields_records_or_malformed_input(data: bytes) -> None:
    path = _write(data)
    started = time.monotonic()
    records = 0
    try:
        with open_capture(path) as reader:
            for rec in reader:
                records += 1
                assert isinstance(rec, Record)
                assert len(rec.data) <= MAX_CAPLEN and rec.wirelen >= len(rec.data)
                assert isinstance(rec.ts, float) and isinstance(rec.linktype, int)
                assert 0.0 <= rec.ts < MAX_TS  # every timestamp can be shown as a date
            assert reader.records == records
            assert reader.bytes_read <= reader.size
            assert len(reader.warnings) <= 50
    except MalformedInput as exc:
        assert "is not a pcap or pcapng file" in str(exc)
    finally:
        path.unlink()
    assert records <= len(data) // 12  # every record consumes at least a 12-byte header
    assert time.monotonic() - started < SECONDS


def _stats_and_payloads(path: Path, fast: bool) -> tuple[dict[str, object], list[tuple[int, int, bytes]]]:
    seen: list[tuple[int, int, bytes]] = []

    def on_payload(pkt: Packet) -> None:
        seen.append((pkt.sport, pkt.dport, bytes(pkt.payload)))

    stats = run([path], on_payload, FlowTable(max_flows=64), fast=fast).to_dict()
    stats.pop("seconds")
    for file in stats["files"]:  # which loop read it: what this comparison varies
        file.pop("loop")
    return stats, seen


@FUZZ
@given(mutated(CAPTURE_SEEDS))
def test_pipeline_fast_and_generic_loops_agree(data: bytes) -> None:
    """The inlined pcap+Ethernet loop must count, warn and hand over payloads exactly like the generic one."""
    path = _write(data)
    started = time.monotonic()
    try:
        try:
            fast = _stats_and_payloads(path, fast=True)
        except MalformedInput:
            fast = None
        try:
            generic = _stats_and_payloads(path, fast=False)
        except MalformedInput:
            generic = None
    finally:
        path.unlink()
    assert fast == generic
    if fast is not None:
        stats = fast[0]
        assert stats["ip_packets"] + stats["malformed"] + stats["non_ip"] == stats["packets"]  # type: ignore[operator]
    assert time.monotonic() - started < 2 * SECONDS


@FUZZ
@given(mutated(CAPTURE_SEEDS))
def test_analysis_reports_any_capture(data: bytes) -> None:
    """End to end below the CLI: a mutated capture gives a report that serialises, or MalformedInput."""
    path = _write(data)
    try:
        engine = Engine(RULES, GEO, OUI)
        try:
            stats = engine.run_files([path])
        except MalformedInput:
            return
        engine.finish()
        findings = [f.to_dict() for f in engine.findings()]
        devices = [d.to_dict() for d in engine.cctv_devices()]
        text = dumps({"findings": findings, "devices": devices, "stats": [stats.to_dict()]})
        totals = Totals()
        for record in findings:
            totals.finding(record)
        assert totals.summary([stats.to_dict()])["findings"] == len(findings)
        assert text.startswith("{")
    finally:
        path.unlink()


# -- decoder ---------------------------------------------------------------------------------------
def _as_linktype(frame: bytes, linktype: int) -> bytes:
    """Re-wrap an Ethernet frame's payload in another link layer's header."""
    etype, body = frame[12:14], frame[14:]
    ip6 = etype == b"\x86\xdd"
    if linktype == 113:  # Linux SLL: packet type, ARPHRD, address length, address(8), protocol
        return struct.pack("!HHH", 0, 1, 6) + frame[6:12] + b"\0\0" + etype + body
    if linktype == 276:  # SLL2: protocol, reserved, ifindex, ARPHRD, type, address length, address(8)
        return etype + b"\0\0" + struct.pack("!IHBB", 2, 1, 0, 6) + frame[6:12] + b"\0\0" + body
    if linktype == 0:
        return struct.pack("<I", 30 if ip6 else 2) + body
    if linktype == 108:
        return struct.pack("!I", 30 if ip6 else 2) + body
    if linktype in (12, 14, 101, 228, 229):
        return body
    return frame


LINKTYPES = (1, 0, 12, 14, 101, 108, 113, 228, 229, 276, 147, 105)


@FUZZ
@given(st.sampled_from(LINKTYPES), st.data())
def test_decoder_returns_packet_or_none_and_counts(linktype: int, data: st.DataObject) -> None:
    seeds = [_as_linktype(f, linktype) for f in ETH_FRAMES[::8]]
    frames = [data.draw(mutated(seeds, max_random=300)) for _ in range(data.draw(st.integers(1, 8)))]
    dec = Decoder()
    returned = 0
    for frame in frames:
        pkt = dec.decode_frame(1.5, linktype, frame, len(frame))
        if pkt is None:
            continue
        returned += 1
        assert pkt.version in (4, 6) and len(pkt.src) == len(pkt.dst) == (4 if pkt.version == 4 else 16)
        assert 0 <= pkt.sport <= 0xFFFF and 0 <= pkt.dport <= 0xFFFF and 0 <= pkt.proto <= 255
        assert len(pkt.payload) <= len(frame) and pkt.frag in (0, 1, 2)
        assert pkt.frag != 2 or not pkt.payload
        assert pkt.src_mac is None or len(pkt.src_mac) == 6
    assert returned + dec.malformed + dec.non_ip == len(frames)
    assert dec.fragments <= returned


# -- flow table ------------------------------------------------------------------------------------
ADDRS = [bytes([192, 168, 1, i]) for i in (1, 2, 3)] + [bytes(15) + b"\x01", bytes([203, 0, 113, 9])]
packets = st.builds(
    lambda src, dst, proto, sport, dport, flags, ts, wirelen: Packet(
        ts,
        b"\x02" * 6,
        b"\x04" * 6,
        (),
        4 if len(src) == 4 else 6,
        src,
        dst,
        proto,
        sport,
        dport,
        flags,
        wirelen,
        b"",
    ),
    st.sampled_from(ADDRS),
    st.sampled_from(ADDRS),
    st.sampled_from((6, 17, 1)),
    st.sampled_from((0, 53, 80, 443, 37020, 50000, 65535)),
    st.sampled_from((0, 53, 80, 443, 37020, 50000, 65535)),
    st.integers(0, 0x1FF),
    st.floats(0, 2e9, allow_nan=False),
    st.integers(0, 70000),
)


@FUZZ
@given(st.lists(packets, max_size=120), st.integers(1, 12), st.integers(1, 4))
def test_flow_table_bounded_and_loses_nothing(pkts: list[Packet], max_flows: int, batch: int) -> None:
    evicted: list[Flow] = []
    table = FlowTable(max_flows=max_flows, on_evict=evicted.append, evict_batch=batch)
    for pkt in pkts:
        flow = table.add(pkt)
        assert len(table) <= max_flows
        assert flow.first_seen <= pkt.ts <= flow.last_seen
    live = sum(f.packets for f in table)
    assert live + sum(f.packets for f in evicted) == len(pkts)
    table.flush()
    assert len(table) == 0 and len(evicted) == table.total_flows
    assert sum(f.packets for f in evicted) == len(pkts)
    assert sum(f.bytes for f in evicted) == sum(p.wirelen for p in pkts)
    for f in evicted:
        assert f.first_seen <= f.last_seen and f.packets >= 1


# -- payload inspector ---------------------------------------------------------------------------------
PAYLOAD_SEEDS = [p.read_bytes()[:4000] for p in sorted((ROOT / "tests" / "data" / "active").iterdir())]
PAYLOAD_SEEDS = [s for s in PAYLOAD_SEEDS if s] + [f[54:] for f in ETH_FRAMES if len(f) > 60][:100]
PORTS = (53, 5353, 37020, 3702, 37810, 80, 8080, 554, 443, 8000, 5050, 6800, 7660, 50000)


@FUZZ
@given(
    st.lists(
        st.tuples(
            mutated(PAYLOAD_SEEDS).filter(bool),
            st.sampled_from((6, 17)),
            st.sampled_from(PORTS),
            st.sampled_from(PORTS),
            st.sampled_from(ADDRS[:3] + ADDRS[4:]),
            st.sampled_from(ADDRS[:3] + ADDRS[4:]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_inspector_never_raises(items: list[tuple[bytes, int, int, int, bytes, bytes]]) -> None:
    inspector = Inspector(RULES, NameBook(), Attribution(RULES))
    for payload, proto, sport, dport, src, dst in items:
        pkt = Packet(
            1.0, b"\x02" * 6, None, (), 4, src, dst, proto, sport, dport, 0x18, len(payload), payload
        )
        inspector.on_payload(pkt)
    assert all(isinstance(k, str) and v > 0 for k, v in inspector.malformed.items())
