"""pcaps/manifest.yaml itself: shape, known rule ids and vocabularies, no self-contradiction, and every
address, MAC, country and ASN it names is really in the capture / the embedded database."""

from __future__ import annotations

import ipaddress
import re
import sys
from typing import Any

import pytest
import yaml
from pcaputil import PCAPS, capture_path, read

sys.path.insert(0, str(PCAPS))
import generate

ROOT = PCAPS.parent
MANIFEST: list[dict[str, Any]] = yaml.safe_load((PCAPS / "manifest.yaml").read_text())["captures"]
ENTRY_KEYS = {"file", "description", "source", "home_country", "max_severity", "must", "must_not", "devices"}
ENTRY_KEYS |= {"shared", "cctv_ips"}
MATCH_KEYS = {"rule", "severity", "device_ip", "device_mac", "device_vendor", "remote_ip", "remote_port"}
MATCH_KEYS |= {
    "remote_proto",
    "remote_name",
    "remote_country",
    "remote_asn",
    "remote_owner",
    "remote_owner_country",
    "remote_located",
}
DEVICE_KEYS = {"ip", "mac", "vendor", "family", "category", "name", "model", "serial", "firmware"}
CATEGORIES = {"camera", "recorder", "doorbell/intercom", "iot", "computer", "phone", "unknown"}
RULE_SEVERITY = {
    "cctv-to-high-risk-country": "high",
    "cctv-to-vendor-cloud": "medium",
    "cctv-to-overseas": "low",
    "host-to-high-risk-country": "info",
    "cctv-fleet-new-destination": "high",
    "cctv-beacon": "medium",
    "host-beacon": "info",
    "cctv-connection-storm": "medium",
    "host-connection-storm": "info",
}
SEVERITIES = ["none", "info", "low", "medium", "high"]
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
IDS = [f"{i}:{e['file']}:{e.get('home_country', 'GB')}" for i, e in enumerate(MANIFEST)]


def _vendors() -> set[str]:
    path = ROOT / "rules" / "vendors.yaml"
    if not path.is_file():
        return {"Hikvision", "Dahua", "EZVIZ"}
    return {v["name"] for v in yaml.safe_load(path.read_text())["rules"]}


def _contradicts(must: dict[str, Any], must_not: dict[str, Any]) -> bool:
    """A finding matching `must` exactly would also match `must_not`."""
    return all(k in must and must[k] == v for k, v in must_not.items())


@pytest.mark.parametrize("entry", MANIFEST, ids=IDS)
def test_entry_shape_and_vocabularies(entry: dict[str, Any]) -> None:
    assert set(entry) <= ENTRY_KEYS
    assert {"file", "description", "source", "max_severity", "must", "must_not", "devices"} <= set(entry)
    path = capture_path(entry)
    assert path is None or path.is_file(), path
    assert not entry.get("shared") or not (PCAPS / entry["file"]).exists(), (
        "a shared capture is not committed"
    )
    for ip in entry.get("cctv_ips", []):
        ipaddress.ip_address(ip)
    assert entry["max_severity"] in SEVERITIES
    assert re.fullmatch(r"[A-Z]{2}", entry.get("home_country", "GB"))
    vendors = _vendors()
    cap = SEVERITIES.index(entry["max_severity"])
    for m in entry["must"] + entry["must_not"]:
        assert m and set(m) <= MATCH_KEYS, m
        if "rule" in m:
            assert m["rule"] in RULE_SEVERITY, m
            assert m.get("severity", RULE_SEVERITY[m["rule"]]) == RULE_SEVERITY[m["rule"]], m
        assert m.get("severity", "info") in SEVERITIES[1:], m
        assert m.get("remote_proto", "tcp") in ("tcp", "udp"), m
        assert 0 < m.get("remote_port", 1) < 65536, m
        assert isinstance(m.get("remote_asn", 1), int), m
        assert re.fullmatch(r"[A-Z]{2}", m.get("remote_country", "ZZ")), m
        assert MAC.match(m.get("device_mac", "00:00:00:00:00:00")), m
        for key in ("device_ip", "remote_ip"):
            if key in m:
                ipaddress.ip_address(m[key])
        if "device_vendor" in m:
            assert m["device_vendor"] in vendors, m
    for m in entry["must"]:
        severity = m.get("severity", RULE_SEVERITY.get(m.get("rule", ""), "info"))
        assert SEVERITIES.index(severity) <= cap, f"must {m} exceeds max_severity {entry['max_severity']}"
        for n in entry["must_not"]:
            assert not _contradicts(m, n), (m, n)
    for d in entry["devices"]:
        assert d and set(d) <= DEVICE_KEYS and "ip" in d, d
        assert d.get("vendor", "Hikvision") in vendors and MAC.match(d.get("mac", "00:00:00:00:00:00")), d
        assert d.get("category", "camera") in CATEGORIES, d


def test_every_capture_is_listed_and_provenanced() -> None:
    listed = {e["file"] for e in MANIFEST}
    assert set(generate.SCENARIOS) <= listed
    real = {f"real/{p.name}" for p in (PCAPS / "real").iterdir()}
    assert real and real <= listed
    provenance = (PCAPS / "PROVENANCE.md").read_text()
    for p in (PCAPS / "real").iterdir():
        assert p.name in provenance, p.name
    for name in generate.SCENARIOS:
        assert f"| {name} |" in provenance, name


@pytest.mark.parametrize("entry", MANIFEST, ids=IDS)
def test_named_addresses_and_macs_occur_in_the_capture(entry: dict[str, Any]) -> None:
    path = capture_path(entry)
    if path is None:
        pytest.skip("../shared/data/pcaps-real is absent (capture not committed: licence)")
    pkts = read(path)
    ips = {p.src for p in pkts} | {p.dst for p in pkts}
    src_by_mac: dict[str, set[str | None]] = {}
    for p in pkts:
        if p.src_mac:
            src_by_mac.setdefault(p.src_mac, set()).add(p.src)
    for m in entry["must"] + entry["must_not"] + [{"device_ip": d["ip"]} for d in entry["devices"]]:
        for key in ("device_ip", "remote_ip"):
            if key in m:
                assert str(ipaddress.ip_address(m[key])) in ips, f"{m[key]} not in {entry['file']}"
        if "device_mac" in m:
            assert m["device_mac"] in src_by_mac, f"{m['device_mac']} sends nothing in {entry['file']}"
            if "device_ip" in m:
                assert m["device_ip"] in src_by_mac[m["device_mac"]], m
        if "remote_port" in m:
            proto = m.get("remote_proto")
            assert any(
                p.dport == m["remote_port"]
                and p.dst == m.get("remote_ip", p.dst)
                and (proto in (None, p.proto))
                for p in pkts
            ), m
    for d in entry["devices"]:
        if "mac" in d:
            assert d["ip"] in src_by_mac.get(d["mac"], set()), d
    for ip in entry.get("cctv_ips", []):
        assert ip in ips, f"{ip} not in {entry['file']}"


GEO_DB = ROOT / "hikscan" / "data" / "country.mmdb"


@pytest.mark.skipif(not GEO_DB.is_file(), reason="embedded GeoIP database not built")
def test_countries_and_asns_are_those_of_the_embedded_database() -> None:
    maxminddb = pytest.importorskip("maxminddb")
    with (
        maxminddb.open_database(str(GEO_DB)) as country,
        maxminddb.open_database(str(ROOT / "hikscan" / "data" / "asn.mmdb")) as asn,
    ):
        checked = 0
        for entry in MANIFEST:
            for m in entry["must"] + entry["must_not"]:
                if "remote_ip" not in m:
                    continue
                if "remote_country" in m:
                    rec = country.get(m["remote_ip"]) or {}
                    dbip = rec.get("country", {}).get("iso_code")
                    if "remote_located" in m:  # the databases disagree: DB-IP's opinion is one of those shown
                        assert f"DB-IP:{dbip}" in m["remote_located"].split(), m
                    else:
                        assert dbip == m["remote_country"], m
                    checked += 1
                if "remote_asn" in m:
                    rec = asn.get(m["remote_ip"]) or {}
                    assert rec.get("autonomous_system_number") == m["remote_asn"], m
                    checked += 1
        assert checked >= 20
