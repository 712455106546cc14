"""SSDP parser: real NOTIFY and M-SEARCH (tests/data/passive), and broken bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hikscan.errors import MalformedInput
from hikscan.protocols import ssdp

DATA = Path(__file__).resolve().parents[1] / "data" / "passive"
NOTIFY = (DATA / "ssdp_notify_dcs935l.bin").read_bytes()
SEARCH = (DATA / "ssdp_msearch_dcs935l.bin").read_bytes()


def test_a_devices_notify() -> None:
    msg = ssdp.parse_ssdp(NOTIFY)
    assert msg.kind == "notify" and msg.from_device and msg.nts == "ssdp:alive"
    assert msg.server == "Linux,    UPnP/1.0 DCS-935L/1.0"
    assert msg.location == "http://10.10.10.37:50510/"
    assert {e.key for e in ssdp.evidence(msg)} == {"ssdp.server", "ssdp.usn", "ssdp.nt", "ssdp.location"}


def test_a_search_says_nothing_about_the_searchers_product() -> None:
    msg = ssdp.parse_ssdp(SEARCH)
    assert msg.kind == "search" and not msg.from_device
    assert ssdp.evidence(msg) == []
    agent = ssdp.parse_ssdp(SEARCH.replace(b"\r\n\r\n", b"\r\nUser-Agent: UPnP/1.0 DLNADOC/1.50\r\n\r\n"))
    assert [(e.key, e.value) for e in ssdp.evidence(agent)] == [("http.user_agent", "UPnP/1.0 DLNADOC/1.50")]


def test_a_search_response() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nSERVER: Embedded UPnP/1.0\r\n"
        b"USN: uuid:x::upnp:rootdevice\r\n\r\n"
    )
    msg = ssdp.parse_ssdp(raw)
    assert msg.kind == "response" and msg.nt == "upnp:rootdevice" and msg.server == "Embedded UPnP/1.0"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"GET / HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\n\r\n",
        NOTIFY.replace(b"SERVER:", b"SER VER:"),
        NOTIFY + b"X" * ssdp.MAX_SSDP,
    ],
)
def test_broken_bytes_are_malformed_input(raw: bytes) -> None:
    with pytest.raises(MalformedInput):
        ssdp.parse_ssdp(raw)
