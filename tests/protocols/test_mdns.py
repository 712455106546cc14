"""mDNS / DNS-SD parser: real announcements and probes (tests/data), and broken bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hikscan.errors import MalformedInput
from hikscan.protocols import mdns

DATA = Path(__file__).resolve().parents[1] / "data"
DLINK = (DATA / "passive" / "mdns_response_dcs935l_dhnap.bin").read_bytes()
EDIMAX = (DATA / "passive" / "mdns_response_edimax_ic3115w.bin").read_bytes()
HUE_PROBE = (DATA / "passive" / "mdns_probe_hue_hap.bin").read_bytes()
CACHE_FLUSH = (DATA / "active" / "pcap_dlinkcam_mdns_announce_4.bin").read_bytes()


def test_a_cameras_service_announcement() -> None:
    msg = mdns.parse_mdns(DLINK)
    assert msg.is_response
    assert msg.services == ("_dhnap._tcp",) and msg.instances == ("D-Link HNAP Service",)
    assert msg.hostnames == ("DCS-935L-B0C554255B0E",)
    assert "model_number=DCS-935L" in msg.txt
    keys = {e.key for e in mdns.evidence(msg)}
    assert keys == {"mdns.service", "mdns.instance", "mdns.hostname", "mdns.txt"}


def test_records_with_the_cache_flush_class_and_compressed_names_are_read() -> None:
    msg = mdns.parse_mdns(CACHE_FLUSH)
    assert msg.hostnames and all("." not in h for h in msg.hostnames)
    edimax = mdns.parse_mdns(EDIMAX)
    assert edimax.txt == ("IC-3115W Network Camera",) and edimax.hostnames == ("localcam",)
    assert edimax.instances == ("[74:da:38:80:79:fc]",)


def test_a_probe_claims_its_authority_records_and_lists_its_questions() -> None:
    msg = mdns.parse_mdns(HUE_PROBE)
    assert not msg.is_response
    assert msg.instances == ("Philips hue - 2476FF",) and "md=BSB002" in msg.txt
    assert "_hap._tcp.local" in msg.queries


def test_a_querys_known_answers_are_not_the_senders() -> None:
    query = bytearray(DLINK)
    query[2] &= 0x7F  # the same records as a query's answer section: knowledge about others
    msg = mdns.parse_mdns(bytes(query))
    assert (msg.services, msg.instances, msg.hostnames, msg.txt) == ((), (), (), ())


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        DLINK[:11],  # header cut
        DLINK[:-5],  # last record cut
        DLINK[:4] + b"\x01\x00" + DLINK[6:],  # counts lie: 256 questions claimed
        DLINK[:12] + b"\xc0\x0c" + DLINK[14:],  # a name pointing at itself
        DLINK + b"\x00" * mdns.MAX_MDNS,
    ],
)
def test_broken_bytes_are_malformed_input(raw: bytes) -> None:
    with pytest.raises(MalformedInput):
        mdns.parse_mdns(raw)
