"""The Inspector's fast paths against the full path they replace: the same sources see the same
payloads, and every packet leaves exactly the state the full path leaves.

ReferenceInspector is the payload path as it was before the fast paths, kept here as the definition
they must agree with: every unclaimed payload goes to a P2P source that tries every candidate signature
with Signature.matches (p2p.match_reference); TLS hellos go through the Reader walk
(parse_client_hello_sni slow=True); every DNS packet is parsed (from the parse cache) and filed, with
no "settled" short cut. The other sources are the production ones.
"""

from __future__ import annotations

import copy
import ipaddress
from functools import partial
from pathlib import Path
from typing import Any

import dns.message
import dns.rrset
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import client_hello, mutated

from hikscan.knowledge.rules import default_rules
from hikscan.passive.attribution import Attribution
from hikscan.passive.decode import Packet
from hikscan.passive.naming import DnsCache, NameBook
from hikscan.passive.payload import Inspector
from hikscan.passive.sources import dns as dns_source
from hikscan.passive.sources import p2p as p2p_source
from hikscan.passive.sources import tls as tls_source
from hikscan.passive.sources.base import Context, NameFilter, Payload, Source, host_evidence
from hikscan.protocols import p2p, tls
from hikscan.report.model import Evidence

ACTIVE = Path(__file__).resolve().parents[1] / "data" / "active"
SADP_REPLY = (ACTIVE / "sadp_response_2_DS-2CD2385G1-I.xml").read_bytes()
CAMERA, RESOLVER, CHINA = "10.1.0.5", "10.1.0.1", "116.62.10.20"


def packed(ip: str) -> bytes:
    return ipaddress.ip_address(ip).packed


def pkt(src: str, dst: str, proto: int, sport: int, dport: int, payload: bytes) -> Packet:
    return Packet(0.0, None, None, (), 4, packed(src), packed(dst), proto, sport, dport, 0, 60, payload, 0)


class RefP2p(p2p_source.P2pSource):
    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        src_in, dst_in = ctx.is_internal_packed(pkt.src), ctx.is_internal_packed(pkt.dst)
        if dst_in and not src_in:
            return
        lan = dst_in and not (pkt.dst_mac and pkt.dst_mac[0] & 1)
        hit = p2p.match_reference(ctx.rules.signatures, pkt.proto, pkt.sport, pkt.dport, payload, not lan)
        if hit is None:
            return
        src = ctx.text(pkt.src)
        items = p2p.evidence(hit)
        if items and src_in:
            ctx.attribution.add(src, items)
        if not dst_in:
            ctx.names.add_signature(src, ctx.text(pkt.dst), hit.signature.id)


class RefTls(tls_source.TlsSource):
    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        real = tls.parse_client_hello_sni
        tls.parse_client_hello_sni = partial(real, slow=True)  # type: ignore[assignment]
        try:
            super().inspect(ctx, pkt, payload)
        finally:
            tls.parse_client_hello_sni = real  # type: ignore[assignment]


class RefDns(dns_source.DnsSource):
    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        parsed = self.parse(ctx, payload)
        if parsed is None:
            return
        is_response, questions, answers = parsed
        client = ctx.text(pkt.dst if is_response else pkt.src)
        if is_response:
            for asked, address, _ttl in answers:
                ctx.names.add_dns_answer(client, asked, address)
            return
        if questions and (client, questions) not in self._filed:
            if len(self._filed) >= dns_source.MAX_FILED:
                self._filed.clear()
            self._filed.add((client, questions))
            if self._telling is None or self._telling.rules is not ctx.rules:
                self._telling = NameFilter(ctx.rules, "dns.query")
            telling = [Evidence("capture", "dns.query", q) for q in questions if self._telling(q)]
            if telling:
                host_evidence(ctx, client, telling)


class ReferenceInspector(Inspector):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        swap: dict[str, Source] = {"dns": RefDns(), "tls": RefTls()}
        self.sources = tuple(swap.get(s.name, s) for s in self.sources)
        self.fallback = RefP2p()
        self._udp_ports = {}
        for source in self.sources:
            for port in source.ports if source.proto == 17 else ():
                self._udp_ports.setdefault(port, source)
        self._tcp_first = {}
        for source in self.sources:
            if source.proto == 6 and not source.ports:
                for byte in source.first_bytes:
                    self._tcp_first[byte] = (*self._tcp_first.get(byte, ()), source)

    def on_payload(self, pkt: Packet) -> None:
        if pkt.frag == 1:
            return
        payload = pkt.payload
        dst_mac = pkt.dst_mac
        group = dst_mac and dst_mac[0] & 1
        if (group or self.locality.prefixes) and not self.is_internal_packed(pkt.src):
            if group:
                self.learn_local(self.text(pkt.src), "sent a broadcast or multicast frame")
            elif self.locality.neighbour(pkt.src, pkt.src_mac):
                self.learn_local(self.text(pkt.src), "in a local /24, one address per MAC")
        if pkt.proto == 17:
            source = self._udp_ports.get(pkt.sport) or self._udp_ports.get(pkt.dport)
            if source is not None:
                source.inspect(self, pkt, payload)
                return
        elif pkt.proto == 6:
            candidates = self._tcp_first.get(payload[0])
            if candidates:
                head = bytes(payload[:8])
                for source in candidates:
                    if source.accepts(head):
                        source.inspect(self, pkt, payload)
                        return
        else:
            return
        self.fallback.inspect(self, pkt, payload)


def state(ins: Inspector) -> tuple[object, ...]:
    """Everything inspection leaves behind that a report can read, and the DNS source's own tables
    (what it has parsed and filed decides what later packets count as malformed or file again)."""
    names, att = ins.names, ins.attribution
    dns_tables = [
        (list(s._cache._table), s._filed) for s in ins.sources if isinstance(s, dns_source.DnsSource)
    ]
    return (
        names.sni, names.http_host, names.dns, names.by_server, names.dropped, names.bytes,
        att.evidence, att.by_mac, att.macs, att.dropped, ins.signature_hits, ins.malformed,
        ins.locality.learnt, ins.locality.dropped, dns_tables,
    )  # fmt: skip


def _dns(name: str, msg_id: int, answer: str | None) -> bytes:
    query = dns.message.make_query(name, "A")
    query.id = msg_id
    if answer is None:
        return query.to_wire()
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(name + ".", 60, "IN", "A", answer))
    return response.to_wire()


PASSIVE = Path(__file__).resolve().parents[1] / "data" / "passive"
RULES = default_rules()
NAMES = ("litedev.hik-connect.com", "www.example.com", "x.io.mi.com", "a.b.example")
QUERIES = [_dns(n, i, None) for n in NAMES for i in (1, 2)]
ANSWERS = [_dns(n, i, a) for n in NAMES[:3] for i in (1, 2) for a in ("52.28.10.20", "8.8.8.8")]
MALFORMED_DNS = b"\x00\x01\x81\x80\x00\x01\x00\x01" + b"\xc0\x0c" * 8
DNS = [*QUERIES, *ANSWERS, MALFORMED_DNS]
TCP_APPS = [
    client_hello("litedev.hik-connect.com"), client_hello(None), client_hello("www.example.com")[:150],
    b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\n\r\n<title>x</title>",
    b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"Hikvision\"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: cam.example\r\nUser-Agent: X\r\n\r\n", b"OPTIONS rtsp://x/ RTSP/1.0\r\n\r\n",
]  # fmt: skip
SIGNED = [
    (bytes.fromhex(ex["hex"]), sig.proto or 17, ex.get("port", min(sig.ports, default=40000)))
    for sig in RULES.signatures for ex in sig.examples
]  # fmt: skip
PAYLOADS = [
    *DNS, *TCP_APPS, *(p.read_bytes() for p in sorted(PASSIVE.glob("*.bin"))), *(d for d, _, _ in SIGNED),
    bytes(40), b"\x80\x60" + bytes(30), SADP_REPLY,
]  # fmt: skip
HOSTS = [
    "10.1.0.5",
    "10.1.0.6",
    "192.168.1.165",
    "116.62.10.20",
    "52.28.10.20",
    "172.168.1.10",
    "239.255.255.250",
]
PORTS = [
    53,
    5353,
    67,
    68,
    1900,
    37020,
    3702,
    37810,
    443,
    8443,
    80,
    554,
    8800,
    32100,
    32108,
    6667,
    6668,
    54321,
    40000,
]
MACS = [None, b"\x00\x11\x22\x33\x44\x55", b"\x01\x00\x5e\x7f\xff\xfa", b"\xff" * 6]


def _pkt(draw: st.DrawFn, src: str, dst: str, proto: int, sport: int, dport: int, payload: bytes) -> Packet:
    src_mac, dst_mac = draw(st.sampled_from(MACS[:2])), draw(st.sampled_from(MACS))
    frag = draw(st.sampled_from([0, 0, 0, 0, 3, 1]))
    return Packet(0.0, src_mac, dst_mac, (), 4, packed(src), packed(dst), proto, sport, dport, 0, 60,
                  payload or b"\x00", frag)  # fmt: skip


@st.composite
def dns_packets(draw: st.DrawFn) -> Packet:
    """Queries to and answers from a resolver, a few clients, now and then a mutated message."""
    client, port = draw(st.sampled_from(HOSTS[:2] + HOSTS[3:4])), draw(st.sampled_from([40000, 40001]))
    if draw(st.booleans()):
        query = draw(st.sampled_from(QUERIES) | mutated(QUERIES, random_one_in=50))
        return _pkt(draw, client, "10.1.0.1", 17, port, 53, query)
    answer = draw(st.sampled_from([*ANSWERS, MALFORMED_DNS]) | mutated(ANSWERS, random_one_in=50))
    return _pkt(draw, "10.1.0.1", client, 17, 53, port, answer)


@st.composite
def p2p_packets(draw: st.DrawFn) -> Packet:
    """A signature's example sent to its port, or from it (a reply), between any two hosts."""
    data, proto, port = draw(st.sampled_from(SIGNED))
    data = draw(st.just(data) | mutated([data], random_one_in=50))
    other = draw(st.sampled_from([40000, 3478, port]))
    sport, dport = (other, port) if draw(st.booleans()) else (port, other)
    return _pkt(draw, draw(st.sampled_from(HOSTS)), draw(st.sampled_from(HOSTS)), proto, sport, dport, data)


@st.composite
def tcp_packets(draw: st.DrawFn) -> Packet:
    data = draw(st.sampled_from(TCP_APPS) | mutated(TCP_APPS, random_one_in=50))
    sport, dport = draw(st.sampled_from([40000, 443, 554])), draw(st.sampled_from([443, 8443, 80, 554, 8000]))
    return _pkt(draw, draw(st.sampled_from(HOSTS)), draw(st.sampled_from(HOSTS)), 6, sport, dport, data)


@st.composite
def any_packets(draw: st.DrawFn) -> Packet:
    payload = draw(st.sampled_from(PAYLOADS) | mutated(PAYLOADS, max_random=64))
    sport = draw(st.sampled_from(PORTS) | st.integers(1, 65535))
    dport = draw(st.sampled_from(PORTS) | st.integers(1, 65535))
    proto = draw(st.sampled_from([17, 6, 17, 1]))
    return _pkt(
        draw, draw(st.sampled_from(HOSTS)), draw(st.sampled_from(HOSTS)), proto, sport, dport, payload
    )


packets = st.one_of(dns_packets(), dns_packets(), p2p_packets(), tcp_packets(), any_packets())


# Bounds small enough to be reached within one example, one table at a time (a parse cache that keeps
# starting again would hide what the filed-question bound does, and the other way round).
BOUNDS = {  # name table bytes, parse cache entries, filed questions, settled packets
    "names": (1200, 10**6, 10**6, 10**6),
    "parse cache": (10**6, 2, 10**6, 10**6),
    "filed questions": (10**6, 10**6, 2, 10**6),
    "settled packets": (10**6, 10**6, 10**6, 2),
}


@pytest.mark.parametrize("bound", list(BOUNDS))
def test_the_fast_paths_leave_exactly_what_the_full_path_leaves(bound: str) -> None:
    name_bytes, cache_entries, filed, settled = BOUNDS[bound]

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(pool=st.lists(packets, min_size=1, max_size=24), order=st.lists(st.integers(0, 23), max_size=60))
    def run(pool: list[Packet], order: list[int]) -> None:
        fast = Inspector(RULES, NameBook(max_entries=6, max_bytes=name_bytes), Attribution(RULES))
        ref = ReferenceInspector(RULES, NameBook(max_entries=6, max_bytes=name_bytes), Attribution(RULES))
        for ins in (fast, ref):
            for source in ins.sources:
                if isinstance(source, dns_source.DnsSource):
                    source._cache = DnsCache(max_entries=cache_entries)
        for i in [*range(len(pool)), *order]:  # every packet once, then repeats in any order
            fast.on_payload(pool[i % len(pool)])
            ref.on_payload(pool[i % len(pool)])
            assert state(fast) == state(ref)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dns_source, "MAX_FILED", filed)
        mp.setattr(dns_source, "MAX_SETTLED", settled)
        run()


def _pair(name_bytes: int = 10**6) -> tuple[Inspector, Inspector]:
    return (
        Inspector(RULES, NameBook(max_bytes=name_bytes), Attribution(RULES)),
        ReferenceInspector(RULES, NameBook(max_bytes=name_bytes), Attribution(RULES)),
    )


def test_a_settled_question_is_filed_again_once_the_filed_questions_start_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dns_source, "MAX_FILED", 2)
    fast, ref = _pair()
    asks = [pkt(CAMERA, RESOLVER, 17, 40000, 53, q) for q in QUERIES[::2][:3]]
    for p in [*asks, asks[0]]:  # the third question starts the filed set again; the first is news again
        fast.on_payload(p)
        ref.on_payload(p)
        assert state(fast) == state(ref)
    dns_fast = next(s for s in fast.sources if isinstance(s, dns_source.DnsSource))
    assert len(dns_fast._filed) == 2  # the third, and the first filed again


def test_an_answer_the_name_tables_dropped_is_never_settled() -> None:
    one = NameBook()
    one.add_dns_answer(CAMERA, "www.example.com", "8.8.8.8")
    fast, ref = _pair(name_bytes=one.bytes + 50)  # room for one (client, server) entry and its server's
    first, second = _dns("www.example.com", 1, "8.8.8.8"), _dns("x.io.mi.com", 1, "8.8.8.8")
    for payload in (first, second, second, second):  # the second name does not fit: dropped each time
        p = pkt(RESOLVER, CAMERA, 17, 53, 40000, payload)
        fast.on_payload(p)
        ref.on_payload(p)
        assert state(fast) == state(ref)
    assert fast.names.dropped == 6 and fast.names.names_for(CAMERA, "8.8.8.8") == [("www.example.com", "dns")]


def test_names_hold_an_answer_exactly_when_filing_it_again_changes_nothing() -> None:
    """NameBook.holds_dns_answer, which the DNS source's settled set relies on, against add_dns_answer."""
    book = NameBook(max_entries=3, max_bytes=2000)
    combos = [(c, n, s) for c in ("10.0.0.1", "10.0.0.2") for n in ("a.example", "b.example", "c.example",
              "d.example", "e.example", "", "x" * 300) for s in ("192.0.2.1", "192.0.2.2")]  # fmt: skip
    for client, name, server in combos * 2:
        before = copy.deepcopy(vars(book))
        holds = book.holds_dns_answer(client, name, server)
        book.add_dns_answer(client, name, server)
        assert holds == (vars(book) == before), (client, name, server)


RTSP_REPLY = b'RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm="Hikvision"\r\n\r\n'
DISPATCH = [  # (payload, proto, sport, dport, the source that receives it)
    (QUERIES[0], 17, 40000, 53, "dns"),
    (ANSWERS[0], 17, 53, 40000, "dns"),
    (QUERIES[0], 17, 40000, 5300, "p2p"),  # DNS is recognised by its port only, as before
    (QUERIES[0], 6, 40000, 53, "p2p"),  # no DNS over TCP
    (QUERIES[0], 17, 5353, 5353, "mdns"),
    ((PASSIVE / "dhcp_request_dcs935l.bin").read_bytes(), 17, 68, 67, "dhcp"),
    ((PASSIVE / "ssdp_notify_dcs935l.bin").read_bytes(), 17, 1900, 1900, "ssdp"),
    (SADP_REPLY, 17, 37020, 37020, "sadp"),
    (SADP_REPLY, 17, 3702, 40000, "wsdiscovery"),
    (b"\x20\x00\x00\x00DHIP", 17, 40000, 37810, "dhip"),
    (client_hello("cam.example.org"), 6, 40000, 443, "tls"),
    (client_hello("cam.example.org"), 6, 40000, 5000, "tls"),  # TCP sources: any port
    (client_hello("cam.example.org"), 17, 40000, 443, "p2p"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 6, 40000, 8000, "http-request"),
    (b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 6, 40000, 80, "http-request"),
    (b"OPTIONS rtsp://x/ RTSP/1.0\r\n\r\n", 6, 40000, 554, "http-request"),
    (b"HTTP/1.1 200 OK\r\n\r\n", 6, 8000, 40000, "http"),
    (RTSP_REPLY, 6, 8554, 40000, "rtsp"),
    (b"RTSP/2.0 200 OK\r\n\r\n", 6, 554, 40000, "p2p"),
    (b"\x17\x03\x03\x00\x10" + bytes(16), 6, 443, 40000, "p2p"),
    ((PASSIVE / "p2p_cs2_dev_login_crc.bin").read_bytes(), 17, 24207, 32100, "p2p"),
    (bytes.fromhex("21310020" + "ff" * 28), 17, 54321, 40000, "p2p"),
]


@pytest.mark.parametrize(("payload", "proto", "sport", "dport", "want"), DISPATCH)
def test_each_payload_reaches_the_source_it_reached_before(
    payload: bytes, proto: int, sport: int, dport: int, want: str
) -> None:
    got = [_spy(ins, pkt(CAMERA, CHINA, proto, sport, dport, payload)) for ins in _pair()]
    assert got[0] == got[1] == [want]


def _spy(ins: Inspector, packet: Packet) -> list[str]:
    """The names of the sources whose inspect ran for this packet."""
    calls: list[str] = []

    def wrap(name: str, real: Any) -> Any:
        def inspect(ctx: Context, p: Packet, data: Payload) -> None:
            calls.append(name)
            real(ctx, p, data)

        return inspect

    for source in (*ins.sources, ins.fallback):
        source.inspect = wrap(source.name, source.inspect)  # type: ignore[method-assign]
    ins.on_payload(packet)
    return calls
