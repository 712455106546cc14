"""The passive analyser on small captures built from real payloads: naming, attribution, policy, fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from samples import client_hello
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from hikscan.cli.app import main

DATA = Path(__file__).resolve().parents[1] / "data" / "active"
SADP_REPLY = (DATA / "sadp_response_2_DS-2CD2385G1-I.xml").read_bytes()
OEM_MAC = "00:1b:21:aa:bb:01"  # an Intel OUI: the MAC says nothing about Hikvision
HIK_MAC = "58:50:ed:1f:e3:85"
GW_MAC = "00:00:5e:00:01:fe"
T0 = 1_772_442_000.0  # 2026-03-02T09:00:00Z


def sadp_hello(mac: str, ip: str) -> bytes:
    text = SADP_REPLY.replace(b"58-50-ed-1f-e3-85", mac.replace(":", "-").encode())
    return text.replace(b"192.168.124.40", ip.encode())


def tcp_session(
    cmac: str, cip: str, sip: str, dport: int, payload: bytes, t: float, sport: int = 40000
) -> list:
    def frame(
        src_mac: str, dst_mac: str, src: str, dst: str, sp: int, dp: int, flags: str, data: bytes = b""
    ):
        return (
            Ether(src=src_mac, dst=dst_mac)
            / IP(src=src, dst=dst)
            / TCP(sport=sp, dport=dp, flags=flags)
            / data
        )

    packets = [
        frame(cmac, GW_MAC, cip, sip, sport, dport, "S"),
        frame(GW_MAC, cmac, sip, cip, dport, sport, "SA"),
        frame(cmac, GW_MAC, cip, sip, sport, dport, "PA", payload),
        frame(GW_MAC, cmac, sip, cip, dport, sport, "A"),
    ]
    for i, p in enumerate(packets):
        p.time = t + i * 0.01
    return packets


def dns_answer(cmac: str, cip: str, name: str, chain: list[str], address: str, t: float) -> Any:
    answers = [
        DNSRR(rrname=owner, type="CNAME", rdata=target)
        for owner, target in zip([name, *chain], chain, strict=False)
    ]
    answers.append(DNSRR(rrname=chain[-1] if chain else name, type="A", rdata=address))
    p = (
        Ether(src=GW_MAC, dst=cmac)
        / IP(src="10.0.0.1", dst=cip)
        / UDP(sport=53, dport=33333)
        / DNS(id=7, qr=1, qd=DNSQR(qname=name), an=answers)
    )
    p.time = t
    return p


def analyse(tmp_path: Path, packets: list, *extra: str) -> dict[str, Any]:
    capture = tmp_path / "t.pcap"
    wrpcap(str(capture), sorted(packets, key=lambda p: float(p.time)))
    out = tmp_path / "r.json"
    assert main(["analyze", str(capture), "-f", "json", "-o", str(out), "--fail-on", "none", *extra]) == 0
    return json.loads(out.read_text())


def announce(mac: str, ip: str, t: float) -> Any:
    p = (
        Ether(src=mac, dst="01:00:5e:7f:ff:fa")
        / IP(src=ip, dst="239.255.255.250")
        / UDP(sport=37020, dport=37020)
    )
    p = p / sadp_hello(mac, ip)
    p.time = t
    return p


def test_oem_rebrand_is_hikvision_by_its_sadp_reply(tmp_path: Path) -> None:
    packets = [announce(OEM_MAC, "10.1.0.5", T0)]
    packets += tcp_session(OEM_MAC, "10.1.0.5", "116.62.10.20", 8000, b"\x00\x00\x00\x20hello", T0 + 5)
    report = analyse(tmp_path, packets)
    [finding] = report["findings"]
    assert finding["rule"] == "cctv-to-high-risk-country" and finding["severity"] == "high"
    assert finding["device"] == {
        "ip": "10.1.0.5",
        "mac": OEM_MAC,
        "name": None,
        "category": "camera",
        "vendor": "Hikvision",
        "model": "DS-2CD2385G1-I",
    }
    assert finding["remote"]["country"] == "CN" and finding["remote"]["asn"] == 37963
    [device] = report["devices"]
    assert device["serial"] == "DS-2CD2385G1-I20200414AAWRE33842150" and device["cloud_enabled"] is False


def test_oui_alone_makes_a_cctv_device_and_a_plain_host_is_info_only(tmp_path: Path) -> None:
    packets = tcp_session(HIK_MAC, "10.1.0.6", "52.28.10.20", 443, b"\x17\x03\x03\x00\x10" + bytes(16), T0)
    packets += tcp_session(
        OEM_MAC, "10.1.0.7", "116.62.10.20", 443, b"\x17\x03\x03\x00\x10" + bytes(16), T0 + 1
    )
    findings = analyse(tmp_path, packets)["findings"]
    by_ip = {f["device"]["ip"]: f for f in findings}
    assert by_ip["10.1.0.6"]["rule"] == "cctv-to-overseas" and by_ip["10.1.0.6"]["remote"]["country"] == "DE"
    assert by_ip["10.1.0.6"]["device"]["vendor"] == "Hikvision"
    assert (
        by_ip["10.1.0.7"]["rule"] == "host-to-high-risk-country" and by_ip["10.1.0.7"]["severity"] == "info"
    )


def test_dns_cname_chain_names_the_server_and_finds_the_vendor_cloud(tmp_path: Path) -> None:
    chain = ["hc-eu-lb.elb.amazonaws.example", "ec2-52-28-10-20.compute.example"]
    packets = [dns_answer(HIK_MAC, "10.1.0.6", "litedev.hik-connect.com", chain, "52.28.10.20", T0)]
    packets += tcp_session(
        HIK_MAC, "10.1.0.6", "52.28.10.20", 443, b"\x17\x03\x03\x00\x10" + bytes(16), T0 + 1
    )
    [finding] = analyse(tmp_path, packets)["findings"]
    assert finding["rule"] == "cctv-to-vendor-cloud" and finding["severity"] == "medium"
    assert finding["remote"]["name"] == "litedev.hik-connect.com"
    assert finding["remote"]["org"] and "amazon" in finding["remote"]["org"].lower()


def test_sni_and_http_host_name_servers_without_dns(tmp_path: Path) -> None:
    hello = client_hello("apiieu.ezvizlife.com")
    packets = tcp_session(HIK_MAC, "10.1.0.6", "47.88.10.20", 443, hello, T0)
    request = b"GET /fw/check HTTP/1.1\r\nHost: fw.cn-camera-update.example\r\nUser-Agent: x\r\n\r\n"
    packets += tcp_session(HIK_MAC, "10.1.0.6", "116.62.10.40", 80, request, T0 + 2, sport=40001)
    findings = {f["remote"]["ip"]: f for f in analyse(tmp_path, packets)["findings"]}
    assert findings["47.88.10.20"]["remote"]["name"] == "apiieu.ezvizlife.com"
    assert findings["47.88.10.20"]["rule"] == "cctv-to-vendor-cloud"
    assert findings["116.62.10.40"]["remote"]["name"] == "fw.cn-camera-update.example"
    assert findings["116.62.10.40"]["rule"] == "cctv-to-high-risk-country"


def test_home_country_changes_what_is_overseas(tmp_path: Path) -> None:
    packets = tcp_session(HIK_MAC, "10.1.0.6", "52.28.10.20", 443, b"\x17\x03\x03\x00\x10" + bytes(16), T0)
    assert analyse(tmp_path, packets, "--home-country", "DE")["findings"] == []
    assert len(analyse(tmp_path, packets, "--home-country", "GB")["findings"]) == 1


def _normal_start(n: int) -> list:
    """The first 20 minutes (the policy's baseline.learn_seconds): each camera talks to a UK server."""
    return [
        p
        for i in range(n)
        for t in (T0, T0 + 1300)
        for p in tcp_session(f"58:50:ed:00:00:{i:02x}", f"10.1.0.{20 + i}", "81.2.69.142", 443, b"hi", t)
    ]


def test_fleet_pattern_needs_enough_devices_at_once(tmp_path: Path) -> None:
    packets = _normal_start(3)
    for i in range(3):
        mac = f"58:50:ed:00:00:{i:02x}"
        packets += tcp_session(mac, f"10.1.0.{20 + i}", "47.88.10.20", 9000, b"ping", T0 + 1500 + 60 * i)
    findings = analyse(tmp_path, packets)["findings"]
    fleet = [f for f in findings if f["rule"] == "cctv-fleet-new-destination"]
    assert len(fleet) == 1 and fleet[0]["device"]["count"] == 3 and fleet[0]["severity"] == "high"
    assert fleet[0]["new_destination"] is True and fleet[0]["onset"] == "2026-03-02T09:25:00.000Z"
    spread = _normal_start(3)
    for i in range(3):  # the same three devices, but a day apart: not "at once"
        mac = f"58:50:ed:00:00:{i:02x}"
        spread += tcp_session(mac, f"10.1.0.{20 + i}", "47.88.10.20", 9000, b"ping", T0 + 1500 + 86_400 * i)
    assert not [f for f in analyse(tmp_path, spread)["findings"] if f["rule"] == "cctv-fleet-new-destination"]


def test_fleet_needs_a_baseline_to_call_anything_new(tmp_path: Path) -> None:
    """A short capture has no baseline of its own (nothing is new); an earlier report can be one."""
    packets = []
    for i in range(3):
        mac = f"58:50:ed:00:00:{i:02x}"
        packets += tcp_session(mac, f"10.1.0.{20 + i}", "47.88.10.20", 9000, b"ping", T0 + 60 * i)
    report = analyse(tmp_path, packets)
    assert not [f for f in report["findings"] if f["rule"] == "cctv-fleet-new-destination"]
    assert {f["new_destination"] for f in report["findings"]} == {None}
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps({"findings": [], "devices": [{"timeline": [{"remote": "81.2.69.142"}]}]}))
    report = analyse(tmp_path, packets, "--baseline", str(earlier))
    fleet = [f for f in report["findings"] if f["rule"] == "cctv-fleet-new-destination"]
    assert len(fleet) == 1 and fleet[0]["device"]["count"] == 3
    assert all(f["new_destination"] is True for f in report["findings"])
    assert report["meta"]["settings"]["baseline"] == [str(earlier)]
    # the same destination in the baseline: known, no fleet
    earlier.write_text(json.dumps({"findings": [], "devices": [{"timeline": [{"remote": "47.88.10.20"}]}]}))
    report = analyse(tmp_path, packets, "--baseline", str(earlier))
    assert not [f for f in report["findings"] if f["rule"] == "cctv-fleet-new-destination"]
    assert {f["new_destination"] for f in report["findings"]} == {False}


def test_a_bad_baseline_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    packets = tcp_session(HIK_MAC, "10.1.0.6", "52.28.10.20", 443, b"x", T0)
    wrpcap(str(tmp_path / "c.pcap"), packets)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for baseline in (bad, tmp_path / "missing.json"):
        code = main(["analyze", str(tmp_path / "c.pcap"), "--baseline", str(baseline), "-f", "json"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "--baseline" in err


def test_scan_inventory_attributes_a_device_the_capture_cannot(tmp_path: Path) -> None:
    """A camera whose traffic has no vendor clue (non-vendor MAC, no announcements) is known from the scan."""
    packets = tcp_session(OEM_MAC, "10.1.0.9", "47.88.10.20", 443, b"\x17\x03\x03\x00\x10" + bytes(16), T0)
    # a plain host to Alibaba Cloud US: context only (info, owner named)
    [before] = analyse(tmp_path, packets)["findings"]
    assert (before["rule"], before["severity"]) == ("host-to-high-risk-owned-network", "info")
    assert before["remote"]["owner"] == "Alibaba Cloud"
    scan = {
        "devices": [
            {
                "ip": "10.1.0.9",
                "mac": OEM_MAC,
                "vendor": "Hikvision",
                "evidence": [
                    {"source": "http", "key": "http.server", "value": "DNVRS-Webs"},
                    {"source": "sadp", "key": "sadp.DeviceDescription", "value": "DS-2CD2385G1-I"},
                ],
            },
            {"ip": "10.1.0.10", "vendor": "dahua"},
        ]
    }
    inventory = tmp_path / "scan.json"
    inventory.write_text(json.dumps(scan))
    report = analyse(tmp_path, packets, "--inventory", str(inventory))
    [finding] = report["findings"]
    assert finding["device"]["vendor"] == "Hikvision" and finding["device"]["model"] == "DS-2CD2385G1-I"
    assert (finding["rule"], finding["severity"]) == ("cctv-to-high-risk-owned-network", "medium")
    assert {d["ip"]: d["vendor"] for d in report["devices"]} == {
        "10.1.0.9": "Hikvision",
        "10.1.0.10": "Dahua",
    }


def test_a_bad_inventory_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "scan.json"
    inventory.write_text("[1, 2")
    capture = tmp_path / "t.pcap"
    wrpcap(str(capture), tcp_session(HIK_MAC, "10.1.0.6", "52.28.10.20", 443, b"x", T0))
    assert main(["analyze", str(capture), "--inventory", str(inventory)]) == 2
    assert "not a hikscan scan inventory" in capsys.readouterr().err
