"""Replay each capture of pcaps/manifest.yaml through `hikscan analyze`: what it must and must not produce.

The clean captures are the false-positive gate: `max_severity: none` means not a single finding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pcaputil import capture_path

from hikscan.cli.app import main
from hikscan.report.model import severity_rank

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"
MANIFEST = yaml.safe_load((PCAPS / "manifest.yaml").read_text())["captures"]


def flat(finding: dict[str, Any]) -> dict[str, Any]:
    device, remote = finding["device"], finding["remote"]
    return {
        "rule": finding["rule"],
        "severity": finding["severity"],
        "device_ip": device.get("ip"),
        "device_mac": device.get("mac"),
        "device_vendor": device.get("vendor"),
        "remote_ip": remote["ip"],
        "remote_port": remote["port"],
        "remote_proto": remote["proto"],
        "remote_name": remote.get("name"),
        "remote_country": remote.get("country"),
        "remote_asn": remote.get("asn"),
        "remote_owner": remote.get("owner"),
        "remote_owner_country": remote.get("owner_country"),
        # every database's opinion, "DB-IP:US RIR:CN" (the report shows both; `remote_country` is the riskier)
        "remote_located": " ".join(f"{db}:{cc}" for db, cc in remote.get("located") or ()),
    }


def matches(finding: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(finding.get(key) == value for key, value in want.items())


def analyse(entry: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = tmp_path / "report.json"
    path = capture_path(entry)
    if path is None:
        pytest.skip("../shared/data/pcaps-real is absent (capture not committed: licence)")
    args = ["analyze", str(path), "--format", "json", "-o", str(out), "--fail-on", "none"]
    if entry.get("home_country"):
        args += ["--home-country", entry["home_country"]]
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(out.read_text())


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_capture_meets_manifest(
    entry: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = analyse(entry, tmp_path, capsys)
    findings = [flat(f) for f in report["findings"]]
    for want in entry.get("must", []):
        assert any(matches(f, want) for f in findings), f"no finding matches {want}; got {findings}"
    for never in entry.get("must_not", []):
        bad = [f for f in findings if matches(f, never)]
        assert not bad, f"findings match must_not {never}: {bad}"
    ceiling = entry.get("max_severity", "high")
    if ceiling == "none":
        assert findings == [], f"clean capture produced findings: {findings}"
    else:
        too_high = [f for f in findings if severity_rank(f["severity"]) > severity_rank(ceiling)]
        assert not too_high, f"findings above {ceiling}: {too_high}"
    for want in entry.get("devices", []):
        assert any(matches(d, want) for d in report["devices"]), (
            f"no device matches {want}; got {report['devices']}"
        )
    if "cctv_ips" in entry:
        reported = sorted(d["ip"] for d in report["devices"])
        assert reported == sorted(entry["cctv_ips"]), f"CCTV devices {reported}, expected {entry['cctv_ips']}"
