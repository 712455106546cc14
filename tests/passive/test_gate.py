"""passive.gate: the payloads the compiled loop keeps from the inspectors are ones they would ignore.

Three checks: the gate says yes to every payload a source would read (the inspectors' own tables and the
P2P matcher, and every example of every signature in the rules); reports are the same with the gate and
without it on the bundled, real and benchmark captures; and the gate's decisions for the C loop are
tested packet by packet in test_fastloop.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pcaputil import shared_real_dir
from script_module import load_script

from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import load_rules
from hikscan.passive import pipeline
from hikscan.passive.engine import Engine
from hikscan.passive.gate import TCP, UDP, PayloadGate
from hikscan.passive.payload import Inspector
from hikscan.protocols import p2p

ROOT = Path(__file__).resolve().parents[2]
RULES = load_rules()
GEO = GeoLookup()
OUI = OuiTable.load()
UNICAST, BROADCAST = b"\x00\x11\x22\x33\x44\x55", b"\xff" * 6


def _inspector() -> tuple[Inspector, PayloadGate]:
    inspector = Engine(RULES, GEO, OUI).inspector
    gate = inspector.gate()
    assert gate is not None
    return inspector, gate


def _read_by_some_source(inspector: Inspector, proto: int, sport: int, dport: int, payload: bytes) -> bool:
    """What on_payload's own tables say (a source's port or first byte, or a P2P signature possible)."""
    if proto == UDP and (sport in inspector._udp_ports or dport in inspector._udp_ports):
        return True
    if proto == TCP and payload[0] in inspector._tcp_first:
        return True
    return p2p.matcher(RULES.signatures).possible(proto, sport, dport, payload)


def _interesting_ports(inspector: Inspector) -> list[int]:
    """Every port a source or a bound signature listens on, and some others."""
    matcher = p2p.matcher(RULES.signatures)
    bound = [port for ports in matcher.bound.values() for port in ports]
    return sorted({*inspector._udp_ports, *bound, 0, 1, 80, 443, 554, 8000, 40000, 65535})


INSPECTOR, GATE = _inspector()
PORTS = st.one_of(st.sampled_from(_interesting_ports(INSPECTOR)), st.integers(0, 65535))
PAYLOADS = st.binary(min_size=1, max_size=40) | st.binary(min_size=1400, max_size=1600)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from([TCP, UDP]), PORTS, PORTS, PAYLOADS)
def test_every_payload_a_source_reads_is_let_through(
    proto: int, sport: int, dport: int, payload: bytes
) -> None:
    """Unicast: the gate says exactly what on_payload's own tables say. Broadcast: always yes."""
    assert GATE.wanted(UNICAST, proto, sport, dport, payload) == _read_by_some_source(
        INSPECTOR, proto, sport, dport, payload
    )
    assert GATE.wanted(BROADCAST, proto, sport, dport, payload)  # the sender may be placed


def test_every_signature_example_is_let_through() -> None:
    """Each example payload of each signature in the rules, on its port (or an ephemeral one), either way."""
    checked = 0
    for sig in RULES.signatures:
        for example in sig.examples:
            if example.get("expect", "match") is None:
                continue
            payload, port = bytes.fromhex(example["hex"]), example.get("port", 40001)
            for proto in (sig.proto,) if sig.proto is not None else (TCP, UDP):
                assert GATE.wanted(UNICAST, proto, 40000, port, payload), sig.id
                assert GATE.wanted(UNICAST, proto, port, 40000, payload), sig.id
                checked += 1
    assert checked >= len(RULES.signatures)  # at least one example each


def test_the_gate_says_no_only_to_unicast_tcp_or_udp_nobody_reads() -> None:
    tls_record = bytes([0x17, 0x03, 0x03, 0x00, 0x20]) + bytes(32)  # TLS application data on 443
    assert not GATE.wanted(UNICAST, TCP, 50000, 443, tls_record)
    assert not GATE.wanted(UNICAST, TCP, 50000, 40001, bytes(2000))  # past what P2P scans, no source's byte
    assert GATE.wanted(UNICAST, 1, 0, 0, bytes(8))  # not TCP or UDP: on_payload decides
    assert GATE.wanted(BROADCAST, TCP, 50000, 443, tls_record)
    learnt = PayloadGate(GATE.tcp, GATE.udp, GATE.max_scan, {b"\xc0\xa8\x01"})
    assert learnt.wanted(UNICAST, TCP, 50000, 443, tls_record)  # a learnt /24: senders may be placed
    assert GATE.learnt is INSPECTOR.locality.prefixes  # the live set, which the C loop reads each time


def _bench_capture(tmp: Path, profile: str) -> Path:
    make = load_script("make_bench_pcap")
    path = tmp / f"{profile}.pcap"
    make.write_capture(path, 30_000, seed=5, profile=profile)
    return path


def _report(path: Path, gated: bool) -> dict[str, Any]:
    engine = Engine(RULES, GEO, OUI)
    if not gated:
        engine.inspector.gate = lambda: None  # type: ignore[method-assign]
    stats = engine.run_files([path]).to_dict()
    stats.pop("seconds")
    engine.finish()
    return {
        "findings": [f.to_dict() for f in engine.findings()],
        "devices": [d.to_dict() for d in engine.cctv_devices()],
        "stats": stats,
        "extra": engine.extra_stats(),
    }


def _captures() -> list[Path]:
    shared = shared_real_dir()
    found = [*(ROOT / "pcaps").glob("*.pcap*"), *(ROOT / "pcaps" / "real").iterdir()]
    found += sorted(shared.glob("*.pcap*")) if shared is not None else []
    return sorted(p for p in found if p.is_file())


@pytest.mark.skipif(pipeline._fastloop is None, reason="the gate is used by the compiled loop only")
def test_reports_are_the_same_with_the_gate_and_without(tmp_path: Path) -> None:
    paths = _captures() + [_bench_capture(tmp_path, p) for p in ("lan", "many-findings")]
    compared = 0
    for path in paths:
        try:
            with_gate = _report(path, gated=True)
        except Exception as exc:  # a capture the engine refuses is refused either way
            with pytest.raises(type(exc)):
                _report(path, gated=False)
            continue
        assert with_gate == _report(path, gated=False), path.name
        compared += 1
    assert compared >= 20
