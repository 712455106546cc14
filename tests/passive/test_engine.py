"""One engine: a capture read as a file and the same records fed live give the same findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from hikscan.capture import open_capture
from hikscan.errors import RuleError
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import load_rules
from hikscan.passive.detectors import build_detectors
from hikscan.passive.engine import Engine
from hikscan.passive.live import Watcher
from hikscan.report.model import Finding

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = sorted(
    p for p in (*(ROOT / "pcaps").glob("*.pcap*"), *(ROOT / "pcaps" / "real").iterdir()) if p.is_file()
)
RULES = load_rules()
GEO = GeoLookup()
OUI = OuiTable.load()


def _key(f: Finding) -> tuple[object, ...]:
    return (
        f.rule, f.severity, f.device.get("ip"), f.device.get("vendor"), f.remote.ip, f.remote.ports,
        f.remote.name, f.remote.rtt_ms, f.first_seen, f.last_seen, f.packets, f.bytes, f.flows,
    )  # fmt: skip


def _as_file(path: Path) -> list[tuple[object, ...]]:
    engine = Engine(RULES, GEO, OUI)
    engine.run_files([path])
    engine.finish()
    return sorted(map(_key, engine.findings()), key=repr)


def _as_live(path: Path, report_every: int) -> tuple[list[tuple[object, ...]], set[tuple[object, ...]]]:
    """Replay the records into watch's engine, reporting every few packets as `watch` does."""
    engine = Engine(RULES, GEO, OUI)
    streamed: list[Finding] = []
    watcher = Watcher(engine, streamed.append)
    with open_capture(path) as reader:
        for n, rec in enumerate(reader, 1):
            watcher.feed(rec.ts, rec.data, rec.linktype)
            if n % report_every == 0:
                watcher.report_new()
    watcher.report_new(final=True)
    final = engine.findings()
    return sorted(map(_key, final), key=repr), {(f.rule, f.device.get("ip"), f.remote.ip) for f in streamed}


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_file_and_live_paths_give_identical_findings(path: Path) -> None:
    from_file = _as_file(path)
    from_live, streamed = _as_live(path, report_every=7)
    assert from_live == from_file
    # everything in the final report was streamed as it appeared, once
    assert {(k[0], k[2], k[4]) for k in from_live} <= streamed


def test_equivalence_is_not_vacuous() -> None:
    """The bundled captures do produce findings of several rules (so the comparison above means something)."""
    rules = {k[0] for path in CAPTURES for k in _as_file(path)}
    assert {"cctv-to-high-risk-country", "cctv-to-vendor-cloud", "cctv-fleet-new-destination"} <= rules


def test_a_policy_rule_naming_an_unknown_detector_is_refused(tmp_path: Path) -> None:
    policy = (ROOT / "rules" / "policy.yaml").read_text()
    (tmp_path / "policy.yaml").write_text(policy.replace("detector: fleet", "detector: telepathy"))
    rules = load_rules(tmp_path)
    with pytest.raises(RuleError, match="unknown detector 'telepathy'"):
        build_detectors(rules.policy)


def test_a_port_scan_is_one_finding_with_its_ports_counted() -> None:
    """Contacts are per (host, remote): many ports fold into one record (memory bounded by design)."""
    from hikscan.passive.contacts import MAX_PORTS, ContactTable

    table = ContactTable(max_contacts=10, per_host=2)
    for port in range(1, 1001):
        table.fold("10.0.0.5", "203.0.113.9", 1.0, 2.0, 1, 60, (port, 6), True)
    [contact] = list(table)
    assert contact.flows == 1000 and contact.attempts == 1000
    assert len(contact.port_counts()) == MAX_PORTS and contact.ports_folded == 1000 - MAX_PORTS
    for remote in ("203.0.113.10", "203.0.113.11"):
        table.fold("10.0.0.5", remote, 1.0, 2.0, 1, 60, (80, 6), True)
    assert len(table) == 2 and table.dropped["10.0.0.5"] == 1  # per-host cap, counted


def test_remote_is_enriched_once_and_names_the_contacts_main_port() -> None:
    """Engine.remote: the main port is the head of the port list (ties, unnamed protocols), the address is
    parsed once per remote, and the round trip is read by the packed address."""
    from hikscan.passive.contacts import Contact
    from hikscan.passive.detectors.base import CloudMatch

    engine = Engine(RULES, GEO, OUI)
    engine.round_trips.samples[bytes([203, 0, 113, 9])] = [0.01234, 1]
    contact = Contact("10.0.0.5", "203.0.113.9", 1.0, 2.0)
    cases = (
        ({}, (0, "?"), []),
        ({(443, 6): 2, (80, 6): 2, (53, 17): 1}, (80, "tcp"), ["80/tcp", "443/tcp", "53/udp"]),
        ({(9000, 47): 3, (8000, 6): 3}, (8000, "tcp"), ["8000/tcp", "9000/47"]),
    )
    for ports, main, listed in cases:
        contact.ports = ()
        for port, flows in ports.items():
            contact.count_port(port, flows)
        remote = engine.remote(contact, CloudMatch())
        assert (remote.port, remote.proto) == main
        assert list(remote.ports) == contact.port_list() == listed
        assert remote.rtt_ms == 12.34
    trips = engine.round_trips
    assert trips._packed == {"203.0.113.9": bytes([203, 0, 113, 9])}
    assert trips.ms("not an address") is None and trips._packed["not an address"] is None


def _many_hosts(hosts: int) -> Engine:
    """`hosts` cameras (the Hikvision OUI) each with one flow to the same external server."""
    engine = Engine(RULES, GEO, OUI)
    gateway = bytes.fromhex("020000000001")
    for i in range(hosts):
        host, mac = bytes([10, 9, i >> 8, i & 255]), bytes([0x58, 0x50, 0xED, 0, i >> 8, i & 255])
        t = 1_700_000_000.0 + i / 100
        engine.fold_record(
            t, t + 1, host, 40_000, bytes([45, 33, 0, 1]), 443, 6, (3, 300), (2, 120), (mac, gateway)
        )
    engine.finish()
    return engine


def test_the_report_builds_one_device_at_a_time() -> None:
    """A capture showing 20,000 cameras, each with a finding: the detectors' memo of Devices stays within
    MAX_DEVICES and the device stream builds each Device as it is reached, keeping none. Both kept a Device
    per host (~1,390 bytes a host here; 14 MiB more at the peak of a capture of 60,000 hosts); ~690 remain:
    the findings spool's 4 MiB in memory, the per-device caps and the index of contacts by host."""
    import tracemalloc

    from hikscan.passive.engine import MAX_DEVICES

    engine = _many_hosts(20_000)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        findings = sum(1 for _ in engine.finding_stream())
        cameras = sum(1 for device in engine.cctv_device_stream() if device.vendor == "Hikvision")
        held = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert findings == cameras == 20_000 and len(engine._devices) <= MAX_DEVICES
    assert held < 20_000 * 1_000, f"{held / 20_000:.0f} bytes a host"


def test_an_intranet_crowd_hides_none_of_the_fleets_cloud_names(tmp_path: Path) -> None:
    """The bench's many-hosts traffic in small: 4,000 LAN hosts each fetch a page from an intranet server
    (with a Host header), then a fleet of cameras reaches its clouds (TLS ClientHellos with vendor-cloud
    SNI). Names are kept for external servers only, so the crowd spends none of the name table (here a
    tenth of its 10 MiB, which the crowd's 4,000 pairs would more than fill) and the fleet's findings,
    vendor-cloud ones included, are those of the fleet captured alone."""
    import random

    from script_module import load_script

    from hikscan.lab import capwrite

    make = load_script("make_bench_pcap")
    fleet = [frame for flow in make.build_many_findings(random.Random(4), 40, 60, 600) for frame in flow]
    crowd = make.lan_crowd(4_000)

    def findings(frames: list[bytes]) -> tuple[set[tuple[object, ...]], Engine]:
        path = tmp_path / "capture.pcap"
        path.write_bytes(
            capwrite.pcap_header()
            + b"".join(
                capwrite.pcap_record(1_700_000_000 + i // 1000, i % 1000, f) for i, f in enumerate(frames)
            )
        )
        engine = Engine(RULES, GEO, OUI)
        engine.names.max_bytes = 2**20
        engine.run_files([path])
        engine.finish()
        return {(f.rule, f.device.get("ip"), f.remote.ip, f.remote.name) for f in engine.findings()}, engine

    alone, _ = findings(fleet)
    together, engine = findings(crowd + fleet)
    assert together == alone
    assert sum(rule == "cctv-to-vendor-cloud" for rule, *_ in alone) >= 20
    assert engine.names.dropped == 0
