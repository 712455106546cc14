"""The flow table's behaviour measurements: UDP beats, the handshake round trip, idle expiry; RITA scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hikscan.errors import UsageError
from hikscan.knowledge.beaconscore import beacon_score, example_events
from hikscan.passive.baseline import Baseline, network_of
from hikscan.passive.decode import Packet
from hikscan.passive.flows import BEAT_LOG, FlowTable
from hikscan.passive.pipeline import run

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
CAM, SRV = bytes([10, 0, 0, 5]), bytes([194, 87, 20, 10])
SYN, SYNACK, ACK, FIN = 0x02, 0x12, 0x10, 0x01


def pkt(
    ts: float, src: bytes, dst: bytes, sport: int, dport: int, proto: int = 17, flags: int = 0, size: int = 60
):
    return Packet(ts, b"\x00" * 6, b"\x00" * 6, (), 4, src, dst, proto, sport, dport, flags, size, b"x", 0)


def test_udp_beats_are_bursts_after_a_second_of_silence() -> None:
    table = FlowTable()
    for k in range(5):  # a keep-alive every 20 s: one datagram, answered
        t = 100.0 + 20 * k
        table.add(pkt(t, CAM, SRV, 41000, 9010, size=80))
        table.add(pkt(t + 0.1, SRV, CAM, 9010, 41000, size=50))
    for i in range(30):  # then a 30-packet stream at 100 packets a second: one more beat
        table.add(pkt(300.0 + i / 100, CAM, SRV, 41000, 9010, size=100))
    [flow] = list(table)
    assert flow.beats == 6
    events = flow.beat_events()
    assert [round(t, 2) for t, _ in events] == [100.0, 120.0, 140.0, 160.0, 180.0, 300.0]
    assert [size for _, size in events] == [80, 80, 80, 80, 80, 3000]  # client bytes per beat


def test_the_beat_log_is_bounded_and_the_count_goes_on() -> None:
    table = FlowTable()
    for k in range(BEAT_LOG + 40):
        table.add(pkt(10.0 * k, CAM, SRV, 41000, 9010))
    [flow] = list(table)
    assert flow.beats == BEAT_LOG + 40
    assert len(flow.beat_events()) == BEAT_LOG - 1  # the last logged beat's size is unknown: left out
    assert flow.beat_log is not None and len(flow.beat_log) == 2 * BEAT_LOG


def test_tcp_flows_do_not_beat_and_measure_the_handshake() -> None:
    table = FlowTable()
    table.add(pkt(1.0, CAM, SRV, 50000, 443, 6, SYN))
    table.add(pkt(1.0375, SRV, CAM, 443, 50000, 6, SYNACK))
    table.add(pkt(1.038, CAM, SRV, 50000, 443, 6, ACK))
    table.add(pkt(9.0, CAM, SRV, 50000, 443, 6, ACK))
    [flow] = list(table)
    assert flow.beats == 0 and flow.rtt == pytest.approx(0.0375)


def test_a_retransmitted_syn_gives_no_round_trip() -> None:
    """SYN, SYN again after 1 s, then SYN-ACK: the 1 s timeout is no round trip."""
    table = FlowTable()
    table.add(pkt(1.0, CAM, SRV, 50001, 443, 6, SYN))
    table.add(pkt(2.0, CAM, SRV, 50001, 443, 6, SYN))
    table.add(pkt(2.04, SRV, CAM, 443, 50001, 6, SYNACK))
    [flow] = list(table)
    assert flow.rtt < 0


def test_idle_flows_are_closed_by_capture_time() -> None:
    closed: list[int] = []
    table = FlowTable(on_evict=lambda f: closed.append(f.client_port), idle_timeout=300, closed_timeout=30)
    table.add(pkt(0.0, CAM, SRV, 1500, 9010))  # UDP, idle from 0
    table.add(pkt(0.0, CAM, SRV, 2000, 443, 6, SYN))
    table.add(pkt(10.0, CAM, SRV, 2000, 443, 6, FIN | ACK))  # TCP, finished at 10
    table.add(pkt(250.0, CAM, SRV, 3000, 9010))  # recent
    assert table.expire(100.0) == 1 and closed == [2000]  # FIN seen, 90 s idle > 30
    assert table.expire(110.0) == 0  # swept 10 s ago: not again before sweep_every
    assert table.expire(301.0) == 1 and closed == [2000, 1500]
    assert [f.client_port for f in table] == [3000] and table.expired == 2


def test_fast_and_generic_loops_measure_the_same() -> None:
    """The inlined pcap+Ethernet loop keeps FlowTable.add's beats, round trips and expiry."""
    tables = []
    for fast in (True, False):
        table = FlowTable(on_evict=lambda f: None)
        closed: list[tuple[object, ...]] = []
        table.on_evict = lambda f, out=closed: out.append(  # type: ignore[misc]
            (f.key, f.beats, round(f.rtt, 6), f.packets, tuple(f.beat_events()))
        )
        run([PCAPS / "beacon_camera.pcap", PCAPS / "hikconnect_registration.pcap"], None, table, fast=fast)
        table.flush()
        tables.append(sorted(closed, key=repr))
    assert tables[0] == tables[1]
    assert any(beats > 100 for _k, beats, *_ in tables[0]) and any(rtt > 0 for _k, _b, rtt, *_ in tables[0])


def test_rita_scoring_separates_timers_from_people() -> None:
    times, sizes = example_events(100, 20, 0.2, 74)
    timer = beacon_score(times, sizes, 2000)
    assert timer is not None and timer.score >= 0.9 and timer.interval == pytest.approx(20, abs=0.5)
    people = [0, 3, 40, 41, 200, 380, 385, 900, 1500, 1510, 1600, 2400, 2401, 3000, 3100, 3600]
    human = beacon_score([float(t) for t in people], [300 + 97 * i % 2000 for i in range(len(people))], 3600)
    assert human is not None and human.score < 0.6
    assert beacon_score([1.0, 1.0, 1.0], [10, 10, 10], 10) is None  # no interval to measure


def test_network_keys() -> None:
    assert network_of("116.62.10.20") == "116.62.10.0/24"
    assert network_of("2403:4a00:10::20") == "2403:4a00:10::/48"
    assert network_of("not an address") is None


def test_baseline_reads_findings_and_timelines_not_fleets(tmp_path: Path) -> None:
    doc = {
        "findings": [
            {"remote": {"ip": "47.88.10.20", "name": "WWW.Easy4IPcloud.com."}, "device": {"ip": "10.0.0.2"}},
            {"remote": {"ip": "194.87.20.10", "name": None}, "device": {"members": ["10.0.0.3", "10.0.0.4"]}},
        ],
        "devices": [{"timeline": [{"remote": "52.28.10.20", "name": "litedev.hik-connect.com"}]}],
    }
    (tmp_path / "a.json").write_text(json.dumps(doc))
    baseline = Baseline.load([tmp_path])
    assert baseline.ips == {"47.88.10.20", "52.28.10.20"}  # a fleet finding's remote is what was new
    assert baseline.names == {"www.easy4ipcloud.com", "litedev.hik-connect.com"}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_baseline_on_any_bytes_loads_or_raises_a_usage_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("b") / "r.json"
    path.write_bytes(data)
    try:
        Baseline.load([path])
    except UsageError as exc:
        assert "--baseline" in str(exc)
