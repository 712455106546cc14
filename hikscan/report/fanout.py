"""Several outputs from one run: `-f json -o r.json -f html -o r.html` pairs formats and files by position.

`plan_outputs` checks the pairing (a mismatch is a usage error); `open_writers` opens every target (a
non-streamed format under a temporary name, renamed when complete) and returns one writer that passes
each record to all of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from hikscan.cli.output import report_output
from hikscan.errors import UsageError
from hikscan.report.writers import WRITERS, Writer
from hikscan.report.writers.base import TextWriter

Target = tuple[str, Path | None]


def plan_outputs(
    formats: list[str] | None, outputs: list[Path] | None, default: str = "table", syslog: bool = False
) -> list[Target]:
    """[(format, path or None for stdout)]: one -o per -f, in order; one -o and no -f: the default format."""
    fmts = list(formats or []) or [default]
    if syslog and "cef" not in fmts:
        raise UsageError("--syslog frames CEF lines: use it with -f cef")
    paths = list(outputs or [])
    if not paths:
        if len(fmts) > 1:
            raise UsageError(
                f"{len(fmts)} --format options need one --output each, in the same order "
                "(e.g. -f json -o r.json -f html -o r.html)"
            )
        return [(fmts[0], None)]
    if len(paths) != len(fmts):
        raise UsageError(
            f"{len(fmts)} --format and {len(paths)} --output options: give one -o per -f, in the same order"
        )
    seen: set[str] = set()
    for path in paths:
        key = "-" if str(path) == "-" else str(path.resolve())
        if key in seen:
            raise UsageError(f"--output {path} is given twice")
        seen.add(key)
    return list(zip(fmts, paths, strict=True))


class FanOut:
    """A Writer that hands every call to several writers, in order."""

    name = "fanout"
    streamed = True

    def __init__(self, writers: list[Writer]) -> None:
        self.writers = writers
        texts = [w for w in writers if isinstance(w, TextWriter)]
        # every writer only copies findings' JSON text: a worker's findings can reach them undecoded
        self.text_writers: list[TextWriter] | None = texts if len(texts) == len(writers) else None

    def begin(self, meta: dict[str, Any]) -> None:
        for w in self.writers:
            w.begin(meta)

    def section(self, name: str, stats: dict[str, Any]) -> None:
        for w in self.writers:
            w.section(name, stats)

    def finding(self, record: dict[str, Any]) -> None:
        for w in self.writers:
            w.finding(record)

    def finding_lines(self, block: bytes) -> None:
        """Findings as a block of JSON lines (only when `text_writers` says every writer takes them so)."""
        assert self.text_writers is not None
        for w in self.text_writers:
            w.finding_lines(block)

    def device(self, record: dict[str, Any]) -> None:
        for w in self.writers:
            w.device(record)

    def end_section(self) -> None:
        for w in self.writers:
            w.end_section()

    def end(self, summary: dict[str, Any], stats: list[dict[str, Any]], meta: dict[str, Any]) -> None:
        for w in self.writers:
            w.end(summary, stats, meta)


def make_writer(fmt: str, out: IO[str], command: str, syslog: bool = False) -> Writer:
    cls = WRITERS[fmt]
    if syslog and getattr(cls, "syslog_framing", False):
        return cls(out, command, syslog=True)  # type: ignore[call-arg]
    return cls(out, command)


@contextlib.contextmanager
def open_writers(targets: list[Target], command: str, syslog: bool = False) -> Iterator[FanOut]:
    """Open every output and yield one writer for all; files are complete (renamed) on normal exit."""
    with contextlib.ExitStack() as stack:
        writers = []
        for fmt, path in targets:
            out = stack.enter_context(report_output(path, atomic=not WRITERS[fmt].streamed))
            writers.append(make_writer(fmt, out, command, syslog))
        yield FanOut(writers)
