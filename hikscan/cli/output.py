"""`-o FILE` safety: never onto an input, never into a directory, and failures are one line with exit 2.

`check_output(output, inputs)` runs before any work: it refuses an output that is a directory, whose
directory is missing or not writable, or that is the same file (device and inode, so symlinks, hard
links and relative paths all count) as any input or any file inside an input directory.
`report_output(path, atomic)` opens the output like `report.output.open_output` and turns every
OSError from writing it (permissions, a read-only place, a full disk) into OutputError.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from hikscan.errors import HikscanError, UsageError
from hikscan.report.output import open_output


class OutputError(HikscanError):
    """The report could not be written (exit 2, one line)."""


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _input_files(inputs: Iterable[Path | str | None]) -> Iterator[tuple[Path, os.stat_result]]:
    for given in inputs:
        if given is None:
            continue
        if os.fspath(given) == "-":
            with contextlib.suppress(OSError, ValueError, AttributeError):
                yield Path("-"), os.fstat(sys.stdin.fileno())
            continue
        path = Path(given)
        try:
            st = path.stat()
        except OSError:
            continue
        yield path, st
        if stat.S_ISDIR(st.st_mode):
            for top, _dirs, names in os.walk(path):
                for name in names:
                    inner = Path(top, name)
                    with contextlib.suppress(OSError):
                        yield inner, inner.stat()


def check_output(output: Path | None, inputs: Iterable[Path | str | None] = ()) -> None:
    """Raise UsageError (one line) if `-o output` cannot or must not be written; stdout (`-`) is fine."""
    if output is None or os.fspath(output) == "-":
        return
    where = f"-o {output}"
    try:
        st = output.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UsageError(f"{where}: {exc.strerror or exc}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{where}: is a directory; give a file name")
        for path, inp in _input_files(inputs):
            if _ident(inp) == _ident(st) and not stat.S_ISCHR(st.st_mode):
                what = "an input" if path == output else f"the same file as the input {path}"
                raise UsageError(f"{where}: is {what}; refusing to overwrite it")
        if stat.S_ISREG(st.st_mode) and not os.access(output, os.W_OK):
            raise UsageError(f"{where}: not writable")
        return
    parent = output.parent
    if not parent.is_dir():
        raise UsageError(f"{where}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{where}: directory {parent} is not writable")


class _Guarded:
    """A text file whose write/flush failures become OutputError (a broken pipe stays BrokenPipeError)."""

    def __init__(self, handle: IO[str], label: str) -> None:
        self._handle = handle
        self._label = label

    def _fail(self, exc: OSError) -> OutputError:
        return OutputError(f"cannot write {self._label}: {exc.strerror or exc}")

    def write(self, text: str) -> int:
        try:
            return self._handle.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._fail(exc) from None

    def write_utf8(self, data: bytes) -> None:
        """Text already encoded as UTF-8 (report.writers.base.write_utf8): to the file's binary buffer when
        the file writes UTF-8 with "\n" line ends, without decoding and encoding it again; else as text."""
        try:
            buffer = self._utf8_buffer()
            if buffer is not None:
                self._handle.flush()
                buffer.write(data)
            else:
                self._handle.write(data.decode("utf-8"))
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._fail(exc) from None

    def _utf8_buffer(self) -> IO[bytes] | None:
        """The binary file under the text one, when bytes written there read as the text would have."""
        buffer: IO[bytes] | None = getattr(self._handle, "buffer", None)
        encoding = getattr(self._handle, "encoding", None) or "ascii"
        return buffer if os.linesep == "\n" and codecs.lookup(encoding).name == "utf-8" else None

    def flush(self) -> None:
        try:
            self._handle.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._fail(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


@contextlib.contextmanager
def report_output(path: Path | None, atomic: bool) -> Iterator[IO[str]]:
    """report.output.open_output, with every OSError of the output (open, write, flush, close, rename) as
    OutputError naming it. Errors raised by the work inside the block pass through unchanged."""
    label = "to standard output" if path is None or os.fspath(path) == "-" else f"-o {path}"
    context = open_output(path, atomic)
    try:
        handle = context.__enter__()
    except OSError as exc:
        raise OutputError(f"cannot write {label}: {exc.strerror or exc}") from None
    try:
        yield _Guarded(handle, label)  # type: ignore[misc]
    except BaseException:
        with contextlib.suppress(OSError):
            if context.__exit__(*sys.exc_info()):
                return
        raise
    try:
        context.__exit__(None, None, None)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {label}: {exc.strerror or exc}") from None
