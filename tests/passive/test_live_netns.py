"""`hikscan watch` on live traffic, in two namespaces of our own: a camera connects to a 'Chinese' server.

The server address 116.62.10.20 (Alibaba Hangzhou in the embedded database) is given to the scanner
namespace, so every packet stays between the two namespaces this test creates.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from netns import lab_namespaces

SADP = (
    Path(__file__).resolve().parents[1] / "data" / "active" / "sadp_response_2_DS-2CD2385G1-I.xml"
).read_text()
CAMERA_MAC = "58:50:ed:00:00:11"
SERVER = "116.62.10.20"

CAMERA = """
import socket, sys, time
reply = sys.stdin.read().encode()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("10.77.0.10", 37020))
udp.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.77.0.10"))
udp.sendto(reply, ("239.255.255.250", 37020))
for attempt in range(3):
    tcp = socket.create_connection(("116.62.10.20", 8000), timeout=3, source_address=("10.77.0.10", 0))
    tcp.sendall(b"\\x00\\x00\\x00\\x20" + bytes(28))
    tcp.recv(64)
    tcp.close()
    time.sleep(0.3)
"""

SERVER_CODE = """
import socket
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("116.62.10.20", 8000)); srv.listen(8); srv.settimeout(20)
for _ in range(3):
    conn, _ = srv.accept(); conn.recv(64); conn.sendall(b"\\x00\\x00\\x00\\x10" + bytes(12)); conn.close()
"""


@pytest.mark.netns
def test_watch_streams_a_finding_from_live_traffic(tmp_path: Path) -> None:
    with lab_namespaces(n_addresses=1) as net:
        net.run_in(net.dev_ns, ["ip", "link", "set", net.dev_if, "address", CAMERA_MAC], timeout=10)
        net.run_in(net.scan_ns, ["ip", "addr", "add", f"{SERVER}/32", "dev", net.scan_if], timeout=10)
        # the scanner side is the camera's gateway (a host route here trips this sandbox's network stack)
        net.run_in(net.dev_ns, ["ip", "route", "add", "default", "via", net.scanner_ip], timeout=10)
        reply = SADP.replace("58-50-ed-1f-e3-85", CAMERA_MAC.replace(":", "-")).replace(
            "192.168.124.40", "10.77.0.10"
        )
        out = tmp_path / "live.jsonl"
        watch = net.start_in(
            net.scan_ns,
            [net.python, "-m", "hikscan", "watch", "-i", net.scan_if, "--interval", "1", "--duration", "12",
             "-f", "jsonl", "-o", str(out), "--fail-on", "high"],
        )  # fmt: skip
        net.start_in(net.scan_ns, [net.python, "-c", SERVER_CODE])
        # watch writes its `meta` line once it is listening: only then does the camera announce itself
        listening = time.monotonic() + 30
        while time.monotonic() < listening and not (out.exists() and out.read_text().strip()):
            time.sleep(0.1)
        assert out.exists() and '"type": "meta"' in out.read_text(), "watch did not start listening"
        time.sleep(0.5)
        camera = net.start_in(net.dev_ns, [net.python, "-c", CAMERA], stdin=-1)
        _, camera_err = camera.communicate(reply, timeout=20)
        assert camera.returncode == 0, camera_err
        deadline = time.monotonic() + 5
        early: list[dict] = []
        while time.monotonic() < deadline and not early:  # streamed: there before watch ends
            time.sleep(0.5)
            if out.exists():
                lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
                early = [record for record in lines if record["type"] != "meta"]
        assert watch.poll() is None, "watch ended before its duration"
        assert early and early[0]["type"] == "finding"
        _, err = watch.communicate(timeout=30)
        assert watch.returncode == 1, err  # a high finding with --fail-on high
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    findings = [line for line in lines if line["type"] == "finding"]
    high = [f for f in findings if f["rule"] == "cctv-to-high-risk-country"]
    assert len(high) == 1, lines
    assert high[0]["device"] == {
        "ip": "10.77.0.10",
        "mac": CAMERA_MAC,
        "name": None,
        "category": "camera",
        "vendor": "Hikvision",
        "model": "DS-2CD2385G1-I",
    }
    assert (
        high[0]["remote"]["ip"] == SERVER
        and high[0]["remote"]["country"] == "CN"
        and high[0]["remote"]["port"] == 8000
    )
    assert high[0]["packets"] >= 6
    assert lines[-1]["type"] == "summary" and lines[-2]["type"] == "stats" and lines[-2]["packets"] > 10
