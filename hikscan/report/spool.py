"""Report records kept out of memory until they are written, so a report's size never sets the peak RSS.

- `SortedSpool`: the engine's findings, pickled into a temporary file as the detectors make them and
  read back one at a time in the order their sort keys give (`SortKeys`, kept as columns; the per-device
  cap decides which: report.capped). Like `sort(1)`, it spills to disk past `memory_bytes`.
- `TextSpool`: the same for findings already made as JSON text (UTF-8) with a small tag each: the text is
  kept as it is and the tags as a column, so nothing is pickled (a third of the time of a 36,000-finding
  report's spool).
- `SpilledRecords`: a worker process's report records as JSON lines in a named temporary file, which the
  parent reads back (decoded, or as the text alone for writers that only copy it) and deletes, instead of
  every record pickled through the pipe at once.
- `RecordBuffer`: records as JSON text in an anonymous temporary file: the devices that the JSON
  document can only write after every finding.
- `text_blocks`: JSON texts as blocks of JSON lines, as the writers' finding_lines takes them.

The files are private (tempfile: mode 0600, unlinked or deleted when read) and hold only what this
process wrote, so reading them back with pickle trusts nothing from outside.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from array import array
from collections.abc import Hashable, Iterable, Iterator
from typing import IO, Any, Generic, TypeVar

from hikscan.report.output import dumps

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
MEMORY_BYTES = 4 << 20  # records kept in memory before the spool moves to a file on disk
FILE_BUFFER = 1 << 20  # write buffer of the temporary files: the default 8 KiB took four times as long
TEXT_CHUNK = 1 << 20  # bytes of JSON lines read back at a time by SpilledRecords.line_blocks


class SortedSpool(Generic[T]):
    """Append records; then `in_order(numbers)` yields them in that order (record numbers count from 0 in
    the order appended), one at a time.

    Records are read back by offset (a slice of the memory buffer, or one pread() of the file), without
    the seek-and-refill of a buffered file for each one."""

    def __init__(self, memory_bytes: int = MEMORY_BYTES) -> None:
        self._memory_bytes = memory_bytes
        self._buffer = bytearray()  # the records while they fit in memory_bytes
        self._file: IO[bytes] | None = None  # then an unlinked temporary file (closed by in_order(), close())
        self._ends = array("q")
        self._size = 0

    def __len__(self) -> int:
        return len(self._ends)

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def append(self, record: T) -> None:
        self._append(pickle.dumps(record, pickle.HIGHEST_PROTOCOL))

    def _append(self, data: bytes) -> None:
        if self._file is None and len(self._buffer) + len(data) > self._memory_bytes:
            self._file = tempfile.TemporaryFile(prefix="hikscan-spool-", buffering=FILE_BUFFER)  # noqa: SIM115
            self._file.write(self._buffer)
            self._buffer = bytearray()
        if self._file is None:
            self._buffer += data
        else:
            self._file.write(data)
        self._size += len(data)
        self._ends.append(self._size)

    def _data(self, index: int) -> bytes | bytearray:
        start = self._ends[index - 1] if index else 0
        end = self._ends[index]
        if self._file is None:
            return self._buffer[start:end]
        return os.pread(self._file.fileno(), end - start, start)

    def _load(self, data: bytes | bytearray, index: int) -> T:
        record: T = pickle.loads(data)
        return record

    def read(self, index: int) -> T:
        if self._file is not None:
            self._file.flush()
        return self._load(self._data(index), index)

    def in_order(self, indices: Iterable[int]) -> Iterator[T]:
        try:
            if self._file is not None:
                self._file.flush()
            load, data = self._load, self._data
            for index in indices:
                yield load(data(index), index)
        finally:
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._buffer, self._ends = bytearray(), array("q")


class TextSpool(SortedSpool[tuple[bytes, K]]):
    """A SortedSpool of (text, tag) records: `text` is bytes, kept as they are; `tag` one of a few values
    (a finding's facts for the tally), kept as a column of numbers into a table of the distinct ones."""

    def __init__(self, memory_bytes: int = MEMORY_BYTES) -> None:
        super().__init__(memory_bytes)
        self._tags: dict[K, int] = {}
        self._tag_list: list[K] = []
        self._tag_numbers = array("l")

    def append(self, record: tuple[bytes, K]) -> None:
        text, tag = record
        number = self._tags.get(tag)
        if number is None:
            number = self._tags[tag] = len(self._tag_list)
            self._tag_list.append(tag)
        self._tag_numbers.append(number)
        self._append(text)

    def _load(self, data: bytes | bytearray, index: int) -> tuple[bytes, K]:
        return bytes(data), self._tag_list[self._tag_numbers[index]]


class SortKeys:
    """Sort keys (severity rank, time, tag) kept as columns, ~17 bytes a record where a tuple of them takes
    ~110 (a report's findings are tens of thousands): `order()` is what sorted() gives by the tuples,
    ties in the order they were added."""

    def __init__(self) -> None:
        self._ranks = array("b")
        self._times = array("d")
        self._tags: list[str] = []
        self._gone = bytearray()  # 1: discarded, left out of order()

    def __len__(self) -> int:
        return len(self._tags)

    def add(self, rank: int, time: float, tag: str) -> None:
        self._ranks.append(rank)
        self._times.append(time)
        self._tags.append(tag)
        self._gone.append(0)

    def discard(self, index: int) -> None:
        """Leave a record out of `order()`."""
        self._gone[index] = 1

    def tag(self, index: int) -> str:
        return self._tags[index]

    def key(self, index: int) -> tuple[int, float]:
        """The rank and time a record was added with."""
        return self._ranks[index], self._times[index]

    def sort_key(self, index: int) -> tuple[int, float, str]:
        """The tuple `order()` sorts record `index` by (before the order added)."""
        return self._ranks[index], self._times[index], self._tags[index]

    def order(self) -> list[int]:
        """Record numbers by (rank, time, tag), stable: sorted by the last column, then (stable sorts)
        by each column before it, never holding a tuple per record."""
        gone = self._gone
        order = sorted((i for i in range(len(self._tags)) if not gone[i]), key=self._tags.__getitem__)
        order.sort(key=self._times.__getitem__)
        order.sort(key=self._ranks.__getitem__)
        return order


class Rendered(dict[str, Any]):
    """A record read back from its JSON text, which it keeps (`json`): writers need not encode it again.
    Records are never changed after they are made, so the text stays true."""

    __slots__ = ("json",)
    json: str


def record_json(record: dict[str, Any] | str) -> str:
    """A record's JSON text: the text itself (a worker's record passed on undecoded), the one it was read
    from, else encoded now."""
    if isinstance(record, str):
        return record
    return record.json if isinstance(record, Rendered) else dumps(record)


class SpilledRecords:
    """A worker's records as JSON lines in a private named temporary file (the parent opens it by name:
    this object is pickled back to it); iterating reads them back and deletes the file."""

    def __init__(self, records: Iterable[dict[str, Any] | bytes]) -> None:
        """`records`: dicts, or their JSON text already encoded in UTF-8 (one line each, as dumps() writes
        it)."""
        fd, self.path = tempfile.mkstemp(prefix="hikscan-records-", suffix=".jsonl")
        self.count = 0
        try:
            with os.fdopen(fd, "wb", buffering=FILE_BUFFER) as out:
                for record in records:
                    out.write(record if isinstance(record, bytes) else dumps(record).encode("utf-8"))
                    out.write(b"\n")
                    self.count += 1
        except BaseException:
            self.discard()
            raise

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            with open(self.path, encoding="utf-8", newline="\n") as lines:
                for line in lines:
                    record = Rendered(json.loads(line))
                    record.json = line[:-1]
                    yield record
        finally:
            self.discard()

    def line_blocks(self) -> Iterator[bytes]:
        """The records as they were written, never decoded: blocks of whole JSON lines (UTF-8, each line
        ending in a newline) of about TEXT_CHUNK bytes, for writers that only copy them; reading them
        deletes the file, as iterating does."""
        try:
            with open(self.path, "rb") as lines:
                while block := lines.read(TEXT_CHUNK):
                    yield block + lines.readline() if block[-1:] != b"\n" else block
        finally:
            self.discard()

    def discard(self) -> None:
        """Delete the file (records not read are dropped)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class RecordBuffer:
    """Records kept as JSON text in an anonymous temporary file (unlinked at once: nothing is left behind,
    even if the process is killed) until `lines()` reads them back, once."""

    def __init__(self) -> None:
        # closed by lines(), or with this object
        self._file = tempfile.TemporaryFile(  # noqa: SIM115
            "w+", encoding="utf-8", prefix="hikscan-buffer-", buffering=FILE_BUFFER
        )
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def add(self, record: dict[str, Any]) -> None:
        self._file.write(record_json(record) + "\n")
        self.count += 1

    def lines(self) -> Iterator[str]:
        """Each record's JSON text, without its newline."""
        try:
            self._file.seek(0)
            for line in self._file:
                yield line.rstrip("\n")
        finally:
            self._file.close()


def text_blocks(texts: Iterable[bytes], size: int = 1 << 18) -> Iterator[bytes]:
    """JSON texts in UTF-8 (never a raw newline in one) as blocks of JSON lines of about `size` bytes, as
    the writers' finding_lines takes them: one write per block instead of several calls per finding."""
    block: list[bytes] = []
    length = 0
    for text in texts:
        block.append(text)
        length += len(text) + 1
        if length >= size:
            block.append(b"")
            yield b"\n".join(block)
            block, length = [], 0
    if block:
        block.append(b"")
        yield b"\n".join(block)
