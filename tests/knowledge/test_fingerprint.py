"""The fingerprint engine on whole devices, with evidence taken from real replies in tests/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from defusedxml import ElementTree

from hikscan.knowledge.fingerprint import identify, match_value, to_bool
from hikscan.knowledge.rules import default_rules
from hikscan.report.model import Evidence

ACTIVE = Path(__file__).parents[1] / "data" / "active"
RULES = default_rules()


def sadp_evidence(name: str) -> list[Evidence]:
    root = ElementTree.fromstring((ACTIVE / name).read_bytes())
    return [Evidence("sadp", f"sadp.{el.tag}", (el.text or "").strip()) for el in root]


def onvif_scopes(name: str) -> list[Evidence]:
    text = (ACTIVE / name).read_text()
    scopes = text.split("<d:Scopes>", 1)[1].split("</d:Scopes>", 1)[0].split()
    return [Evidence("onvif", "onvif.scope", s) for s in scopes]


def dhip_evidence() -> list[Evidence]:
    info = json.loads((ACTIVE / "dahua_dhip_response_IPC-HDW1431T1-S4.json").read_text())["params"][
        "deviceInfo"
    ]
    return [Evidence("dhip", f"dhip.{k}", str(v)) for k, v in info.items() if not isinstance(v, dict)]


def mac(org: str) -> Evidence:
    return Evidence("mac", "mac.org", org)


def test_sadp_reply_gives_full_identity() -> None:
    v = identify(sadp_evidence("sadp_response_1_DS-2CD2320D-I.xml"), RULES)
    assert (v.vendor, v.family, v.model) == ("Hikvision", "hikvision", "DS-2CD2320D-I")
    assert v.firmware == "V5.5.6build 180326"
    assert v.serial == "DS-2CD2320D-I20180919AACHC52932642"
    assert v.activated is True
    assert v.cloud_enabled is False  # "flase"
    assert v.confidence == pytest.approx(0.9)  # many SADP fields are one observation
    assert v.conflicts == []
    assert "sadp-any-reply" in v.matched_rules


def test_oui_plus_server_header_combine() -> None:
    v = identify(
        [mac("Hangzhou Hikvision Digital Technology"), Evidence("http", "http.server", "DNVRS-Webs")], RULES
    )
    assert v.vendor == "Hikvision"
    assert v.confidence == pytest.approx(0.8)  # 1 - (1-0.5)(1-0.6)


def test_two_weak_signals_beat_one() -> None:
    one = identify([Evidence("http", "http.title", "WEB SERVICE")], RULES)
    two = identify(
        [Evidence("http", "http.title", "WEB SERVICE"), Evidence("rtsp", "rtsp.server", "Dahua Rtsp Server")]
    )
    assert one.vendor == two.vendor == "Dahua"
    assert two.confidence > one.confidence


def test_oem_rebrand_sadp_outranks_foreign_oui() -> None:
    """A Dahua-registered MAC answering SADP: the SADP reply (device's own firmware) wins."""
    ev = [mac("Zhejiang Dahua Technology"), *sadp_evidence("sadp_response_2_DS-2CD2385G1-I.xml")]
    v = identify(ev, RULES)
    assert (v.vendor, v.family, v.model) == ("Hikvision", "hikvision", "DS-2CD2385G1-I")
    assert len(v.conflicts) == 1 and "Dahua" in v.conflicts[0] and "mac.org" in v.conflicts[0]


def test_identity_wins_even_against_more_total_confidence() -> None:
    ev = [
        mac("Zhejiang Dahua Technology"),
        Evidence("rtsp", "rtsp.server", "Dahua Rtsp Server"),
        Evidence("http", "http.favicon_mmh3", "1653394551"),
        Evidence("sadp", "sadp.DeviceDescription", "DS-2CD2320D-I"),
    ]
    v = identify(ev, RULES)
    assert v.family == "hikvision" and v.conflicts


def test_brand_within_family_kept() -> None:
    """EZVIZ MAC + SADP: the family is Hikvision's, the brand the OUI's."""
    v = identify([mac("Hangzhou Ezviz Software"), *sadp_evidence("sadp_response_1_DS-2CD2320D-I.xml")])
    assert (v.vendor, v.family) == ("EZVIZ", "hikvision")
    assert v.conflicts == []


def test_hikvision_onvif_probe_match() -> None:
    ev = onvif_scopes("onvif_probematch_hikvision_DS-2CD2385G1-I_body.xml")
    v = identify(ev, RULES)
    assert (v.vendor, v.model) == ("Hikvision", "DS-2CD2385G1-I")


def test_dahua_onvif_hello() -> None:
    v = identify(onvif_scopes("onvif_hello_dahua_IPC-HFW2228M-I1-V2.xml"), RULES)
    assert (v.vendor, v.family, v.model) == ("Dahua", "dahua", "IPC-HFW2228M-I1-V2")


def test_cpplus_scopes_are_a_dahua_oem() -> None:
    sets = json.loads((ACTIVE / "onvif_scopes_dahua_and_cpplus_oem.json").read_text())
    for entry in sets[1:]:
        v = identify([Evidence("onvif", "onvif.scope", s) for s in entry["scopes"]], RULES)
        assert (v.vendor, v.family, v.model) == ("CP PLUS", "dahua", entry["hardware"])


def test_dhip_oem_build_private_vendor_is_still_dahua_family() -> None:
    ev = [mac("Zhejiang Dahua Technology"), *dhip_evidence()]
    v = identify(ev, RULES)
    assert (v.vendor, v.family, v.model) == ("Dahua", "dahua", "IPC-HDW1431T1-S4")
    assert (v.serial, v.firmware) == ("6C01E93PAG69A7D", "2.800.0000000.13.R")
    assert "dhip-vendor" not in v.matched_rules  # "Private" names no vendor


def test_hikvision_firmware_under_another_brand() -> None:
    ev = [
        Evidence("onvif", "onvif.Manufacturer", "truVision"),
        Evidence("onvif", "onvif.FirmwareVersion", "V5.4.0 build 160530"),
    ]
    v = identify(ev, RULES)
    assert (v.vendor, v.family, v.firmware) == ("Interlogix", "hikvision", "V5.4.0 build 160530")


def test_family_only_evidence_names_the_root_vendor() -> None:
    v = identify([Evidence("onvif", "onvif.FirmwareVersion", "V5.4.0 build 160530")], RULES)
    assert (v.vendor, v.family) == ("Hikvision", "hikvision")
    assert v.confidence == pytest.approx(0.4)


def test_negatives_identify_nothing() -> None:
    ev = [
        Evidence("telnet", "telnet.banner", "NetDVRDVS: "),
        Evidence("http", "http.server", "GoAhead-Webs"),
        Evidence("onvif", "onvif.scope", "onvif://www.onvif.org/type/Network_Video_Transmitter"),
        Evidence("onvif", "onvif.Manufacturer", "Private"),
    ]
    v = identify(ev, RULES)
    assert v.vendor is None and v.family is None and v.confidence == 0.0 and v.matches == []
    assert identify([], RULES).vendor is None


def test_axis_is_cctv_but_not_chinese() -> None:
    v = identify([mac("Axis Communications AB")], RULES)
    assert v.vendor == "Axis"
    assert RULES.vendor(v.vendor).cctv and RULES.vendor(v.vendor).country == "SE"


def test_match_value_orders_by_rule_set() -> None:
    hits = match_value("onvif.FirmwareVersion", "V5.4.0 build 160530", RULES)
    assert [m.rule_id for m in hits] == ["hikvision-firmware-family-onvif", "onvif-firmware"]
    assert match_value("no.such", "x", RULES) == []


def test_huge_value_is_bounded() -> None:
    assert match_value("http.server", "A" * 1_000_000, RULES) == []


@pytest.mark.parametrize(
    ("text", "want"), [("true", True), ("FALSE", False), ("flase", False), ("maybe", None)]
)
def test_to_bool(text: str, want: bool | None) -> None:
    assert to_bool(text) is want
