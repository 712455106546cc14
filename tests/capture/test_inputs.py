"""Which files the inputs mean: captures found by magic, tcpdump rings in order, nothing skipped silently."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import capture_builder as cb
import pytest

from hikscan.capture.inputs import expand_inputs, expand_paths
from hikscan.errors import UsageError

PCAP = cb.pcap([(1.0, bytes(60))])


def _ring(tmp_path: Path) -> Path:
    ring = tmp_path / "ring"
    ring.mkdir()
    # tcpdump -C 1 (trace.pcap, trace.pcap1, …), -W 100 (zero-padded), compressed old files
    for name in ("trace.pcap", "trace.pcap1", "trace.pcap2", "trace.pcap10", "cam.pcap00", "cam.pcap01"):
        (ring / name).write_bytes(PCAP)
    (ring / "old.pcap.gz").write_bytes(gzip.compress(PCAP, mtime=0))
    (ring / "capture_from_sensor").write_bytes(PCAP)  # no suffix at all: found by its bytes
    (ring / "README").write_text("rotated by tcpdump\n")
    return ring


def test_ring_files_found_by_magic_in_tcpdump_order(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    found = expand_inputs([ring])
    assert [p.name for p in found.files] == [
        "cam.pcap00", "cam.pcap01", "capture_from_sensor", "old.pcap.gz",
        "trace.pcap", "trace.pcap1", "trace.pcap2", "trace.pcap10",
    ]  # fmt: skip
    assert found.problems == []
    assert len(found.notes) == 1 and "README" in found.notes[0] and "not captures" in found.notes[0]
    assert expand_paths([ring]) == found.files


def test_bad_and_unreadable_members_are_named_not_skipped(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    (ring / "trace.pcap3").write_bytes(b"\x00" * 64)  # named like a ring member, not a capture
    (ring / "trace.pcap4").symlink_to(ring / "gone.pcap")  # cannot be read
    found = expand_inputs([ring])
    assert len(found.files) == 8
    assert len(found.problems) == 2
    assert "trace.pcap3 is not a pcap or pcapng file (unknown magic 00000000)" in found.problems[0]
    assert "trace.pcap4: cannot read" in found.problems[1]


def test_special_files_in_a_directory_are_noted(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    os.mkfifo(ring / "live.pcap")
    found = expand_inputs([ring])
    assert "live.pcap (not a regular file)" in found.notes[0]
    assert all(p.name != "live.pcap" for p in found.files)


def test_the_same_file_is_read_once(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    one = ring / "trace.pcap"
    os.link(one, tmp_path / "hard.pcap")
    (tmp_path / "soft.pcap").symlink_to(one)
    found = expand_inputs([one, tmp_path / "hard.pcap", tmp_path / "soft.pcap", ring, one])
    assert found.files.count(one) == 1
    assert all(p.name not in ("hard.pcap", "soft.pcap") for p in found.files)
    assert len(found.files) == 8
    assert sum("read once" in n for n in found.notes) == 4


def test_usage_errors_before_any_reading(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or directory"):
        expand_inputs([tmp_path / "missing.pcap"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no pcap or pcapng captures"):
        expand_inputs([tmp_path / "empty"])


def test_standard_input_once_and_never_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        monkeypatch.setattr("sys.stdin", pipe)
        assert [str(p) for p in expand_inputs(["-"]).files] == ["-"]
        with pytest.raises(UsageError, match="given twice"):
            expand_inputs(["-", "-"])

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty())
    with pytest.raises(UsageError, match="terminal"):
        expand_inputs(["-"])
