"""A camera LAN numbered from public space (172.168.x.x, a real case): local by --local-net, or learnt
from the traffic (a broadcast sender and its one-address-per-MAC neighbours); never "overseas" inside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from hikscan.cli.app import main
from hikscan.errors import UsageError
from hikscan.passive.locality import parse_local_nets

DATA = Path(__file__).resolve().parents[1] / "data" / "passive"
CAMERA, VIEWER, CHINA = "172.168.1.10", "172.168.1.20", "120.92.65.240"  # CHINA: Kingsoft Cloud, CN
CAM_MAC, VIEWER_MAC, ROUTER_MAC = "78:df:72:00:00:10", "02:00:00:00:00:20", "02:00:00:00:00:01"


def capture(path: Path, announce: bool) -> Path:
    """The camera streams RTSP to the viewer and logs in to a CS2 P2P server in China."""
    rtsp = b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nServer: Rtsp Server/3.0\r\n\r\n"
    login = (DATA / "p2p_cs2_dev_login_crc.bin").read_bytes()
    frames = [
        Ether(src=VIEWER_MAC, dst=CAM_MAC)
        / IP(src=VIEWER, dst=CAMERA)
        / TCP(sport=50000, dport=554, flags="S"),
        Ether(src=CAM_MAC, dst=VIEWER_MAC)
        / IP(src=CAMERA, dst=VIEWER)
        / TCP(sport=554, dport=50000, flags="SA"),
        Ether(src=VIEWER_MAC, dst=CAM_MAC)
        / IP(src=VIEWER, dst=CAMERA)
        / TCP(sport=50000, dport=554, flags="PA")
        / Raw(b"OPTIONS rtsp://172.168.1.10/ RTSP/1.0\r\nCSeq: 2\r\n\r\n"),
        Ether(src=CAM_MAC, dst=VIEWER_MAC)
        / IP(src=CAMERA, dst=VIEWER)
        / TCP(sport=554, dport=50000, flags="PA")
        / Raw(rtsp),
        Ether(src=CAM_MAC, dst=ROUTER_MAC)
        / IP(src=CAMERA, dst=CHINA)
        / UDP(sport=24207, dport=32100)
        / Raw(login),
    ]
    if announce:
        notify = b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n"
        notify += b"NTS: ssdp:alive\r\n\r\n"
        frames.insert(0, Ether(src=CAM_MAC, dst="01:00:5e:7f:ff:fa") / IP(src=CAMERA, dst="239.255.255.250")
                      / UDP(sport=1900, dport=1900) / Raw(notify))  # fmt: skip
    for i, frame in enumerate(frames):
        frame.time = 1_700_000_000 + i
    wrpcap(str(path), frames)
    return path


def analyse(path: Path, tmp_path: Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / "report.json"
    args = ["analyze", str(path), "--format", "json", "-o", str(out), "--fail-on", "none", *extra]
    assert main(args) == 0
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def check_camera_seen(report: dict[str, Any]) -> None:
    devices = {d["ip"]: d for d in report["devices"]}
    assert devices[CAMERA]["category"] == "camera" and devices[CAMERA]["vendor"] == "Chuangmi"
    to_china = [f for f in report["findings"] if f["remote"]["ip"] == CHINA]
    assert to_china and {f["severity"] for f in to_china} == {"high"}
    assert not [f for f in report["findings"] if VIEWER in (f["device"]["ip"], f["remote"]["ip"])]


def test_without_any_local_evidence_the_public_lan_vanishes(tmp_path: Path) -> None:
    report = analyse(capture(tmp_path / "quiet.pcap", announce=False), tmp_path)
    assert report["devices"] == [] and report["findings"] == []


def test_local_net_makes_the_camera_and_its_viewer_local(tmp_path: Path) -> None:
    path = capture(tmp_path / "quiet.pcap", announce=False)
    check_camera_seen(
        analyse(path, tmp_path, "--local-net", "172.168.0.0/16", "--local-net", "198.51.100.0/24")
    )


def test_a_broadcast_sender_and_its_neighbours_are_learnt_local(tmp_path: Path) -> None:
    check_camera_seen(analyse(capture(tmp_path / "announced.pcap", announce=True), tmp_path))


def test_a_bad_local_net_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError):
        parse_local_nets(["172.168.0.0/33"])
    path = capture(tmp_path / "quiet.pcap", announce=False)
    assert main(["analyze", str(path), "--local-net", "not-a-net"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--local-net" in err
