"""The writer interface: a report is written as it is produced, record by record.

    begin(meta) → [section(name, stats)] → finding(record)… device(record)… → end(summary, stats)

Records are the JSON-ready dicts of the report model (see report/schema/report.schema.json). A writer
never holds more than it must: streamed formats write and flush each record; JSON writes findings
as they come and keeps only devices (bounded by the host caps) until the end.
"""

from __future__ import annotations

from typing import IO, Any, Protocol, runtime_checkable


class Writer(Protocol):
    name: str
    streamed: bool  # False: the output file is written under a temporary name, renamed at the end

    def __init__(self, out: IO[str], command: str) -> None: ...
    def begin(self, meta: dict[str, Any]) -> None: ...
    def section(self, name: str, stats: dict[str, Any]) -> None: ...
    def finding(self, record: dict[str, Any]) -> None: ...
    def device(self, record: dict[str, Any]) -> None: ...
    def end_section(self) -> None: ...
    def end(self, summary: dict[str, Any], stats: list[dict[str, Any]], meta: dict[str, Any]) -> None: ...


@runtime_checkable
class TextWriter(Writer, Protocol):
    """A writer that only copies each finding's JSON text (as report.output.dumps writes it): a worker's
    findings are handed to it as they were spilled, a block of JSON lines at a time, never decoded."""

    def finding_lines(self, block: bytes) -> None:
        """`block`: whole findings, each one JSON text (UTF-8) ending in a newline."""


def write_utf8(out: IO[str], data: bytes) -> None:
    """Text already encoded as UTF-8 to a text output: through the output's own `write_utf8` (cli.output's
    files: to the file's buffer, not decoded and encoded again), else decoded and written as text."""
    direct = getattr(out, "write_utf8", None)
    if direct is not None:
        direct(data)
    else:
        out.write(data.decode("utf-8"))


class KeptRows:
    """For the writers people read (table, HTML): findings and devices kept up to `max_rows` each, the rest
    counted in `more` (JSON, JSONL and CSV carry every record)."""

    max_rows = 2_000

    def keep_rows(self) -> None:
        self.findings: list[dict[str, Any]] = []
        self.devices: list[dict[str, Any]] = []
        self.more = 0

    def finding(self, record: dict[str, Any]) -> None:
        if len(self.findings) < self.max_rows:
            self.findings.append(record)
        else:
            self.more += 1

    def device(self, record: dict[str, Any]) -> None:
        if len(self.devices) < self.max_rows:
            self.devices.append(record)
        else:
            self.more += 1
