"""JSON lines: one object per record, flushed as written, so a killed run loses at most one line."""

from __future__ import annotations

import json
from typing import IO, Any

from hikscan.report.output import dumps
from hikscan.report.schema import validate_line, validating
from hikscan.report.spool import record_json
from hikscan.report.writers.base import write_utf8

TYPED_FINDING = b'{"type": "finding", '  # a finding's line opens so (JsonlWriter.write)


class JsonlWriter:
    name = "jsonl"
    streamed = True

    def __init__(self, out: IO[str], command: str = "analyze") -> None:
        self.out = out
        self.check = validating()

    def write(self, kind: str, record: dict[str, Any] | str) -> None:
        """`record`: a dict, or its JSON text (a worker's record passed on undecoded)."""
        text = record_json(record)  # a record read back from a worker keeps its text: not encoded again
        line = f'{{"type": {dumps(kind)}, {text[1:]}' if len(text) > 2 else dumps({"type": kind})
        if self.check:
            assert line == dumps({"type": kind, **(json.loads(text) if isinstance(record, str) else record)})
            validate_line(json.loads(line))
        self.out.write(line + "\n")
        self.out.flush()

    def begin(self, meta: dict[str, Any]) -> None:
        self.write("meta", meta)

    def section(self, name: str, stats: dict[str, Any]) -> None:
        return None

    def finding(self, record: dict[str, Any]) -> None:
        self.write("finding", record)

    def finding_lines(self, block: bytes) -> None:
        """A block of findings as JSON lines (TextWriter), written at once and flushed: each line gains its
        "type" as write() gives it (JSON text holds no raw newline, so each object starts a line)."""
        if self.check or b"\n{}\n" in b"\n" + block:  # checked, or an empty record: one line at a time
            for text in block.decode("utf-8").split("\n")[:-1]:
                self.write("finding", text)
            return
        if block:
            write_utf8(self.out, TYPED_FINDING + block[1:].replace(b"\n{", b"\n" + TYPED_FINDING))
            self.out.flush()

    def device(self, record: dict[str, Any]) -> None:
        self.write("device", record)

    def end_section(self) -> None:
        return None

    def end(self, summary: dict[str, Any], stats: list[dict[str, Any]], meta: dict[str, Any]) -> None:
        for record in stats:
            self.write("stats", record)
        self.write("summary", {**summary, "finished": meta.get("finished")})
