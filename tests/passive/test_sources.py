"""The evidence sources behind the Inspector: the registry, and what each real message becomes."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from samples import client_hello

from hikscan.knowledge.rules import default_rules
from hikscan.passive.attribution import Attribution
from hikscan.passive.decode import Packet
from hikscan.passive.naming import NameBook
from hikscan.passive.payload import Inspector
from hikscan.passive.sources import FALLBACK, SOURCES

DATA = Path(__file__).resolve().parents[1] / "data" / "passive"
BROADCAST = b"\xff" * 6
CAM_MAC = bytes.fromhex("78df7224694d")


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def pkt(
    src: str, dst: str, proto: int, sport: int, dport: int, payload: bytes, dst_mac: bytes | None = None
) -> Packet:
    a, b = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    return Packet(0.0, CAM_MAC, dst_mac, (), 4, a, b, proto, sport, dport, 0, 60 + len(payload), payload, 0)


def inspector(local_nets: tuple[str, ...] = ()) -> Inspector:
    rules = default_rules()
    nets = [ipaddress.ip_network(n) for n in local_nets]
    return Inspector(rules, NameBook(), Attribution(rules), nets)


def keys(ins: Inspector, ip: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in ins.attribution.evidence.get(ip, ()):
        out.setdefault(e.key, set()).add(e.value)
    return out


def test_the_registry_gives_each_inspector_its_own_typed_sources() -> None:
    a, b = inspector(), inspector()
    names = [s.name for s in a.sources]
    assert len(names) == len(set(names)) == len(SOURCES)
    assert all(x is not y for x, y in zip(a.sources, b.sources, strict=True))  # caches are per Inspector
    udp_ports = [p for s in a.sources if s.proto == 17 for p in s.ports]
    assert len(udp_ports) == len(set(udp_ports))
    for source in (*a.sources, FALLBACK()):
        assert callable(source.accepts) and callable(source.inspect) and source.proto in (0, 6, 17)


def test_dhcp_ack_files_the_host_name_under_the_address_it_gives() -> None:
    ins = inspector()
    ins.on_payload(
        pkt("192.168.1.1", "192.168.1.165", 17, 67, 68, sample("dhcp_ack_hostname_chuangmi_camera.bin"))
    )
    assert keys(ins, "192.168.1.165") == {"dhcp.hostname": {"chuangmi_camera_060a02"}}
    assert ins.attribution.macs["192.168.1.165"] == "78:df:72:24:69:4d"
    device = ins.attribution.device("192.168.1.165")
    assert (device.vendor, device.category, device.name) == ("Chuangmi", "camera", "chuangmi_camera_060a02")


def test_dhcp_request_before_an_address_is_filed_by_mac_and_joins_the_host_later() -> None:
    ins = inspector()
    ins.on_payload(
        pkt("0.0.0.0", "255.255.255.255", 17, 68, 67, sample("dhcp_request_dcs935l.bin"), BROADCAST)
    )
    assert "0.0.0.0" not in ins.attribution.evidence
    ins.attribution.add_mac("0.0.0.0", "b0:c5:54:25:5b:0e")  # the flow table sees the broadcast sender
    assert "0.0.0.0" not in ins.attribution.macs
    ins.attribution.add_mac("10.10.10.37", "b0:c5:54:25:5b:0e")
    device = ins.attribution.device("10.10.10.37")
    assert (device.vendor, device.category, device.model) == ("D-Link", "camera", "DCS-935L")


def test_mdns_and_ssdp_announcements_are_evidence_about_their_sender() -> None:
    ins = inspector()
    ins.on_payload(
        pkt("10.10.10.227", "224.0.0.251", 17, 5353, 5353, sample("mdns_response_edimax_ic3115w.bin"))
    )
    ins.on_payload(pkt("10.10.10.37", "239.255.255.250", 17, 1900, 1900, sample("ssdp_notify_dcs935l.bin")))
    ins.on_payload(pkt("10.10.10.38", "239.255.255.250", 17, 1900, 1900, sample("ssdp_msearch_dcs935l.bin")))
    assert keys(ins, "10.10.10.227")["mdns.txt"] == {"IC-3115W Network Camera"}
    assert keys(ins, "10.10.10.37")["ssdp.server"] == {"Linux,    UPnP/1.0 DCS-935L/1.0"}
    assert "10.10.10.38" not in ins.attribution.evidence  # a search names no product


def test_names_a_lan_host_asks_for_or_sends_are_its_evidence_not_a_servers() -> None:
    import dns.message

    ins = inspector()
    query = dns.message.make_query("business.smartcamera.api.io.mi.com", "A").to_wire()
    ins.on_payload(pkt("192.168.1.165", "192.168.1.1", 17, 40000, 53, query))
    ins.on_payload(pkt("8.8.8.8", "192.168.1.1", 17, 40000, 53, query))  # an outside client
    ins.on_payload(
        pkt("192.168.1.165", "120.92.65.240", 6, 40001, 443, client_hello("vs-cam.u011.immedia-semi.com"))
    )
    ins.on_payload(pkt("192.168.1.165", "81.2.69.142", 6, 40002, 443, client_hello("www.example.com")))
    got = keys(ins, "192.168.1.165")
    assert got["dns.query"] == {"business.smartcamera.api.io.mi.com"}
    assert got["tls.sni"] == {"vs-cam.u011.immedia-semi.com"}  # www.example.com names no camera or cloud
    assert "8.8.8.8" not in ins.attribution.evidence
    assert ins.names.names_for("192.168.1.165", "120.92.65.240") == [("vs-cam.u011.immedia-semi.com", "sni")]


def test_serving_rtsp_on_the_lan_is_evidence_serving_the_internet_is_not() -> None:
    ins = inspector()
    reply = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: VLC/3.0.12\r\n\r\n"
    ins.on_payload(pkt("10.2.2.2", "10.1.1.10", 6, 554, 50000, reply))
    ins.on_payload(pkt("10.2.2.3", "81.2.69.142", 6, 554, 50000, reply))
    assert keys(ins, "10.2.2.2") == {"rtsp.serves": {"lan"}, "rtsp.server": {"VLC/3.0.12"}}
    assert "rtsp.serves" not in keys(ins, "10.2.2.3")
    assert ins.attribution.device("10.2.2.2").category == "computer"  # VLC outweighs serving RTSP


def test_p2p_device_login_is_evidence_and_a_cloud_hit_an_apps_lan_search_is_neither() -> None:
    ins = inspector()
    ins.on_payload(
        pkt("192.168.1.165", "110.43.68.16", 17, 24207, 32100, sample("p2p_cs2_dev_login_crc.bin"))
    )
    assert keys(ins, "192.168.1.165") == {"p2p.protocol": {"cs2-pppp"}}
    assert ins.signature_hits[("192.168.1.165", "110.43.68.16")] == "cs2-pppp-dev-login-crc"
    ins.on_payload(
        pkt("192.168.1.20", "255.255.255.255", 17, 40000, 32108, bytes.fromhex("f1300000"), BROADCAST)
    )
    assert "192.168.1.20" not in ins.attribution.evidence
    inbound = pkt("110.43.68.16", "192.168.1.166", 17, 32100, 24207, sample("p2p_cs2_dev_login_crc.bin"))
    ins.on_payload(inbound)
    assert (
        "110.43.68.16" not in ins.attribution.evidence
        and ("110.43.68.16", "192.168.1.166") not in ins.signature_hits
    )


def test_a_public_lan_is_local_when_stated_or_when_its_hosts_broadcast() -> None:
    ins = inspector()
    assert not ins.is_internal("172.168.1.10")
    ins.on_payload(pkt("172.168.1.10", "239.255.255.250", 17, 1900, 1900, sample("ssdp_notify_dcs935l.bin"),
                       bytes.fromhex("01005e7ffffa")))  # fmt: skip
    assert ins.is_internal("172.168.1.10") and ins.is_internal_packed(
        ipaddress.ip_address("172.168.1.10").packed
    )
    assert "ssdp.server" in keys(ins, "172.168.1.10")
    assert not ins.is_internal("172.168.1.11")
    assert inspector(("172.168.0.0/16",)).is_internal("172.168.1.11")


def test_ordinary_names_are_not_kept_and_telling_ones_cannot_crowd_out_a_host_name() -> None:
    import dns.message

    ins = inspector()
    for i in range(200):
        for name in (f"site{i}.example", f"xiaomi{i}.p2psy{i}.io.mi.com"):
            query = dns.message.make_query(name, "A").to_wire()
            ins.on_payload(pkt("192.168.1.165", "192.168.1.1", 17, 40000 + i, 53, query))
    ack = sample("dhcp_ack_hostname_chuangmi_camera.bin")
    ins.on_payload(pkt("192.168.1.1", "192.168.1.165", 17, 67, 68, ack))
    got = keys(ins, "192.168.1.165")
    assert len(got["dns.query"]) == 16 and all(".p2psy" in n for n in got["dns.query"])
    assert got["dhcp.hostname"] == {"chuangmi_camera_060a02"}
