"""One JSON document: {"schema_version", "meta", "findings", "devices", "summary", "stats"}.

Findings are written as they come (the file is renamed into place only when complete); devices, which
follow every finding in the document, wait in a temporary file (report.spool.RecordBuffer).
"""

from __future__ import annotations

import json
from typing import IO, Any

from hikscan.report.meta import SCHEMA_VERSION
from hikscan.report.output import dumps
from hikscan.report.schema import validate_document, validating
from hikscan.report.spool import RecordBuffer, record_json
from hikscan.report.writers.base import write_utf8


class JsonWriter:
    name = "json"
    streamed = False

    def __init__(self, out: IO[str], command: str = "analyze") -> None:
        self.out = out
        self.check: list[str] | None = [] if validating() else None  # under test: the text, to validate
        self.command = command
        self.devices: RecordBuffer | None = None  # they follow every finding: kept on disk till then
        self.first = True

    def _write(self, text: str) -> None:
        self.out.write(text)
        if self.check is not None:
            self.check.append(text)

    def begin(self, meta: dict[str, Any]) -> None:
        self._write(f'{{"schema_version": {dumps(SCHEMA_VERSION)}, "findings": [')

    def section(self, name: str, stats: dict[str, Any]) -> None:
        return None

    def finding(self, record: dict[str, Any]) -> None:
        self._write(("\n" if self.first else ",\n") + record_json(record))
        self.first = False

    def finding_lines(self, block: bytes) -> None:
        """A block of findings as JSON lines (TextWriter): the newlines between them become ",\n"."""
        if not block:
            return
        data = (b"\n" if self.first else b",\n") + block[:-1].replace(b"\n", b",\n")
        self.first = False
        write_utf8(self.out, data)
        if self.check is not None:
            self.check.append(data.decode("utf-8"))

    def device(self, record: dict[str, Any]) -> None:
        if self.devices is None:
            self.devices = RecordBuffer()
        self.devices.add(record)

    def end_section(self) -> None:
        return None

    def end(self, summary: dict[str, Any], stats: list[dict[str, Any]], meta: dict[str, Any]) -> None:
        self._write('],\n"devices": [')
        for i, line in enumerate(self.devices.lines() if self.devices is not None else ()):
            self._write(",\n" + line if i else line)
        self._write(f'],\n"summary": {dumps(summary)},\n"stats": {dumps(stats)},\n"meta": {dumps(meta)}}}\n')
        if self.check is not None:
            validate_document(json.loads("".join(self.check)))
