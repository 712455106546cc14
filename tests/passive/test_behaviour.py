"""Behaviour detectors (beacon, storm, fleet), baselines, timelines and RTT on the generated scenarios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hikscan.capture import open_capture
from hikscan.cli.app import main
from hikscan.knowledge.beaconscore import beacon_score
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import load_rules
from hikscan.passive.baseline import Baseline
from hikscan.passive.engine import Engine
from hikscan.passive.live import Watcher
from hikscan.report.model import Finding

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
RULES, GEO, OUI = load_rules(), GeoLookup(), OuiTable.load()
BEHAVIOUR = {"cctv-beacon", "host-beacon", "cctv-connection-storm", "host-connection-storm"}
BEHAVIOUR |= {"cctv-fleet-new-destination"}
FLEET_CAMERAS = [f"10.110.0.{11 + i}" for i in range(8)]


def report(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, *extra: str) -> dict[str, Any]:
    out = tmp_path / f"{name}.json"
    args = ["analyze", str(PCAPS / name), "-f", "json", "-o", str(out), "--fail-on", "none", *extra]
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(out.read_text())


def by_rule(doc: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["rule"] == rule]


def test_fleet_of_eight_retrying_an_unknown_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = report(tmp_path, capsys, "incident_fleet_unknown.pcap", "--home-country", "IT")
    [fleet] = by_rule(doc, "cctv-fleet-new-destination")
    assert fleet["device"]["members"] == FLEET_CAMERAS and fleet["device"]["count"] == 8
    assert fleet["device"]["family"] == "hikvision" and fleet["new_destination"] is True
    assert fleet["onset"].startswith("2026-03-02T09:29:59") or fleet["onset"].startswith(
        "2026-03-02T09:30:00"
    )
    # 8 cameras, one attempt every 30 s each: ~960 attempts an hour, none answered
    assert 850 <= fleet["rate_per_hour"] <= 1050
    assert fleet["metrics"]["unanswered"] == fleet["metrics"]["attempts"] >= 8 * 50
    assert fleet["remote"]["name"] is None and fleet["remote"]["rtt_ms"] is None  # no name, no handshake
    [storm] = by_rule(doc, "cctv-connection-storm")
    assert (
        storm["device"]["members"] == FLEET_CAMERAS
        and storm["metrics"]["failed"] == storm["metrics"]["attempts"]
    )
    assert {f["new_destination"] for f in doc["findings"]} == {True}
    beacons = by_rule(doc, "cctv-beacon")
    assert sorted(f["device"]["ip"] for f in beacons) == FLEET_CAMERAS
    assert all(29 <= f["metrics"]["interval_s"] <= 31 for f in beacons)
    for device in (d for d in doc["devices"] if d["ip"] in FLEET_CAMERAS):
        [entry] = device["timeline"]
        assert (
            entry["remote"] == "194.87.20.10" and entry["new"] is True and entry["failed"] == entry["flows"]
        )
        assert entry["first_seen"] >= "2026-03-02T09:29:59"


def test_a_camera_beaconing_every_20_s_on_one_udp_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = report(tmp_path, capsys, "beacon_camera.pcap")
    [beacon] = by_rule(doc, "cctv-beacon")
    assert beacon["flows"] == 1  # one 5-tuple: the per-flow timing sketch found the beats
    metrics = beacon["metrics"]
    assert 19.5 <= metrics["interval_s"] <= 20.5 and metrics["score"] >= 0.8
    assert metrics["attempts"] >= 125 and metrics["answered_flows"] == 1
    assert 170 <= beacon["rate_per_hour"] <= 190
    assert not by_rule(doc, "cctv-connection-storm") and not by_rule(doc, "cctv-fleet-new-destination")


def test_clean_fleet_on_its_cloud_gives_no_behaviour_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = report(tmp_path, capsys, "clean_fleet_cloud.pcap")
    assert doc["findings"] and not [f for f in doc["findings"] if f["rule"] in BEHAVIOUR]
    rotated = [f for f in doc["findings"] if f["remote"]["ip"] == "52.28.10.21"]
    assert rotated and all(f["new_destination"] is False for f in rotated)  # a known name's new address


def test_clean_fleet_is_not_vacuous(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its keep-alives are regular enough to score, and with an empty baseline the fleet would fire."""
    engine = Engine(RULES, GEO, OUI)
    engine.run_files([PCAPS / "clean_fleet_cloud.pcap"])
    engine.finish()
    contact = engine.contact("10.130.0.11", "52.5.124.127")
    assert contact is not None
    log = contact.beacon
    score = beacon_score(log.marks[0::2], [int(s) for s in log.marks[1::2]], 3600)
    assert score is not None and score.score >= RULES.policy.beacon.min_score  # excluded: a vendor cloud
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"findings": [], "devices": []}))
    doc = report(tmp_path, capsys, "clean_fleet_cloud.pcap", "--baseline", str(empty))
    assert by_rule(doc, "cctv-fleet-new-destination")


def test_a_baseline_report_makes_the_same_fleet_known(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = report(tmp_path, capsys, "incident_fleet_unknown.pcap", "--home-country", "IT")
    earlier = tmp_path / "baselines"
    earlier.mkdir()
    (earlier / "monday.json").write_text(json.dumps(first))
    doc = report(
        tmp_path, capsys, "incident_fleet_unknown.pcap", "--home-country", "IT", "--baseline", str(earlier)
    )
    assert not by_rule(doc, "cctv-fleet-new-destination")
    assert {f["new_destination"] for f in doc["findings"]} == {False}
    assert by_rule(doc, "cctv-connection-storm")  # a storm needs no baseline


def test_a_jsonl_report_is_a_baseline_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.jsonl"
    args = ["analyze", str(PCAPS / "beacon_camera.pcap"), "-f", "jsonl", "-o", str(out), "--fail-on", "none"]
    assert main(args) == 0
    baseline = Baseline.load([out])
    assert "103.75.190.10" in baseline.ips and baseline.sources == [str(out)]


def test_handshake_round_trip_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The generator answers SYNs 40 ms later (TcpSession.rtt_us): the report says 40 ms."""
    doc = report(tmp_path, capsys, "hikconnect_registration.pcap")
    tls = [f for f in doc["findings"] if f["remote"]["ip"] == "52.28.10.20"]
    assert tls and all(f["remote"]["rtt_ms"] == 40.0 for f in tls)
    udp = [f for f in doc["findings"] if f["remote"]["proto"] == "udp"]
    assert udp and all(f["remote"]["rtt_ms"] is None for f in udp)


def test_table_shows_behaviour_and_timeline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["analyze", str(PCAPS / "incident_fleet_unknown.pcap"), "--fail-on", "none"]) == 0
    out = capsys.readouterr().out
    assert "Timeline" in out and "194.87.20.10" in out and " new" in out
    assert "onset 09:29:5" in out or "onset 09:30:0" in out


def _live(name: str, every: int) -> tuple[dict[str, int], int]:
    """Replay a capture through `watch`'s engine; the packet count at which each rule first streamed."""
    engine = Engine(RULES, GEO, OUI)
    first: dict[str, int] = {}
    seen = 0

    def on_finding(f: Finding) -> None:
        first.setdefault(f.rule, seen)

    watcher = Watcher(engine, on_finding)
    with open_capture(PCAPS / name) as reader:
        for seen, rec in enumerate(reader, 1):
            watcher.feed(rec.ts, rec.data, rec.linktype)
            if seen % every == 0:
                watcher.report_new()
    watcher.report_new(final=True)
    return first, seen


@pytest.mark.parametrize("name", ["beacon_camera.pcap", "incident_fleet_unknown.pcap"])
def test_live_monitoring_reports_behaviour_while_running(name: str) -> None:
    """Open flows (the beacon's one UDP flow) and idle-expired ones (failed SYNs) reach the detectors
    before the end of the traffic."""
    first, total = _live(name, every=200)
    behaviour = {rule: at for rule, at in first.items() if rule in BEHAVIOUR}
    assert behaviour and all(at < total for at in behaviour.values()), (behaviour, total)
