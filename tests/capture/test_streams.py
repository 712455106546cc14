"""Compressed captures, pipes and standard input, and the pcapng interface cap."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import sys
import threading
from pathlib import Path

import capture_builder as cb
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hikscan.capture import open_capture, pcapng, streams
from hikscan.errors import MalformedInput

REAL = Path(__file__).resolve().parents[2] / "pcaps" / "real"
SAMPLE = REAL / "IoT_Sentinel__D-LinkCam_Setup-A-2-STA.pcap"  # 642 records (capinfos -c)
NG_SAMPLE = REAL / "nDPI__rtsp.pcap"  # pcapng, 568 records
COMPRESS = {
    "gzip": lambda b: gzip.compress(b, mtime=0),
    "xz": lambda b: lzma.compress(b, format=lzma.FORMAT_XZ),
    "lzma": lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE),
    "bzip2": bz2.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}
FUZZ = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _records(path: Path | str) -> tuple[list[bytes], object]:
    with open_capture(path) as reader:
        return [r.data for r in reader], reader


@pytest.mark.parametrize("kind", sorted(COMPRESS))
@pytest.mark.parametrize("sample", [SAMPLE, NG_SAMPLE], ids=["pcap", "pcapng"])
def test_compressed_capture_reads_like_the_plain_one(tmp_path: Path, kind: str, sample: Path) -> None:
    plain, _ = _records(sample)
    path = tmp_path / "capture.pcap"  # the name says nothing: the magic decides
    path.write_bytes(COMPRESS[kind](sample.read_bytes()))
    got, reader = _records(path)
    assert got == plain and len(got) in (642, 568)
    assert not reader.truncated and reader.warnings == []  # type: ignore[attr-defined]
    assert reader.position == path.stat().st_size  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_concatenated_streams_are_one_capture(tmp_path: Path, kind: str) -> None:
    """`cat a.gz b.gz` (multi-member gzip, several xz/bzip2/zstd streams) is the bytes joined."""
    if kind == "lzma":
        pytest.skip("the legacy .lzma format has no concatenation")
    data = SAMPLE.read_bytes()
    path = tmp_path / "joined.pcap.x"
    path.write_bytes(COMPRESS[kind](data[:5000]) + COMPRESS[kind](data[5000:]))
    assert _records(path)[0] == _records(SAMPLE)[0]


@pytest.mark.parametrize("kind", ["gzip", "xz", "bzip2", "zstd"])
def test_cut_compressed_capture_keeps_what_was_read(tmp_path: Path, kind: str) -> None:
    """Two streams, the second cut in its middle (bzip2 decodes nothing of a block until its end).
    zstd's stream reader ends a cut frame quietly: there the record cut in two says it."""
    data = SAMPLE.read_bytes()
    second = COMPRESS[kind](data[40_000:])
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(COMPRESS[kind](data[:40_000]) + second[: len(second) // 2])
    got, reader = _records(path)
    assert reader.truncated  # type: ignore[attr-defined]
    said = "ends inside a record" if kind == "zstd" else "corrupt or cut"
    assert any(said in w for w in reader.warnings)  # type: ignore[attr-defined]
    assert len(got) >= 100 and got == _records(SAMPLE)[0][: len(got)]


def test_decompression_bound_is_an_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "RATIO_SLACK", 64 * 1024)
    path = tmp_path / "bomb.pcap.bz2"
    path.write_bytes(bz2.compress(cb.pcap([]) + b"\0" * 4_000_000))  # ~4 MB of empty records in ~100 bytes
    with pytest.raises(MalformedInput, match=r"bomb\.pcap\.bz2: bzip2 data decompresses past .*bomb"):
        _records(path)


def test_xz_dictionary_larger_than_the_memory_limit_is_refused(tmp_path: Path) -> None:
    blob = bytearray(lzma.compress(SAMPLE.read_bytes(), format=lzma.FORMAT_ALONE))
    blob[1:5] = struct.pack("<I", 2**30)  # the header's dictionary size: 1 GiB
    path = tmp_path / "big_dict.lzma"
    path.write_bytes(bytes(blob))
    with pytest.raises(MalformedInput, match=r"big_dict\.lzma: lzma data is corrupt or cut"):
        _records(path)


def test_compressed_non_capture_says_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "notes.gz"
    path.write_bytes(gzip.compress(b"hello world\n" * 10))
    with pytest.raises(MalformedInput, match=r"not a pcap or pcapng file \(gzip-compressed, unknown magic"):
        open_capture(path)


def test_pcapng_large_block_skipped_on_a_stream(tmp_path: Path) -> None:
    """A 5 MiB custom block (more than a read chunk) in a compressed pcapng is read past, not sought."""
    frame = bytes(range(60))
    data = cb.shb() + cb.idb(1) + cb.other_block(0xBAD, b"\0" * (5 * 2**20)) + cb.epb(0, 1.0, frame)
    path = tmp_path / "x.pcapng.zst"
    path.write_bytes(COMPRESS["zstd"](data))
    assert _records(path)[0] == [frame]


def _pipe_with(data: bytes) -> int:
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as w:
            w.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return read_fd


@pytest.mark.parametrize("kind", [None, "gzip"])
def test_standard_input_is_a_capture(monkeypatch: pytest.MonkeyPatch, kind: str | None) -> None:
    data = SAMPLE.read_bytes()
    fd = _pipe_with(COMPRESS[kind](data) if kind else data)
    with os.fdopen(fd, "rb") as pipe:
        monkeypatch.setattr(sys, "stdin", type("In", (), {"buffer": pipe})())
        got, reader = _records("-")
    assert got == _records(SAMPLE)[0]
    assert reader.path.name == "<stdin>" and reader.size == 0  # type: ignore[attr-defined]


def test_fifo_is_read_forward(tmp_path: Path) -> None:
    fifo = tmp_path / "live.pcapng"
    os.mkfifo(fifo)
    data = NG_SAMPLE.read_bytes()

    def feed() -> None:
        with fifo.open("wb") as w:
            w.write(data)

    threading.Thread(target=feed, daemon=True).start()
    assert len(_records(fifo)[0]) == 568


def test_pcapng_interfaces_capped_per_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcapng, "MAX_INTERFACES", 8)
    frame = bytes(60)
    ok = cb.shb() + cb.idb(1) * 8 + cb.epb(7, 1.0, frame)
    # A new section starts a new count: 8 + 8 interfaces is fine.
    path = tmp_path / "ok.pcapng"
    path.write_bytes(ok + ok)
    got, reader = _records(path)
    assert len(got) == 2 and not reader.truncated  # type: ignore[attr-defined]
    path.write_bytes(cb.shb() + cb.idb(1) + cb.epb(0, 1.0, frame) + cb.idb(1) * 9 + cb.epb(0, 2.0, frame))
    got, reader = _records(path)
    assert len(got) == 1 and reader.truncated  # type: ignore[attr-defined]
    assert any("more than 8 interfaces" in w for w in reader.warnings)  # type: ignore[attr-defined]


@FUZZ
@given(kind=st.sampled_from(sorted(COMPRESS)), tail=st.binary(max_size=2048), cut=st.integers(0, 4096))
def test_fuzz_compressed_bytes_give_records_or_malformed(kind: str, tail: bytes, cut: int) -> None:
    """Any bytes behind a compression magic, or a compressed capture cut and mangled: records or
    MalformedInput, nothing else."""
    import tempfile

    good = COMPRESS[kind](cb.pcap([(1.0, bytes(60))] * 20))
    blob = good[:cut] + tail
    with tempfile.NamedTemporaryFile(suffix=".pcap") as fh:
        fh.write(blob)
        fh.flush()
        try:
            with open_capture(fh.name) as reader:
                for rec in reader:
                    assert len(rec.data) <= 262_144
        except MalformedInput:
            pass
