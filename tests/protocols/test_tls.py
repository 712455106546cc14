"""TLS ClientHello SNI: a real OpenSSL ClientHello, the SSLv2 hello of the D-Link capture, hostile bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import client_hello, mutated

from hikscan.errors import MalformedInput
from hikscan.protocols.tls import evidence, is_client_hello, parse_client_hello_sni

DATA = Path(__file__).parents[1] / "data" / "active"


def test_sni_from_a_real_client_hello() -> None:
    hello = client_hello("litedev.hik-connect.com")
    assert is_client_hello(hello)
    assert parse_client_hello_sni(hello) == "litedev.hik-connect.com"
    assert [e.value for e in evidence("litedev.hik-connect.com")] == ["litedev.hik-connect.com"]


def test_no_sni_is_none() -> None:
    assert parse_client_hello_sni(client_hello(None)) is None
    assert evidence(None) == []


def test_sslv2_hello_from_the_dlink_capture_has_no_sni() -> None:
    data = (DATA / "pcap_dlinkcam_sslv2_client_hello_190.bin").read_bytes()
    assert data[:1] == b"\x80"
    assert parse_client_hello_sni(data) is None
    with pytest.raises(MalformedInput):
        parse_client_hello_sni(data[:-1])


def test_server_hello_from_the_capture_is_not_a_client_hello() -> None:
    data = (DATA / "pcap_dlinkcam_tls_server_hello_192.bin").read_bytes()
    assert not is_client_hello(data)
    with pytest.raises(MalformedInput, match="not a ClientHello"):
        parse_client_hello_sni(data)


def test_partial_record_allowed_only_on_request() -> None:
    hello = client_hello("cloud.example.org")
    cut = hello[:200]
    with pytest.raises(MalformedInput):
        parse_client_hello_sni(cut)
    assert parse_client_hello_sni(cut, allow_partial=True) == "cloud.example.org"


def test_every_truncation_of_a_real_hello_is_rejected() -> None:
    hello = client_hello("litedev.hik-connect.com")
    for n in range(len(hello)):
        with pytest.raises(MalformedInput):
            parse_client_hello_sni(hello[:n])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"\x17" + b[1:],  # application data, not handshake
        lambda b: b[:3] + b"\xff\xff" + b[5:],  # record length beyond the maximum
        lambda b: b[:6] + b"\xff\xff\xff" + b[9:],  # handshake length overruns
        lambda b: b[:43] + b"\xff" + b[44:],  # session id length overruns
    ],
)
def test_lying_lengths(mutate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MalformedInput):
        parse_client_hello_sni(mutate(client_hello("litedev.hik-connect.com")))


# -- the fast path (whole records by index arithmetic) against the Reader walk (slow=True) -----------------
def _outcome(data: bytes, partial: bool, slow: bool) -> object:
    try:
        return parse_client_hello_sni(data, allow_partial=partial, slow=slow)
    except MalformedInput:
        return MalformedInput


def _u16(n: int) -> bytes:
    return (n & 0xFFFF).to_bytes(2, "big")


@st.composite
def built_hellos(draw: st.DrawFn) -> bytes:
    """ClientHellos assembled field by field, a length now and then lying: session ids, odd suite lists,
    extensions before the SNI, several names of several types, bytes after the list or the record."""

    def lie() -> int:
        return draw(st.sampled_from([0] * 40 + [1, -1]))

    names = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 0, 3]))):
        raw = draw(
            st.sampled_from(
                [b"cam.example.org.", b"A.B", b"a", b"", b"a b", b"\x01x", b"\xc3\xa9", b"x" * 256]
            )
        )
        kind = draw(st.sampled_from([0, 0, 0, 0, 0, 1]))
        names.append(bytes([kind]) + _u16(len(raw) + lie()) + raw)
    sni_list = b"".join(names)
    sni_body = _u16(len(sni_list) + lie()) + sni_list + draw(st.sampled_from([b""] * 6 + [b"\x00"]))
    exts = []
    for _ in range(draw(st.integers(0, 3))):
        body = draw(st.binary(max_size=12))
        exts.append(_u16(draw(st.sampled_from([5, 10, 43, 0xFF01]))) + _u16(len(body) + lie()) + body)
    if draw(st.sampled_from([True, True, True, False])):
        sni = b"\x00\x00" + _u16(len(sni_body) + lie()) + sni_body
        exts.insert(draw(st.integers(0, len(exts))), sni)
    ext_block = b"".join(exts)
    session = draw(st.sampled_from([0, 16, 32, 32, 32, 32, 255]))
    suites = draw(st.sampled_from([2, 4, 4, 4, 4, 3]))
    hello = b"\x03\x03" + bytes(32) + bytes([session]) + bytes(min(session, 32))
    hello += _u16(suites) + bytes(suites) + b"\x01\x00"
    if draw(st.sampled_from([True, True, True, True, False])):
        hello += _u16(len(ext_block) + 2 * lie()) + ext_block
    hello += draw(st.sampled_from([b""] * 6 + [b"\x00\x00"]))
    hs = b"\x01" + (len(hello) + lie()).to_bytes(3, "big") + hello
    record = b"\x16\x03" + bytes([draw(st.sampled_from([1, 3]))]) + _u16(len(hs) + lie()) + hs
    cut = draw(st.sampled_from([len(record)] * 8 + [len(record) - 1, 60]))
    return record[:cut] + draw(st.sampled_from([b""] * 6 + [b"\x17"]))


SEEDS = [client_hello("litedev.hik-connect.com"), client_hello(None), client_hello("a.example")]


@settings(max_examples=400, deadline=None)
@given(st.one_of(built_hellos(), mutated(SEEDS, length_lies=(0, 1, 4, 40, 0xFFFF))), st.booleans())
def test_the_fast_path_answers_exactly_as_the_reader_walk(data: bytes, partial: bool) -> None:
    assert _outcome(data, partial, slow=False) == _outcome(data, partial, slow=True)


def test_the_fast_path_reads_real_hellos_and_hands_odd_ones_to_the_walk() -> None:
    from hikscan.protocols import tls

    hello = client_hello("litedev.hik-connect.com")
    assert tls._fast_sni(hello) == "litedev.hik-connect.com"
    assert tls._fast_sni(client_hello(None)) is None
    assert tls._fast_sni(hello[:200]) is tls._DEFER  # cut short: only the walk reads partial records
    assert parse_client_hello_sni(hello[:200], allow_partial=True) == "litedev.hik-connect.com"
    sslv2 = (DATA / "pcap_dlinkcam_sslv2_client_hello_190.bin").read_bytes()
    assert tls._fast_sni(sslv2) is tls._DEFER and parse_client_hello_sni(sslv2) is None
