"""Fusion: observations -> one Device per host, merged by device-reported MAC then IP, with conflicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hikscan.active.base import Observation
from hikscan.active.fusion import Fusion, fuse, summarise
from hikscan.protocols import sadp
from hikscan.report.model import Device, Evidence

DATA = Path(__file__).parents[1] / "data" / "active"


def real_sadp() -> Observation:
    reply = sadp.parse_sadp((DATA / "sadp_response_2_DS-2CD2385G1-I.xml").read_bytes())
    return Observation("10.77.0.10", reply.mac, sadp.evidence(reply), "sadp")


def toy_identify(evidence: list[Evidence]) -> dict[str, object]:
    """A stand-in engine for the merge/conflict mechanics: vendor from SADP or an OUI org."""
    vendor = None
    conf = 0.0
    for e in evidence:
        if e.key == "sadp.DeviceDescription":
            vendor, conf = "Hikvision", 0.9
        elif e.key == "mac.org" and vendor is None:
            vendor = {"Hangzhou Hikvision Digital Technology Co.,Ltd.": "Hikvision", "Axis": "Axis"}.get(
                e.value
            )
            conf = 0.3
    return {"vendor": vendor, "confidence": conf}


def test_sadp_fields_fill_the_device_record():
    dev = fuse([real_sadp()], toy_identify)
    assert dev.ip == "10.77.0.10" and dev.mac == "58:50:ed:1f:e3:85"
    assert (dev.vendor, dev.model) == ("Hikvision", "DS-2CD2385G1-I")
    assert dev.serial == "DS-2CD2385G1-I20200414AAWRE33842150"
    assert dev.firmware == "V5.6.2 build 190701"
    assert dev.activated is True and dev.cloud_enabled is False  # HCPlatformEnable is `flase`
    assert dev.confidence == pytest.approx(0.9)
    assert any(e.key == "mac.address" for e in dev.evidence)


def test_merge_by_ip_then_by_device_reported_mac():
    f = Fusion(toy_identify)
    f.add(real_sadp())
    f.add(Observation("10.77.0.10", None, [Evidence("http", "http.server", "App-webs/")], "http"))
    # the same device (same SADP MAC) answering from a second address is one record
    second = real_sadp()
    second.ip = "192.168.124.40"
    f.add(second)
    f.add(Observation("10.77.0.11", None, [Evidence("rtsp", "rtsp.server", "GStreamer")], "rtsp"))
    devices = f.devices()
    assert len(devices) == 2
    hik = next(d for d in devices if d.mac == "58:50:ed:1f:e3:85")
    assert {e.key for e in hik.evidence} >= {"sadp.DeviceSN", "http.server"}
    assert any(c.startswith("ip:") and "192.168.124.40" in c for c in hik.conflicts)


def test_wire_macs_never_merge_hosts():
    f = Fusion(toy_identify)
    for ip in ("10.77.0.20", "10.77.0.21"):
        f.add(
            Observation(ip, "02:00:00:00:00:01", [Evidence("arp", "mac.address", "02:00:00:00:00:01")], "arp")
        )
    assert len(f.devices()) == 2


def test_oem_rebrand_non_hikvision_mac_with_hikvision_sadp_is_hikvision_and_conflict_recorded():
    obs = real_sadp()
    obs.mac = "ac:cc:8e:12:34:56"
    obs.evidence = [e for e in obs.evidence if e.key != "sadp.MAC"]

    def oui(mac: str) -> str | None:
        return "Axis" if mac.startswith("ac:cc:8e") else None

    dev = fuse([obs], toy_identify, oui_lookup=oui)
    assert dev.vendor == "Hikvision"
    assert ("mac.org", "Axis") in {(e.key, e.value) for e in dev.evidence}
    assert any("mac says Axis" in c and "sadp says Hikvision" in c for c in dev.conflicts)


def test_model_disagreement_is_shown():
    obs = real_sadp()
    other = Observation("10.77.0.10", None, [Evidence("onvif", "onvif.Model", "DS-2CD2020F-I")], "onvif")
    dev = fuse([obs, other], toy_identify)
    assert any(c.startswith("model:") and "DS-2CD2020F-I" in c for c in dev.conflicts)


def test_hostile_evidence_marks_the_device():
    obs = Observation(
        "10.77.0.30", None, [Evidence("onvif", "hostile", "onvif: forbidden XML construct")], "onvif"
    )
    dev = fuse([obs, real_sadp()], toy_identify)
    assert dev.hostile == ["onvif: forbidden XML construct"]


def test_summary_counts():
    devs = [
        Device(ip="a", vendor="Hikvision", activated=False, cloud_enabled=True, cves=["CVE-2017-7921"]),
        Device(ip="b", vendor="Hikvision", activated=True),
        Device(ip="c", vendor="Dahua", hostile=["x"]),
        Device(ip="d"),
    ]
    s = summarise(devs)
    assert s["hosts"] == 4 and s["cctv_vendor_devices"] == 3
    assert s["by_vendor"] == {"Dahua": 1, "Hikvision": 2, "unknown": 1}
    assert (s["unactivated"], s["cloud_enabled"], s["with_cves"], s["hostile"]) == (1, 1, 1, 1)
    assert s["headline"] == "2 of 4 devices are Hikvision"


def test_real_engine_oem_rebrand():
    fingerprint = pytest.importorskip("hikscan.knowledge.fingerprint")
    from hikscan.knowledge.rules import load_rules

    rules = load_rules()
    obs = real_sadp()
    obs.mac = "14:2f:fd:5e:6f:70"  # LT Security (an LTS OEM rebrand of Hikvision)
    obs.evidence = [e for e in obs.evidence if e.key != "sadp.MAC"]
    dev = fuse([obs], lambda ev: fingerprint.identify(ev, rules), oui_lookup=lambda m: "LT Security Inc")
    assert dev.vendor == "Hikvision"
    assert dev.model == "DS-2CD2385G1-I"
