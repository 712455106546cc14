"""pcaps/generate.py: deterministic, committed files equal a fresh generation, and the captures hold
what their scenario says (real payloads consistent with the frames carrying them)."""

from __future__ import annotations

import hashlib
import shutil
import struct
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pcaputil import PCAPS, read

from hikscan.protocols.dhip import parse_dhip
from hikscan.protocols.sadp import parse_sadp
from hikscan.protocols.tls import parse_client_hello_sni

sys.path.insert(0, str(PCAPS))
import generate

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC).timestamp()
SHARED_PCAPS = next(
    (
        c
        for c in (PCAPS.parent.parent / "shared/data/pcaps", PCAPS.parent.parent.parent / "shared/data/pcaps")
        if c.is_dir()
    ),
    PCAPS.parent.parent / "shared/data/pcaps",
)  # the main checkout's ../shared, or a worktree's ../../shared


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate.generate(tmp_path_factory.mktemp("fresh"))


@pytest.fixture(scope="module")
def packets() -> dict[str, list]:
    return {name: read(PCAPS / name) for name in generate.SCENARIOS}


def test_committed_captures_equal_a_fresh_generation(fresh: list[Path]) -> None:
    assert sorted(p.name for p in fresh) == sorted(generate.SCENARIOS)
    for p in fresh:
        committed = PCAPS / p.name
        assert committed.is_file(), f"{p.name} not committed: run python pcaps/generate.py"
        assert committed.read_bytes() == p.read_bytes(), f"{p.name} drifted: run python pcaps/generate.py"


def test_check_names_drifted_and_missing_files(tmp_path: Path) -> None:
    for name in generate.SCENARIOS:
        shutil.copy(PCAPS / name, tmp_path / name)
    data = bytearray((tmp_path / "dahua_easy4ip.pcap").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "dahua_easy4ip.pcap").write_bytes(bytes(data))
    (tmp_path / "uk_only_cameras.pcap").unlink()
    assert sorted(generate.check(tmp_path)) == ["dahua_easy4ip.pcap", "uk_only_cameras.pcap"]


def test_main_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "clean_vlan_rtsp.pcap").write_bytes(b"not the capture")
    assert generate.main(["--check", "--out", str(tmp_path)]) == 1
    assert "drift: clean_vlan_rtsp.pcap" in capsys.readouterr().err


def test_sizes_stay_small() -> None:
    for name in generate.SCENARIOS:
        assert (PCAPS / name).stat().st_size < 300_000, name
    captures = [p for p in PCAPS.rglob("*") if p.is_file() and p.suffix in (".pcap", ".pcapng")]
    generated = sum(p.stat().st_size for p in captures if p.parent == PCAPS)
    real = sum(p.stat().st_size for p in captures if p.parent == PCAPS / "real")
    assert generated < 2_000_000
    assert real < 4_000_000  # third-party captures (issue 8's training set is 2.6 MB of them)


def test_timestamps_start_at_t0_and_never_go_back(packets: dict[str, list]) -> None:
    for name, pkts in packets.items():
        times = [p.ts for p in pkts]
        assert times == sorted(times), name
        assert T0 <= times[0] < T0 + 10, name  # a nanosecond interface misread as µs would be far off
        assert times[-1] < T0 + 2 * 3600, name


def test_sadp_payloads_are_real_replies_matching_their_frames(packets: dict[str, list]) -> None:
    for name, pkts in packets.items():
        replies = 0
        for p in pkts:
            if p.proto != "udp" or p.dport != 37020:
                continue
            msg = parse_sadp(p.payload)
            if msg.kind == "Probe":
                continue
            assert msg.kind == "ProbeMatch", name
            replies += 1
            assert msg.mac == p.src_mac and msg.ipv4 == p.src, (name, msg.mac, p.src_mac)
            assert msg.model in ("DS-2CD2385G1-I", "DS-2CD2320D-I")
            assert msg.serial and msg.serial.startswith(msg.model)
            assert msg.firmware
        assert replies >= 1 or name in ("dahua_easy4ip.pcap", "alibaba_us_p2p.pcap"), f"{name}: no SADP reply"


def test_hikconnect_cameras_say_cloud_enabled(packets: dict[str, list]) -> None:
    sadp = [parse_sadp(p.payload) for p in packets["hikconnect_registration.pcap"] if p.dport == 37020]
    assert [m.cloud_enabled for m in sadp if m.kind == "ProbeMatch"] == [True, True]
    assert all(
        m.cloud_enabled is False
        for m in map(parse_sadp, _udp(packets, "clean_vlan_rtsp.pcap", 37020))
        if m.kind == "ProbeMatch"
    )


def _udp(packets: dict[str, list], name: str, dport: int) -> list[bytes]:
    return [p.payload for p in packets[name] if p.proto == "udp" and p.dport == dport]


def test_dhip_reply_is_the_real_device_with_its_frame_identity(packets: dict[str, list]) -> None:
    pkts = [p for p in packets["dahua_easy4ip.pcap"] if p.proto == "udp" and p.dport == 37810]
    assert len(pkts) == 2
    search, reply = (parse_dhip(p.payload) for p in pkts)
    assert search.method == "DHDiscover.search"
    assert reply.method == "client.notifyDevInfo"
    assert reply.device_type == "IPC-HDW1431T1-S4" and reply.vendor == "Private"
    assert reply.mac == pkts[1].src_mac and reply.ipv4 == pkts[1].src


def test_incident_is_the_italy_pattern(packets: dict[str, list]) -> None:
    pkts = packets["incident_fleet_china.pcapng"]
    syns = [p for p in pkts if p.dst == "116.62.10.20" and p.flags == "S"]
    first: dict[str, float] = {}
    for p in syns:
        first.setdefault(p.src, p.ts)
    assert sorted(first) == [f"10.20.0.{i}" for i in range(11, 18)]
    assert all(T0 + 3600 <= t < T0 + 3660 for t in first.values())
    assert len(syns) >= 100
    snis = {parse_client_hello_sni(p.payload) for p in pkts if p.dport == 443 and p.payload[:1] == b"\x16"}
    assert snis == {"update.hik-cn-device.example", "shop.cn-retailer.example"}
    external = {p.src for p in pkts if p.dst and not p.dst.startswith(("10.", "239."))}
    assert external == {f"10.20.0.{i}" for i in range(11, 18)} | {"10.30.0.50"}
    truncated = [p for p in pkts if p.sport == 554 and len(p.payload) == 64]
    assert truncated, "RTP samples should be snaplen-truncated"


def test_cloud_protocol_markers(packets: dict[str, list]) -> None:
    p2p = _udp(packets, "hikconnect_registration.pcap", 6000)
    assert len(p2p) == 20 and all(b[0] == 0xE2 and b[8:10] == b"\x62\x34" for b in p2p)
    dh = _udp(packets, "dahua_easy4ip.pcap", 8800)
    assert dh[0].startswith(b"DHGET /probe/p2psrv ") and all(b.startswith(b"DHGET ") for b in dh)


def test_ipv6_vlan_capture_has_qinq_dot1q_and_ipv6(packets: dict[str, list]) -> None:
    pkts = packets["ipv6_vlan_hk.pcapng"]
    assert any(p.raw[12:14] == b"\x88\xa8" and p.raw[16:18] == b"\x81\x00" for p in pkts)
    assert all(p.raw[12:14] in (b"\x81\x00", b"\x88\xa8") for p in pkts)
    assert any(p.src == "2403:4a00:10::20" for p in pkts)
    host = [p.payload for p in pkts if p.dport == 80 and b"Host:" in p.payload]
    assert host and b"Host: fw.cn-camera-update.example\r\n" in host[0]


def test_mixed_interfaces_has_three_link_types_and_resolutions() -> None:
    data = (PCAPS / "mixed_interfaces.pcapng").read_bytes()
    pos, idbs = 0, []
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        if btype == 1:
            linktype = struct.unpack_from("<H", data, pos + 8)[0]
            opts = data[pos + 16 : pos + blen - 4]
            tsresol = 6
            while len(opts) >= 4:
                code, olen = struct.unpack_from("<HH", opts)
                if code == 9:
                    tsresol = opts[4]
                opts = opts[4 + olen + (-olen % 4) :]
            idbs.append((linktype, tsresol))
        pos += blen
    assert idbs == [(1, 6), (113, 9), (101, 6)]
    pkts = read(PCAPS / "mixed_interfaces.pcapng")
    assert {p.src_mac for p in pkts if p.src == "10.80.0.52"} == {"44:19:b6:31:6c:a5"}  # from the SLL header
    assert any(p.src == "10.90.0.5" and p.src_mac is None for p in pkts)  # raw IP: no MAC


@pytest.mark.skipif(not SHARED_PCAPS.is_dir(), reason="../shared/data/pcaps not present")
def test_real_captures_are_unchanged_copies() -> None:
    """pcaps/real = ../shared/data/pcaps + the committable part of ../shared/data/pcaps-real, unchanged."""
    sources = {p.name: p for p in SHARED_PCAPS.iterdir()}
    issue8 = SHARED_PCAPS.parent / "pcaps-real"
    if issue8.is_dir():
        sources |= {p.name: p for p in issue8.glob("*.pcap*") if not p.name.startswith("tj-oconnor")}
    assert sorted(p.name for p in (PCAPS / "real").iterdir()) == sorted(sources)
    for name, path in sources.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert hashlib.sha256((PCAPS / "real" / name).read_bytes()).hexdigest() == digest, name
