"""Property tests: every parser returns a valid result or raises MalformedInput, never anything else.

Seeds are the real samples in tests/data/active plus in-memory ClientHellos; Hypothesis mutates them
(truncation, byte flips, insertions, splices) as well as feeding raw random bytes.
Longer run: HYPOTHESIS_MAX_EXAMPLES=5000 pytest tests/test_fuzz_protocols.py
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from samples import client_hello, mutated

from hikscan.errors import MalformedInput
from hikscan.knowledge.rules import default_rules
from hikscan.protocols import (
    dhcp,
    dhip,
    dns,
    httpmsg,
    mdns,
    onvif,
    p2p,
    rtsp,
    sadp,
    sdk8000,
    ssdp,
    tls,
    wsdiscovery,
)
from hikscan.protocols.safexml import parse_xml
from hikscan.report.model import Evidence

DATA = Path(__file__).parent / "data" / "active"
PASSIVE = Path(__file__).parent / "data" / "passive"
FUZZ = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _load(*patterns: str) -> list[bytes]:
    return [p.read_bytes() for pattern in patterns for p in sorted(DATA.glob(pattern))]


XML_SEEDS = _load("sadp_*.xml", "onvif_*.xml")
DNS_SEEDS = _load("pcap_dlinkcam_dns_*.bin", "pcap_dlinkcam_mdns_*.bin")
TLS_SEEDS = [
    client_hello("litedev.hik-connect.com"),
    client_hello(None),
    *_load("pcap_dlinkcam_*ssl*", "*tls*"),
]
HTTP_SEEDS = [
    *_load("pcap_dlinkcam_http_*.bin"),
    b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: 192.0.2.7\r\nUser-Agent: NVR\r\n\r\n",
    b'RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm="Hikvision", nonce="ab"\r\n\r\n',
    b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\n\r\n<html><head><title>Login</title></head>",
]
DHIP_SEEDS = [
    *_load("dahua_dhip_*.bin", "dahua_dhip_*.json"),
    dhip.frame((DATA / "dahua_dhip_response_IPC-HDW1431T1-S4.json").read_bytes()),
    dhip.build_search(),
]
LEGACY_SEEDS = _load("dahua_5050_*.bin")
DHCP_SEEDS = [p.read_bytes() for p in sorted(PASSIVE.glob("dhcp_*.bin"))]
MDNS_SEEDS = [p.read_bytes() for p in sorted(PASSIVE.glob("mdns_*.bin"))] + _load("pcap_dlinkcam_mdns_*.bin")
SSDP_SEEDS = [p.read_bytes() for p in sorted(PASSIVE.glob("ssdp_*.bin"))]
P2P_SEEDS = [p.read_bytes() for p in sorted(PASSIVE.glob("p2p_*.bin"))]
SDK_SEEDS = [
    bytes.fromhex("000000100000001e0000001e00000000"),
    bytes.fromhex("000000100000000d0000000d00000000"),
]


def _check(parse: Callable[[bytes], Any], ev: Callable[[Any], list[Evidence]] | None, data: bytes) -> None:
    try:
        result = parse(data)
    except MalformedInput:
        return
    if ev is not None:
        for item in ev(result):
            assert isinstance(item, Evidence) and isinstance(item.key, str) and isinstance(item.value, str)


CASES: list[tuple[str, Callable[[bytes], Any], Callable[[Any], list[Evidence]] | None, list[bytes]]] = [
    ("sadp", sadp.parse_sadp, sadp.evidence, XML_SEEDS),
    ("wsd", wsdiscovery.parse_probe_match, wsdiscovery.evidence, XML_SEEDS),
    ("onvif-info", onvif.parse_device_information, onvif.evidence, XML_SEEDS),
    ("onvif-time", onvif.parse_system_date_and_time, None, XML_SEEDS),
    ("xml", parse_xml, None, XML_SEEDS),
    ("dns", dns.parse_dns, dns.evidence, DNS_SEEDS),
    ("dns-tcp", lambda b: dns.parse_dns(struct.pack("!H", len(b)) + b, tcp=True), dns.evidence, DNS_SEEDS),
    ("dns-tcp-raw", lambda b: dns.parse_dns(b, tcp=True), dns.evidence, DNS_SEEDS),
    ("tls", tls.parse_client_hello_sni, tls.evidence, TLS_SEEDS),
    ("tls-partial", lambda b: tls.parse_client_hello_sni(b, allow_partial=True), tls.evidence, TLS_SEEDS),
    ("http-request", httpmsg.parse_request, httpmsg.request_evidence, HTTP_SEEDS),
    ("http-response", httpmsg.parse_response, httpmsg.evidence, HTTP_SEEDS),
    ("rtsp", rtsp.parse_rtsp_response, rtsp.evidence, HTTP_SEEDS),
    ("dhip", dhip.parse_dhip, dhip.evidence, DHIP_SEEDS),
    ("dhip-legacy", dhip.parse_legacy, dhip.evidence, LEGACY_SEEDS),
    ("sdk8000", sdk8000.parse_sdk8000, sdk8000.evidence, SDK_SEEDS),
    ("dhcp", dhcp.parse_dhcp, dhcp.evidence, DHCP_SEEDS),
    ("mdns", mdns.parse_mdns, mdns.evidence, MDNS_SEEDS),
    ("ssdp", ssdp.parse_ssdp, ssdp.evidence, SSDP_SEEDS),
]


def _p2p_both_sides(data: bytes) -> list[Evidence]:
    """The P2P matcher on a payload sent to, then from, each signature port: a hit or None, never a raise."""
    rules = default_rules()
    out: list[Evidence] = []
    for port in (32100, 32108, 6667, 6668, 54321, 8800, 0):
        for proto in (6, 17):
            for sport, dport in ((40000, port), (port, 40000)):
                hit = p2p.match(rules.signatures, proto, sport, dport, data)
                if hit is not None:
                    assert hit.signature.matches(proto, dport if hit.role == "client" else sport, data)
                    out += p2p.evidence(hit)
    return out


CASES.append(("p2p", lambda b: b, _p2p_both_sides, P2P_SEEDS))


def _same_or_both_malformed(full: Callable[[], Any], fast: Callable[[], Any]) -> Any:
    """The passive path's fast parse against the full one: the same result, or MalformedInput from both
    (None)."""
    results = []
    for parse in (full, fast):
        try:
            results.append(parse())
        except MalformedInput:
            results.append(None)
    assert results[1] == results[0]
    return results[1]


def _request_head(data: bytes) -> tuple[Any, ...]:
    _line, headers = httpmsg.parse_request_head(data)
    return httpmsg.header(headers, "host"), httpmsg.header(headers, "user-agent"), headers


def _request(data: bytes) -> tuple[Any, ...]:
    request = httpmsg.parse_request(data)
    return request.host, request.user_agent, request.headers


def _rtsp_both_ways(data: bytes) -> list[Evidence]:
    """rtsp.response_evidence (the passive path's) against evidence(parse_rtsp_response)."""
    return (
        _same_or_both_malformed(
            lambda: rtsp.evidence(rtsp.parse_rtsp_response(data), source="capture"),
            lambda: rtsp.response_evidence(data, source="capture"),
        )
        or []
    )


def _http_both_ways(data: bytes) -> list[Evidence]:
    """httpmsg.response_evidence and parse_request_head (the passive path's) against the full parses."""
    fast = _same_or_both_malformed(
        lambda: httpmsg.evidence(httpmsg.parse_response(data), source="capture"),
        lambda: httpmsg.response_evidence(data, source="capture"),
    )
    _same_or_both_malformed(lambda: _request(data), lambda: _request_head(data))
    return fast or []


CASES.append(("rtsp-evidence", lambda b: b, _rtsp_both_ways, HTTP_SEEDS))
CASES.append(("http-evidence", lambda b: b, _http_both_ways, HTTP_SEEDS))


@pytest.mark.parametrize(("name", "parse", "ev", "seeds"), CASES, ids=[c[0] for c in CASES])
def test_valid_result_or_malformed_input(name: str, parse, ev, seeds: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    assert seeds, f"no seed samples for {name}"

    @FUZZ
    @given(mutated(seeds))
    def run(data: bytes) -> None:
        _check(parse, ev, data)

    run()


def test_seeds_themselves_parse() -> None:
    """The unmutated seeds are valid input, so the fuzzing starts from the interesting side."""
    for parse, seeds in (
        (dns.parse_dns, DNS_SEEDS),
        (dhip.parse_dhip, DHIP_SEEDS),
        (dhip.parse_legacy, LEGACY_SEEDS),
        (sdk8000.parse_sdk8000, SDK_SEEDS),
        (dhcp.parse_dhcp, DHCP_SEEDS),
        (mdns.parse_mdns, MDNS_SEEDS),
        (ssdp.parse_ssdp, SSDP_SEEDS),
        (tls.parse_client_hello_sni, TLS_SEEDS[:3]),
        (parse_xml, XML_SEEDS),
    ):
        for seed in seeds:
            parse(seed)
