"""report.spool: records kept out of memory and read back in order, files deleted when done."""

from __future__ import annotations

import gc
import json
import random
from pathlib import Path

import pytest

from hikscan.passive import records as records_module
from hikscan.passive.engine import Engine
from hikscan.report.model import Finding, severity_rank
from hikscan.report.spool import RecordBuffer, SortedSpool, SpilledRecords, TextSpool, text_blocks


def test_sorted_spool_reads_back_in_key_order_and_keeps_ties_in_insertion_order() -> None:
    """Records come back in the order given by their numbers (here: by key, stable, as SortKeys gives)."""
    rng = random.Random(7)
    items = [(rng.randrange(5), f"r{i}", {"n": i, "pad": "x" * rng.randrange(200)}) for i in range(3000)]
    spool: SortedSpool[dict[str, object]] = SortedSpool(memory_bytes=64 << 10)
    for _key, _name, record in items:
        spool.append(record)
    order = sorted(range(len(items)), key=lambda i: items[i][0])
    assert spool.on_disk  # past 64 KiB it lives in a file on disk, not in memory
    want = [record for _key, _name, record in sorted(items, key=lambda item: item[0])]  # stable
    assert [spool.read(i) for i in order[:50]] == want[:50]  # read() and in_order() alike
    got = list(spool.in_order(order))
    assert got == want
    assert spool._file is not None and spool._file.closed  # read once: the file is gone
    small: SortedSpool[dict[str, object]] = SortedSpool()  # the same, all in memory
    for _key, _name, record in items[:300]:
        small.append(record)
    assert not small.on_disk
    order = sorted(range(300), key=lambda i: items[i][0])
    assert list(small.in_order(order)) == [r for _k, _n, r in sorted(items[:300], key=lambda i: i[0])]


def test_text_spool_gives_back_each_text_with_its_tag_in_the_order_asked() -> None:
    """A findings report's spool when the findings are made as JSON text: each text comes back byte for byte
    with its tag (a finding's facts for the tally), kept as a column, in memory and past it on disk."""
    rng = random.Random(11)
    tags = [("high", "cctv-to-high-risk-country", "CN"), ("info", "vendor-cloud", None), ("low", "x", "??")]
    items = [
        (rng.randrange(5), json.dumps({"n": i, "name": "\u8424\u77f3 " + "x" * rng.randrange(300)}).encode(),
         tags[rng.randrange(3)])
        for i in range(2000)
    ]  # fmt: skip
    for memory in (64 << 10, 16 << 20):
        spool: TextSpool[tuple[str, str, str | None]] = TextSpool(memory_bytes=memory)
        for _key, text, tag in items:
            spool.append((text, tag))
        assert spool.on_disk == (memory < 1 << 20)
        order = sorted(range(len(items)), key=lambda i: items[i][0])
        assert spool.read(order[3]) == items[order[3]][1:]
        got = list(spool.in_order(order))
        assert got == [(text, tag) for _key, text, tag in sorted(items, key=lambda item: item[0])]
        assert all(type(text) is bytes for text, _tag in got)


def test_text_blocks_are_whole_lines_of_the_texts_in_order() -> None:
    texts = [f'{{"n": {i}, "s": "{"é" * (i % 7)}"}}'.encode() for i in range(5000)]
    blocks = list(text_blocks(iter(texts), size=4096))
    assert len(blocks) > 10 and all(block.endswith(b"\n") for block in blocks)
    assert b"".join(blocks) == b"".join(text + b"\n" for text in texts)
    assert list(text_blocks(iter([]))) == []


def test_spilled_records_round_trip_and_delete_their_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    records = [{"severity": "high", "rule": f"r{i}", "text": "\u8424\u77f3 \x1b[31m"} for i in range(100)]
    spilled = SpilledRecords(iter(records))
    assert len(spilled) == 100 and len(list(tmp_path.iterdir())) == 1
    assert list(spilled) == records
    assert list(tmp_path.iterdir()) == []
    dropped = SpilledRecords(iter(records))
    dropped.discard()
    assert list(tmp_path.iterdir()) == []
    buffer = RecordBuffer()  # a writer's buffer: no name on disk at any time, read back as JSON text
    for record in records[:3]:
        buffer.add(record)
    assert list(tmp_path.iterdir()) == []
    assert [json.loads(line) for line in buffer.lines()] == records[:3]


def test_the_stream_is_the_sorted_capped_list(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the stream yields is every detector's finding, most severe first, then by time and device,
    capped per device with the rest counted — the plain in-memory definition, computed here."""
    monkeypatch.setattr(records_module, "MAX_FINDINGS_PER_DEVICE", 5)
    streamed = [f.to_dict() for f in engine.finding_stream()]
    folded = dict(engine.folded_findings)
    everything: list[Finding] = []
    for detector in engine.detectors:
        everything.extend(detector.findings(engine, []))
    everything.sort(key=lambda f: (-severity_rank(f.severity), f.first_seen, f.device.get("ip") or ""))
    per_device: dict[str, int] = {}
    want, want_folded = [], {}
    for finding in everything:
        ip = finding.device.get("ip") or ""
        per_device[ip] = per_device.get(ip, 0) + 1
        if ip and per_device[ip] > 5:
            want_folded[ip] = want_folded.get(ip, 0) + 1
            continue
        want.append(finding.to_dict())
    strip = [{k: v for k, v in f.items() if k != "new_destination"} for f in streamed]
    assert len(want) > 100 and want_folded  # the capture really has many findings, and folds some
    assert strip == [{k: v for k, v in f.items() if k != "new_destination"} for f in want]
    assert list(folded.items()) == list(want_folded.items())  # counted as the report meets them


def test_the_stream_holds_one_finding_at_a_time(engine: Engine) -> None:
    """Memory bounded by design: while the stream is read, no more than a handful of Finding objects live."""
    stream = engine.finding_stream()
    most, count = 0, 0
    for finding in stream:
        count += 1
        if count % 50 == 0:
            gc.collect()
            most = max(most, sum(1 for o in gc.get_objects() if isinstance(o, Finding)))
        del finding
    assert count > 100 and most <= 3


def test_records_read_back_keep_their_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's record comes back as Rendered: equal to the dict, carrying the very text it was read from,
    which the JSON writers reuse (record_json) instead of encoding it again."""
    from hikscan.report.output import dumps
    from hikscan.report.spool import Rendered, record_json

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    records = [{"severity": "high", "remote": {"name": "\u8424\u77f3.example", "ports": ["443/tcp"]}, "n": i}
               for i in range(5)]  # fmt: skip
    back = list(SpilledRecords(iter(records)))
    assert back == records and all(isinstance(r, Rendered) for r in back)
    assert [record_json(r) for r in back] == [dumps(r) for r in records]
    assert record_json({"plain": True}) == dumps({"plain": True})


def test_spilled_records_read_as_lines_are_the_text_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """line_blocks() gives the records' JSON text exactly as dumps() wrote it, in order, in blocks of whole
    lines, never decoded; line and paragraph separators inside values (\\u2028, \\u0085: str.splitlines
    cuts at them) stay whole."""
    from hikscan.report import spool
    from hikscan.report.output import dumps

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr(spool, "TEXT_CHUNK", 300)  # several blocks, each cut at a line's end
    odd = "\u8424\u77f3 \u2028 \u2029 \u0085 \x1c \r\n \x1b[31m"
    records = [{"severity": "high", "rule": f"r{i}", "name": odd * (i % 4)} for i in range(60)]
    spilled = SpilledRecords(dumps(record).encode("utf-8") for record in records)  # as a worker's text
    blocks = list(spilled.line_blocks())
    assert len(blocks) > 3 and all(block.endswith(b"\n") for block in blocks)
    assert b"".join(blocks).decode("utf-8") == "".join(dumps(record) + "\n" for record in records)
    assert list(tmp_path.iterdir()) == []


def test_sort_keys_order_as_sorted_orders_their_tuples() -> None:
    """SortKeys (columns) gives the order sorted() gives by (rank, time, tag) tuples, ties by insertion —
    with many ties in every column, negative and equal times — and holds a fraction of the tuples' bytes."""
    import sys
    from array import array

    from hikscan.report.spool import SortKeys

    rng = random.Random(11)
    tags = ["", "10.0.0.2", "10.0.0.10", "fe80::1", "\u8424"]
    times = [0.0, -0.0, 1.5, -3.25]
    rows = [
        (-rng.randrange(4), rng.choice([*times, 1e9 + rng.random()]), rng.choice(tags)) for _ in range(5000)
    ]
    keys = SortKeys()
    for row in rows:
        keys.add(*row)
    assert len(keys) == len(rows)
    assert keys.order() == sorted(range(len(rows)), key=rows.__getitem__)
    assert [keys.tag(i) for i in range(3)] == [row[2] for row in rows[:3]]
    columns = sum(sys.getsizeof(c) for c in (keys._ranks, keys._times, keys._tags))
    tuples = sys.getsizeof(rows) + sum(sys.getsizeof(r) + sys.getsizeof(r[1]) for r in rows)
    assert columns * 4 < tuples and isinstance(keys._times, array)
