"""TLS ClientHello SNI: a real OpenSSL ClientHello, the SSLv2 hello of the D-Link capture, hostile bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from samples import client_hello

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
