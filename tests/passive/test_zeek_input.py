"""`hikscan analyze` on Zeek logs gives the findings it gives on the capture the logs came from.

The logs are written from each capture by scripts/make_zeek_logs.py (Zeek is not installable here, so
they are ours, in Zeek's exact TSV and JSON formats). Zeek does not log discovery announcements (SADP,
WS-Discovery, DHIP), server banners or payload bytes, so device models and firmware are not expected
to match; findings (rule, severity, device and its vendor, remote, name, country, packets) and CCTV
device vendors are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pcaputil import shared_real_dir
from script_module import load_script

from hikscan.cli.app import main

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
SHARED = shared_real_dir()
REAL_ZEEK = ROOT / "tests" / "data" / "zeek" / "real"
# the committed captures of the manifest; the shared (uncommittable) ones are compared below
CAPTURES = sorted(
    {
        e["file"]
        for e in yaml.safe_load((PCAPS / "manifest.yaml").read_text())["captures"]
        if not e.get("shared")
    }
)
SHARED_CAPTURES = sorted(p.name for p in SHARED.glob("*.pcap*")) if SHARED is not None else []


def _script() -> Any:
    return load_script("make_zeek_logs")


MAKE = _script()


def analyse(source: Path, out: Path) -> dict[str, Any]:
    assert main(["analyze", str(source), "-f", "json", "-o", str(out), "--fail-on", "none", "-j", "1"]) == 0
    return dict(json.loads(out.read_text()))


def finding_key(f: dict[str, Any]) -> tuple[Any, ...]:
    d, r = f["device"], f["remote"]
    return (f["rule"], f["severity"], d["ip"], d.get("vendor"), r["ip"], r["port"], r["proto"],
            r.get("name"), r.get("country"), r.get("owner"), f["packets"])  # fmt: skip


# Captures whose evidence Zeek's logs cannot carry: payload byte signatures (P2P hellos), SSDP/mDNS
# announcements, UDP keep-alive timing inside one conversation (beacons), link-local IPv6 placement.
# For them the logs must give a subset of the capture's findings, never a more severe one.
PAYLOAD_ONLY = {
    "alibaba_us_p2p.pcap", "beacon_camera.pcap", "ipv6_vlan_hk.pcapng",
    "real/IoT_Sentinel__D-LinkCam_Setup-A-2-STA.pcap", "real/IoT_Sentinel__D-LinkDayCam_Setup-C-1-STA.pcap",
    "real/IoT_Sentinel__EdimaxCam1_Setup-A-3-STA.pcap",
    "real/andypitcher__IoT_Sentinel__D-LinkCam_Setup-A-4-STA.pcap",
    "real/andypitcher__IoT_Sentinel__EdimaxCam2_Setup-A-3-STA.pcap",
    "tj-oconnor__IoT-Dataset__blink-cam-01.pcap",
    "tj-oconnor__IoT-Dataset__lockly-hub-01.pcap", "tj-oconnor__IoT-Dataset__sifely-hub-01.pcap",
}  # fmt: skip
RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}


def compare(capture: Path, tmp: Path, as_json: bool, exact: bool = True) -> int:
    logs = tmp / "logs"
    written = MAKE.write_logs(capture, logs, as_json)
    from_capture = analyse(capture, tmp / "capture.json")
    from_logs = analyse(logs, tmp / "zeek.json")
    assert from_logs["stats"][0]["format"] == "zeek" and from_logs["stats"][0]["bad_records"] == {}
    assert len(from_logs["stats"][0]["logs"]) == len(written)
    want = sorted(map(finding_key, from_capture["findings"]))
    vendors = {d["ip"]: d["vendor"] for d in from_capture["devices"]}
    got_vendors = {d["ip"]: d["vendor"] for d in from_logs["devices"]}
    if exact:
        assert sorted(map(finding_key, from_logs["findings"])) == want
        assert got_vendors == vendors
        return len(want)
    worst: dict[tuple[Any, Any], int] = {}
    for f in from_capture["findings"]:
        pair = (f["device"]["ip"], f["remote"]["ip"])
        worst[pair] = max(worst.get(pair, -1), RANK[f["severity"]])
    for f in from_logs["findings"]:
        pair = (f["device"]["ip"], f["remote"]["ip"])
        assert pair in worst and RANK[f["severity"]] <= worst[pair], (f["rule"], pair, f["severity"])
    assert all(vendors.get(ip) == vendor for ip, vendor in got_vendors.items())
    return len(from_logs["findings"])


@pytest.mark.parametrize("as_json", [False, True], ids=["tsv", "json"])
@pytest.mark.parametrize("capture", CAPTURES)
def test_zeek_logs_give_the_capture_findings(capture: str, as_json: bool, tmp_path: Path) -> None:
    compare(
        PCAPS / capture,
        tmp_path,
        as_json,
        exact=Path(capture).name not in {Path(p).name for p in PAYLOAD_ONLY},
    )


def test_the_scenarios_have_findings_to_compare(tmp_path: Path) -> None:
    """The comparison is not vacuous: the incident scenario has high findings and failed attempts."""
    assert compare(PCAPS / "incident_fleet_china.pcapng", tmp_path, False) >= 8
    conn = (tmp_path / "logs" / "conn.log").read_text()
    assert "\tS0\t" in conn and "\tSF\t" in conn and "58:50:ed:30:4d:8f" in conn


@pytest.mark.skipif(not SHARED_CAPTURES, reason="../shared/data/pcaps-real not present")
@pytest.mark.parametrize("capture", SHARED_CAPTURES)
def test_real_third_party_captures(capture: str, tmp_path: Path) -> None:
    assert SHARED is not None
    compare(
        SHARED / capture,
        tmp_path,
        False,
        exact=Path(capture).name not in {Path(p).name for p in PAYLOAD_ONLY},
    )


def test_real_zeek_logs_are_read(tmp_path: Path) -> None:
    report = analyse(REAL_ZEEK, tmp_path / "r.json")
    stats = report["stats"][0]
    assert stats["records"] == {"conn": 13, "ssl": 1, "http": 5} and stats["bad_records"] == {}
    assert stats["packets"] == sum([16, 4, 4, 4, 4, 16, 16, 2, 2, 2, 8, 16, 24])  # orig_pkts + resp_pkts


def test_bad_records_are_counted_and_the_rest_analysed(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    MAKE.write_logs(PCAPS / "hikconnect_registration.pcap", logs)
    conn = (logs / "conn.log").read_text().splitlines(keepends=True)
    row = conn[8].split("\t")
    hostile = [
        "\t".join([row[0], row[1], "not-an-ip", *row[3:]]),
        "\t".join([*row[:16], "-5", *row[17:]]),
        "\t".join([*row[:6], "sctp", *row[7:]]),
        "\t".join([*row[:16], "inf", *row[17:]]),  # a count no flow has: once an internal error
        "\t".join([*row[:16], "1e300", *row[17:]]),
        "\t".join([*row[:16], "nan", *row[17:]]),
    ]
    (logs / "conn.log").write_text("".join(conn[:9] + hostile + conn[9:]))
    report = analyse(logs, tmp_path / "r.json")
    stats = report["stats"][0]
    assert stats["bad_records"] == {
        "conn: bad address": 1,
        "conn: negative count": 1,
        "conn: number out of range": 2,
        "conn: bad number": 1,
    }
    assert stats["ignored_records"] == {"conn: sctp": 1}  # Zeek's unknown transports: not flows hikscan keeps
    assert len(report["findings"]) == 4


def test_not_zeek_and_not_a_capture_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "conn.log"
    text.write_text("ts uid id.orig_h\n")
    assert main(["analyze", str(text)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hikscan: error:") and err.count("\n") == 1
