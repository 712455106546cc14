"""`hikscan scan --import nmap.xml`: nmap's service evidence joins the inventory through the scan's fusion.

tests/data/nmap/lab-loopback.xml is real nmap 7.93 output: `nmap -sV -Pn -n -p 80,554,8000,37777
--script http-server-header,http-title,http-auth,rtsp-methods -oX lab-loopback.xml 127.79.3.10-19`
run against `hikscan lab --loopback --base 127.79.3.` (the standard lab profiles, in the order
`hikscan.lab.profiles.default_lab` lists them).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import samples
from hypothesis import HealthCheck, given, settings

from hikscan.active.nmap_import import parse_nmap_xml
from hikscan.cli.app import main
from hikscan.errors import MalformedInput
from hikscan.lab.profiles import default_lab
from hikscan.lab.server import Lab

XML = Path(__file__).resolve().parents[1] / "data" / "nmap" / "lab-loopback.xml"
FUZZ = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def evidence(obs: object) -> set[tuple[str, str]]:
    return {(e.key, e.value) for e in obs.evidence}  # type: ignore[attr-defined]


def test_real_nmap_report_becomes_observations() -> None:
    found = {obs.ip: obs for obs in parse_nmap_xml(XML.read_bytes())}
    assert sorted(found) == [f"127.79.3.{n}" for n in range(10, 19)]  # .19 has no open port
    hik = evidence(found["127.79.3.10"])
    assert {("nmap.service", "80/http"), ("nmap.product", "App-webs/"), ("http.server", "App-webs/"),
            ("nmap.product", "Hikvision IPCam control port")} <= hik  # fmt: skip
    assert ("rtsp.realm", "IP Camera(42150)") in hik  # from the raw RTSP reply under fingerprint-strings
    dahua = evidence(found["127.79.3.15"])
    assert {("http.title", "WEB SERVICE"), ("rtsp.server", "Dahua Rtsp Server")} <= dahua
    axis = evidence(found["127.79.3.17"])
    assert ("http.realm", "AXIS_ACCC8E123456") in axis  # http-auth output, unquoted realm
    assert all(obs.probe == "nmap" for obs in found.values())


def test_scan_import_alone_fuses_into_an_inventory(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    assert main(["scan", "--import", str(XML), "-f", "json", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    vendors = {d["ip"]: d["vendor"] for d in report["devices"]}
    profiles = default_lab(base="127.79.3.")
    for profile in profiles[:9]:
        family = {"LTS": "Hikvision", "CP PLUS": "Dahua"}.get(profile.vendor, profile.vendor)
        if family in ("Hikvision", "Dahua"):
            assert vendors[profile.ip] == family, profile
        else:
            assert vendors[profile.ip] is None, profile
    assert report["meta"]["inputs"] == [str(XML)]


def test_import_joins_the_devices_a_scan_finds(tmp_path: Path) -> None:
    base = f"127.79.{100 + os.getpid() % 150}."
    profiles = default_lab(base=base)
    lab = Lab(profiles)
    stop = threading.Event()
    runner = threading.Thread(target=lab.run, args=(stop,), daemon=True)
    runner.start()
    xml = tmp_path / "nmap.xml"
    xml.write_text(XML.read_text().replace("127.79.3.", base))
    out = tmp_path / "scan.json"
    try:
        assert lab.ready.wait(10)
        target = profiles[0].ip
        args = ["scan", target, "--probes", "http", "--timeout", "1", "--import", str(xml), "-f", "json"]
        assert main([*args, "-o", str(out)]) == 0
    finally:
        stop.set()
        runner.join(5)
    devices = {d["ip"]: d for d in json.loads(out.read_text())["devices"]}
    sources = {e["source"] for e in devices[profiles[0].ip]["evidence"]}
    assert "nmap" in sources and len(sources) > 1  # the HTTP probe's evidence and nmap's, one device
    assert devices[profiles[0].ip]["vendor"] == "Hikvision"


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE nmaprun [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<nmaprun>&b;</nmaprun>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><nmaprun>&e;</nmaprun>',
        b"<scan><host/></scan>",
        b"<nmaprun><host><address addr=",
        b"\x00\xff" * 100,
    ],
    ids=["entity-bomb", "external-entity", "not-nmap", "truncated", "binary"],
)
def test_hostile_or_broken_xml_is_refused(
    data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(MalformedInput):
        parse_nmap_xml(data)
    bad = tmp_path / "bad.xml"
    bad.write_bytes(data)
    assert main(["scan", "--import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hikscan: error:") and err.count("\n") == 1


@FUZZ
@given(samples.mutated([XML.read_bytes()[:6000] + b"</ports></host></nmaprun>"], max_edits=6))
def test_fuzz_parser_returns_observations_or_malformed_input(data: bytes) -> None:
    try:
        found = parse_nmap_xml(data)
    except MalformedInput:
        return
    assert all(isinstance(obs.ip, str) for obs in found)
