"""Zeek logs as input: a bounded reader for Zeek's TSV (ASCII writer, `#fields` header) and JSON-lines logs.

    read_log(path) → ZeekLog: iterate for (log type, record); bad lines are counted in `bad`, never fatal

TSV follows Zeek's ASCII writer (docs.zeek.org, "Zeek Logs" / LogAscii): `#separator \\x09`, then
`#set_separator`, `#empty_field`, `#unset_field`, `#path`, `#open`, `#fields`, `#types` lines; fields
separated by the separator, non-printable bytes written as `\\xHH`; `-` is unset, `(empty)` an empty
set/string; set and vector fields separated by the set separator. JSON logs (LogAscii::use_json=T) are
one object per line with flat dotted keys (`id.orig_h`) and `ts` as epoch seconds or ISO 8601.
Only the fields hikscan uses are kept. A record is a dict of field → str | list[str] | None.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from hikscan.errors import MalformedInput

MAX_LINE = 65_536  # bytes; a longer line is counted as bad and skipped
MAX_FIELDS = 512
MAX_SET_ITEMS = 256
MAX_RECORDS = 50_000_000  # per file; the rest is counted, not read
MAX_BAD_LINES = 1_000_000  # past this many bad lines the file is abandoned as not a Zeek log
LOG_TYPES = ("conn", "dns", "ssl", "http", "dhcp", "known_services")
_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")
Record = dict[str, Any]


def _open(path: Path) -> IO[bytes]:
    with open(path, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    if gz:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def first_line(path: Path) -> bytes:
    """The file's first line (at most MAX_LINE bytes), for format detection."""
    try:
        with _open(path) as handle:
            return handle.readline(MAX_LINE)
    except (OSError, EOFError, gzip.BadGzipFile):
        return b""


def is_zeek_log(path: Path) -> bool:
    """A file whose first line is `#separator`, or a JSON object with an `id.orig_h` or `_path` key (or
    with `ts`, in a file named after a log hikscan reads: known_services.log has no connection id)."""
    line = first_line(path).strip()
    if line.startswith(b"#separator"):
        return True
    if line.startswith(b"{"):
        try:
            obj = json.loads(line)
        except ValueError:
            return False
        if not isinstance(obj, dict):
            return False
        named = "ts" in obj and log_type_from_name(path) in LOG_TYPES
        return "id.orig_h" in obj or "_path" in obj or named
    return False


def log_type_from_name(path: Path) -> str:
    """conn.log, conn.09:00:00-10:00:00.log.gz, dns.log.json → conn, dns."""
    return path.name.split(".", 1)[0].lower()


def unescape(raw: bytes) -> str:
    """Zeek's `\\xHH` escapes → bytes → UTF-8 text (undecodable bytes replaced)."""
    if b"\\x" in raw:
        raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    return raw.decode("utf-8", "replace")


class Header:
    """The TSV header lines of one log."""

    def __init__(self) -> None:
        self.separator = b"\t"
        self.set_separator = b","
        self.empty = b"(empty)"
        self.unset = b"-"
        self.path = ""
        self.fields: list[str] = []
        self.types: list[str] = []

    def directive(self, line: bytes) -> None:
        """One `#name<sep>value` line (`#separator` uses a space and an escaped value)."""
        if line.startswith(b"#separator"):
            value = line[len(b"#separator") :].strip()
            sep = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), value)
            if len(sep) != 1:
                raise MalformedInput(f"bad #separator {value[:20]!r}")
            self.separator = sep
            return
        name, _, value = line[1:].partition(self.separator)
        if name == b"set_separator":
            self.set_separator = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), value) or b","
        elif name == b"empty_field":
            self.empty = value
        elif name == b"unset_field":
            self.unset = value
        elif name == b"path":
            self.path = unescape(value)
        elif name in (b"fields", b"types"):
            items = [unescape(v) for v in value.split(self.separator)]
            if len(items) > MAX_FIELDS:
                raise MalformedInput(f"#{name.decode()} has more than {MAX_FIELDS} fields")
            if name == b"fields":
                self.fields = items
            else:
                self.types = items


def parse_tsv_line(line: bytes, header: Header) -> Record:
    """One TSV data line under `header` → record; MalformedInput if it does not fit the header."""
    if not header.fields:
        raise MalformedInput("data line before #fields")
    values = line.split(header.separator)
    if len(values) != len(header.fields):
        raise MalformedInput(f"{len(values)} fields where #fields lists {len(header.fields)}")
    record: Record = {}
    for i, (name, raw) in enumerate(zip(header.fields, values, strict=True)):
        kind = header.types[i] if i < len(header.types) else "string"
        if raw == header.unset:
            record[name] = None
        elif kind.startswith(("set[", "vector[", "table[")):  # table[…]: sets in older Zeek/Bro logs
            if raw == header.empty:
                record[name] = []
            else:
                items = raw.split(header.set_separator)
                if len(items) > MAX_SET_ITEMS:
                    raise MalformedInput(f"{name}: more than {MAX_SET_ITEMS} items")
                record[name] = [unescape(v) for v in items]
        else:
            record[name] = "" if raw == header.empty else unescape(raw)
    return record


def parse_json_line(line: bytes) -> Record:
    """One JSON-lines record → record (values as text, arrays as lists of text)."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise MalformedInput(f"not JSON: {exc.__class__.__name__}") from None
    if not isinstance(obj, dict) or len(obj) > MAX_FIELDS:
        raise MalformedInput(f"a JSON log line must be an object of at most {MAX_FIELDS} fields")
    record: Record = {}
    for key, value in obj.items():
        if isinstance(value, list):
            record[key] = [_text(v) for v in value[:MAX_SET_ITEMS]]
        elif value is None:
            record[key] = None
        else:
            record[key] = _text(value)
    return record


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, sort_keys=True)[:1000]


def timestamp(value: object) -> float:
    """Zeek `ts`: epoch seconds ("1700000000.123456") or ISO 8601 ("2023-11-14T22:13:20.123456Z")."""
    if not isinstance(value, str) or not value:
        raise MalformedInput("no ts")
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise MalformedInput(f"bad ts {value[:40]!r}") from None


class ZeekLog:
    """One Zeek log file: iterate for (log type, record). Counts records, bad lines (by reason), skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self.bad: Counter[str] = Counter()
        self.skipped = 0  # records past MAX_RECORDS
        self.log_type = log_type_from_name(path)

    def __iter__(self) -> Iterator[tuple[str, Record]]:
        header = Header()
        is_json: bool | None = None
        try:
            handle = _open(self.path)
        except OSError as exc:
            raise MalformedInput(f"{self.path}: cannot read ({exc.strerror})") from None
        with handle:
            while True:
                try:
                    line = handle.readline(MAX_LINE + 1)
                except (OSError, EOFError, gzip.BadGzipFile, ValueError):
                    self.bad["unreadable"] += 1
                    return
                if not line:
                    return
                if len(line) > MAX_LINE:
                    self.bad["line too long"] += 1
                    while line and not line.endswith(b"\n"):  # skip the rest of the line
                        line = handle.readline(MAX_LINE)
                    continue
                line = line.rstrip(b"\r\n")
                if not line:
                    continue
                if is_json is None:
                    is_json = line.startswith(b"{")
                if sum(self.bad.values()) >= MAX_BAD_LINES:
                    return
                try:
                    if line.startswith(b"#") and not is_json:
                        header.directive(line)
                        if header.path:
                            self.log_type = header.path.lower()
                        continue
                    record = parse_json_line(line) if is_json else parse_tsv_line(line, header)
                except MalformedInput as exc:
                    self.bad[str(exc).split(":", 1)[0][:60]] += 1
                    continue
                kind = str(record.get("_path") or self.log_type).lower()
                if self.records >= MAX_RECORDS:
                    self.skipped += 1
                    continue
                self.records += 1
                yield kind, record


def find_logs(path: Path) -> list[Path]:
    """A Zeek log file, or the Zeek logs in a directory (recursively, by name) that hikscan reads."""
    if path.is_file():
        return [path]
    found = sorted(p for p in path.rglob("*") if p.is_file() and is_zeek_log(p))
    return [p for p in found if log_type_from_name(p) in LOG_TYPES or _path_of(p) in LOG_TYPES]


def _path_of(path: Path) -> str:
    """The log type a TSV log names in its `#path` header (read from the first lines only)."""
    try:
        with _open(path) as handle:
            for _ in range(16):
                line = handle.readline(MAX_LINE)
                if line.startswith(b"#path"):
                    return unescape(line[5:].strip()).lower()
    except (OSError, EOFError, gzip.BadGzipFile):
        pass
    return ""


def is_zeek_input(path: Path) -> bool:
    """A Zeek log file, or a directory that holds at least one (and no capture is needed)."""
    if path.is_file():
        return is_zeek_log(path)
    if path.is_dir():
        return any(p.is_file() and is_zeek_log(p) for p in sorted(path.iterdir())[:200])
    return False
