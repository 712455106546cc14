"""Which files a list of command-line inputs means: files as given, directories walked, `-` for stdin.

In a directory a file is a capture by its first bytes (pcap, pcapng, or gzip/xz/bzip2/zstd holding one),
not by its name, so `trace.pcap1`, tcpdump's `-C`/`-W` ring (`trace.pcap00`…) and `x.pcap.gz` are all
found. Nothing is skipped silently: a file that is not a capture is named in a note; one whose name
says capture but whose bytes do not, or that cannot be read, is a problem (the caller reports it and
exits 2 after reporting the rest). The same file reached twice (same device and inode: a hard link, a
symlink, a directory and a file inside it) is read once.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hikscan.capture import STDIN, capture_kind, open_capture
from hikscan.capture.streams import MAGIC_BYTES, Decompressed, Prefixed
from hikscan.errors import MalformedInput, UsageError

#: Names that say "capture": pcap/pcapng/cap/dmp, tcpdump ring and rotation numbers, compression.
CAPTURE_NAME = re.compile(
    r"\.(?:pcap|pcapng|cap|dmp)(?:\d{1,6}|\.\d{1,6})?(?:\.(?:gz|xz|bz2|zst|lzma))?$", re.IGNORECASE
)
#: Files listed by name in one note before "and N more".
NOTE_NAMES = 20


@dataclass
class Inputs:
    files: list[Path] = field(default_factory=list)  # in order; Path("-") is standard input
    problems: list[str] = field(default_factory=list)  # one line each: unreadable or bad files
    notes: list[str] = field(default_factory=list)  # one line each: what was skipped and why


def natural_key(path: Path) -> list[object]:
    """`trace.pcap2` before `trace.pcap10`, as tcpdump numbered them."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def sniff(path: Path) -> str | None:
    """'pcap', 'pcapng', or None; a compressed file is looked into. Raises OSError if unreadable."""
    with path.open("rb") as fh:
        head = fh.read(MAGIC_BYTES)
        kind = capture_kind(head)
        if kind in (None, "pcap", "pcapng"):
            return kind
        dec = Decompressed(Prefixed(head, fh), kind, str(path))
        try:
            inner = dec.read(MAGIC_BYTES)
        except MalformedInput:
            return None
        finally:
            dec.close()
        found = capture_kind(inner)
        return found if found in ("pcap", "pcapng") else None


def _why_not(path: Path) -> str:
    try:
        open_capture(path).close()
    except (MalformedInput, OSError) as exc:
        return str(exc) if isinstance(exc, MalformedInput) else f"{path}: cannot read: {exc.strerror or exc}"
    return f"{path} is not a pcap or pcapng file"


def _walk(root: Path, out: Inputs) -> list[Path]:
    found: list[Path] = []
    skipped: list[str] = []
    errors: list[str] = []

    def failed(exc: OSError) -> None:
        errors.append(f"{exc.filename or root}: cannot read: {exc.strerror or exc}")

    for top, dirs, names in os.walk(root, onerror=failed):
        dirs.sort()
        for name in sorted(names):
            path = Path(top, name)
            try:
                if not stat.S_ISREG(path.stat().st_mode):
                    skipped.append(f"{path.relative_to(root)} (not a regular file)")
                    continue
                kind = sniff(path)
            except OSError as exc:
                errors.append(f"{path}: cannot read: {exc.strerror or exc}")
                continue
            if kind is not None:
                found.append(path)
            elif CAPTURE_NAME.search(name):  # named like a capture: an error, in the reader's words
                errors.append(_why_not(path))
            else:
                skipped.append(str(path.relative_to(root)))
    out.problems += errors
    if skipped:
        listed = ", ".join(skipped[:NOTE_NAMES]) + (
            f" and {len(skipped) - NOTE_NAMES} more" if len(skipped) > NOTE_NAMES else ""
        )
        out.notes.append(f"{root}: skipped {len(skipped)} file(s) that are not captures: {listed}")
    return sorted(found, key=natural_key)


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> Inputs:
    """Files as given, directories walked (see the module doc). A missing path, `-` twice, or `-` on a
    terminal is a UsageError, raised before anything is read; a directory holding no capture too."""
    out = Inputs()
    seen: dict[tuple[int, int], Path] = {}
    stdin_given = False
    for given in paths:
        text = os.fspath(given)
        if text == STDIN:
            if stdin_given:
                raise UsageError("- (standard input) given twice")
            if sys.stdin is None or sys.stdin.isatty():
                raise UsageError("-: standard input is a terminal; pipe a capture in (tcpdump -w - | …)")
            stdin_given = True
            out.files.append(Path(STDIN))
            continue
        path = Path(text)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file or directory") from None
        except OSError as exc:
            out.problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        if stat.S_ISDIR(st.st_mode):
            before = len(out.problems)
            candidates = _walk(path, out)
            if not candidates and len(out.problems) == before:
                raise UsageError(f"{path}: no pcap or pcapng captures in this directory")
        else:
            if stat.S_ISREG(st.st_mode):  # not a FIFO: opening one would wait for its writer
                try:
                    path.open("rb").close()
                except OSError as exc:
                    out.problems.append(f"{path}: cannot read: {exc.strerror or exc}")
                    continue
            candidates = [path]
        for file in candidates:
            try:
                fst = file.stat()
            except OSError as exc:
                out.problems.append(f"{file}: cannot read: {exc.strerror or exc}")
                continue
            key = (fst.st_dev, fst.st_ino)
            if key in seen:
                same = "given twice" if file == seen[key] else f"is the same file as {seen[key]}"
                out.notes.append(f"{file} {same}; read once")
                continue
            seen[key] = file
            out.files.append(file)
    return out


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files of expand_inputs, for library callers (notes and problems dropped; a missing file is
    kept, so opening it raises as usual)."""
    out: list[Path] = []
    for given in paths:
        path = Path(given)
        if os.fspath(given) != STDIN and path.is_dir():
            out += _walk(path, Inputs())
        else:
            out.append(path)
    return out


def input_size(path: Path) -> int:
    """Bytes in a file (0 for standard input or a pipe): the progress total."""
    if os.fspath(path) == STDIN:
        return 0
    try:
        st = path.stat()
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0
