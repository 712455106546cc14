"""Capture reading: pcap µs/ns/byte orders, pcapng sections and interfaces, truncation, lying lengths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import capture_builder as cb
import pytest

from hikscan.capture import MAX_CAPLEN, open_capture
from hikscan.errors import MalformedInput

REAL = Path(__file__).resolve().parents[2] / "pcaps" / "real"  # copies of ../shared/data/pcaps
# Packet counts as reported by `capinfos -c` (Wireshark 4.x) for each real capture.
REAL_COUNTS = {
    "IoT_Sentinel__D-LinkCam_Setup-A-2-STA.pcap": (642, "pcap", {1}),
    "IoT_Sentinel__D-LinkDayCam_Setup-C-1-STA.pcap": (63, "pcap", {1}),
    "IoT_Sentinel__EdimaxCam1_Setup-A-3-STA.pcap": (55, "pcap", {1}),
    "nDPI__rtsp.pcap": (568, "pcapng", {113}),
    "nDPI__tuya_lp.pcap": (98, "pcap", {1}),
    "nDPI__upnp.pcap": (14, "pcapng", {1}),
    "neolink__EncryptionProtocol02_login.pcapng": (25, "pcapng", {1}),
    "neolink__e1_firmwareupgrade.pcapng": (504, "pcapng", {1}),
}
FRAMES = [bytes(range(i, i + 60)) for i in range(5)]
TS = [1_700_000_000.25 + i * 0.000123 for i in range(5)]


def _write(tmp_path: Path, data: bytes, name: str = "c.bin") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _read(path: Path):
    reader = open_capture(path)
    with reader:
        return reader, list(reader)


@pytest.mark.parametrize("ns", [False, True])
@pytest.mark.parametrize("big", [False, True])
def test_pcap_resolutions_and_byte_orders(tmp_path: Path, ns: bool, big: bool) -> None:
    path = _write(tmp_path, cb.pcap(zip(TS, FRAMES, strict=True), linktype=113, ns=ns, big=big))
    reader, recs = _read(path)
    assert reader.format == "pcap" and not reader.truncated and reader.warnings == []
    assert [r.data for r in recs] == FRAMES
    assert {r.linktype for r in recs} == {113}
    for r, ts in zip(recs, TS, strict=True):
        assert r.ts == pytest.approx(ts, abs=1e-6)  # a double holds ~0.2 µs at 1.7e9 s
    assert reader.bytes_read == path.stat().st_size


def test_pcap_wirelen_kept_and_caplen_over_origlen_fixed(tmp_path: Path) -> None:
    path = _write(tmp_path, cb.pcap([(1.0, FRAMES[0], 1500), (2.0, FRAMES[1], 10)]))
    reader, recs = _read(path)
    assert [r.wirelen for r in recs] == [1500, 60]
    assert any("origlen" in w for w in reader.warnings)


@pytest.mark.parametrize("big", [False, True])
def test_pcapng_mixed_interfaces_and_tsresol(tmp_path: Path, big: bool) -> None:
    ts = 1_700_000_123.5
    data = b"".join(
        [
            cb.shb(big),
            cb.idb(1, big=big),  # Ethernet, default µs
            cb.idb(113, tsresol=9, big=big),  # SLL, ns
            cb.other_block(4, b"\x00" * 8, big=big),  # NRB: skipped
            cb.idb(101, tsresol=0x80 | 20, big=big),  # raw, 2^-20 s
            cb.epb(0, ts, FRAMES[0], big=big),
            cb.epb(1, ts + 1e-9 * 7, FRAMES[1], tsresol=9, big=big),
            cb.other_block(5, b"\x00" * 20, big=big),  # ISB
            cb.epb(2, ts + 0.5, FRAMES[2], tsresol=0x80 | 20, big=big),
            cb.spb(FRAMES[3], big=big),
            cb.other_block(10, b"\x01" * 33, big=big),  # DSB, padded
        ]
    )
    reader, recs = _read(_write(tmp_path, data))
    assert reader.format == "pcapng" and not reader.truncated, reader.warnings
    assert [r.linktype for r in recs] == [1, 113, 101, 1]
    assert [r.data for r in recs] == FRAMES[:4]
    assert recs[0].ts == pytest.approx(ts, abs=1e-6)
    assert recs[1].ts == pytest.approx(ts + 7e-9, abs=1e-6)
    assert recs[2].ts == pytest.approx(ts + 0.5, abs=2**-20)
    assert reader.linktypes == {1, 113, 101}


def test_pcapng_multiple_sections_reset_interfaces_and_byte_order(tmp_path: Path) -> None:
    data = cb.shb() + cb.idb(1) + cb.epb(0, 10.0, FRAMES[0])
    data += cb.shb(big=True) + cb.idb(276, big=True) + cb.epb(0, 20.0, FRAMES[1], big=True)
    _reader, recs = _read(_write(tmp_path, data))
    assert [(r.linktype, r.data, r.ts) for r in recs] == [(1, FRAMES[0], 10.0), (276, FRAMES[1], 20.0)]


def test_pcapng_spb_uses_idb0_snaplen(tmp_path: Path) -> None:
    data = cb.shb() + cb.idb(1, snaplen=20) + cb.spb(FRAMES[0], wire=60)
    _, recs = _read(_write(tmp_path, data))
    assert recs[0].data == FRAMES[0][:20] and recs[0].wirelen == 60


def test_pcapng_packet_for_undeclared_interface_is_skipped(tmp_path: Path) -> None:
    data = cb.shb() + cb.idb(1) + cb.epb(3, 1.0, FRAMES[0]) + cb.epb(0, 2.0, FRAMES[1])
    reader, recs = _read(_write(tmp_path, data))
    assert [r.data for r in recs] == [FRAMES[1]] and reader.warnings


def _cut_cases() -> list[tuple[str, bytes, list[int]]]:
    recs = list(zip(TS, FRAMES, strict=True))
    p = cb.pcap(recs)
    ng = cb.shb() + cb.idb(1) + b"".join(cb.epb(0, t, f) for t, f in recs)
    return [
        ("pcap", p, [len(p) - 1, len(p) - 61, len(p) - 70, 24 + 3, 10]),
        ("pcapng", ng, [len(ng) - 1, len(ng) - 40, len(ng) - 81, 30, 6]),
    ]


@pytest.mark.parametrize(("kind", "data", "cuts"), _cut_cases())
def test_truncated_files_yield_what_was_read(tmp_path: Path, kind: str, data: bytes, cuts: list[int]) -> None:
    full_reader, full = _read(_write(tmp_path, data, "full"))
    assert not full_reader.truncated
    for cut in cuts:
        reader, recs = _read(_write(tmp_path, data[:cut], f"cut{cut}"))
        assert reader.truncated, (kind, cut)
        assert any("truncated" in w for w in reader.warnings)
        assert [r.data for r in recs] == [r.data for r in full[: len(recs)]]
        assert len(recs) < len(full)


@pytest.mark.parametrize(
    "data",
    [b"", b"GIF8", b"hello, this is not a capture at all", b"\x0a\x0d\x0d\x0a" + b"\x00" * 8 + b"\xff" * 16],
)
def test_not_a_capture_raises_malformed_naming_the_file(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path, data, "notes.pcap")
    with pytest.raises(MalformedInput, match=r"notes\.pcap.*not a pcap or pcapng file"):
        list(open_capture(path))


def _lying_pcap() -> list[bytes]:
    good = cb.pcap([(1.0, FRAMES[0])])
    huge = good + bytes.fromhex("01000000 00000000 ffffff7f ffffff7f") + b"x" * 100
    over = good + (MAX_CAPLEN + 1).to_bytes(4, "little").join(
        [bytes(8), (MAX_CAPLEN + 1).to_bytes(4, "little")]
    )
    return [huge, over + b"y" * 100]


def _lying_pcapng() -> list[bytes]:
    head = cb.shb() + cb.idb(1) + cb.epb(0, 1.0, FRAMES[0])
    bad_mult = head + bytes.fromhex("06000000 21000000") + bytes(40)
    too_small = head + bytes.fromhex("06000000 08000000") + bytes(40)
    too_large = head + bytes.fromhex("06000000 00fcffff") + bytes(40)
    past_eof = head + bytes.fromhex("06000000 00100000") + bytes(40)
    skip_past_eof = head + bytes.fromhex("05000000 00100000") + bytes(40)
    caplen_lies = (
        head
        + cb.epb(0, 2.0, FRAMES[1])[:20]
        + (10_000).to_bytes(4, "little")
        + cb.epb(0, 2.0, FRAMES[1])[24:]
    )
    return [bad_mult, too_small, too_large, past_eof, skip_past_eof, caplen_lies]


@pytest.mark.parametrize("data", _lying_pcap() + _lying_pcapng())
def test_lying_lengths_stop_cleanly(tmp_path: Path, data: bytes) -> None:
    reader, recs = _read(_write(tmp_path, data))
    assert recs and recs[0].data == FRAMES[0]  # what came before is kept
    assert all(len(r.data) <= MAX_CAPLEN for r in recs)
    assert reader.truncated or reader.warnings


def test_stream_over_many_chunks_matches_count(tmp_path: Path) -> None:
    frame = bytes(1400)
    n = 4000  # > 2 chunks of 2 MiB
    path = _write(tmp_path, cb.pcap((i * 0.001, frame) for i in range(n)))
    reader, recs = _read(path)
    assert len(recs) == n and not reader.truncated
    assert recs[-1].ts == pytest.approx((n - 1) * 0.001)


@pytest.mark.parametrize("name", sorted(REAL_COUNTS))
def test_real_captures_read_completely(name: str) -> None:
    path = REAL / name
    count, fmt, linktypes = REAL_COUNTS[name]
    reader, recs = _read(path)
    assert (len(recs), reader.format, reader.linktypes) == (count, fmt, linktypes)
    assert not reader.truncated and reader.warnings == []
    assert all(r.ts > 1e9 for r in recs)


def test_real_capture_counts_agree_with_capinfos() -> None:
    import shutil

    if shutil.which("capinfos") is None:
        pytest.skip("capinfos (Wireshark) not installed")
    for name, (count, _, _) in REAL_COUNTS.items():
        path = REAL / name
        if path.exists():
            out = subprocess.run(
                ["capinfos", "-M", "-c", str(path)], capture_output=True, text=True, check=True
            )
            assert out.stdout.split()[-1] == str(count), name
