"""Report records kept out of memory until they are written, so a report's size never sets the peak RSS.

- `SortedSpool`: the engine's findings, pickled into a temporary file as the detectors make them, with
  only a small sort key per record in memory; read back one at a time in key order (ties keep the order
  they were added in, as a stable sort would). Like `sort(1)`, it spills to disk past `memory_bytes`.
- `SpilledRecords`: report records as JSON lines in a temporary file, read back once and deleted: a
  worker process's records for the parent (instead of all pickled through the pipe at once), and the
  devices the JSON document can only write after every finding.

The files are private (tempfile: mode 0600, unlinked or deleted when read) and hold only what this
process wrote, so reading them back with pickle trusts nothing from outside.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
import weakref
from array import array
from collections.abc import Iterable, Iterator
from typing import IO, Any, Generic, TypeVar

from hikscan.report.output import dumps

T = TypeVar("T")
MEMORY_BYTES = 4 << 20  # records kept in memory before the spool moves to a file on disk


class SortedSpool(Generic[T]):
    """Append (key, record); then `in_order()` yields the records sorted by key, one at a time."""

    def __init__(self, memory_bytes: int = MEMORY_BYTES) -> None:
        # closed by in_order() or close(): the spool outlives any one with-block
        self._file = tempfile.SpooledTemporaryFile(max_size=memory_bytes, prefix="hikscan-spool-")  # noqa: SIM115
        self._keys: list[Any] = []
        self._ends = array("q")

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Any, record: T) -> None:
        self._file.write(pickle.dumps(record, pickle.HIGHEST_PROTOCOL))
        self._keys.append(key)
        self._ends.append(self._file.tell())

    def order(self) -> list[int]:
        """Record numbers by key (stable)."""
        return sorted(range(len(self._keys)), key=self._keys.__getitem__)

    def key(self, index: int) -> Any:
        return self._keys[index]

    def read(self, index: int) -> T:
        start = self._ends[index - 1] if index else 0
        self._file.seek(start)
        record: T = pickle.loads(self._file.read(self._ends[index] - start))
        return record

    def in_order(self, indices: Iterable[int]) -> Iterator[T]:
        try:
            for index in indices:
                yield self.read(index)
        finally:
            self.close()

    def close(self) -> None:
        self._file.close()
        self._keys, self._ends = [], array("q")


class SpilledRecords:
    """Records written as JSON lines to a private temporary file; reading them back deletes it.

    `SpilledRecords(records)` writes them all now (a worker's result: picklable, the parent reads the
    file); `SpilledRecords.open()` takes `add()` calls and deletes its file when this process exits or
    drops it unread (a writer's buffer)."""

    def __init__(self, records: Iterable[dict[str, Any]] | None = None) -> None:
        fd, self.path = tempfile.mkstemp(prefix="hikscan-records-", suffix=".jsonl")
        self.count = 0
        self._out: IO[str] | None = os.fdopen(fd, "w", encoding="utf-8")
        if records is None:
            return
        try:
            for record in records:
                self.add(record)
            self._close()
        except BaseException:
            self.discard()
            raise

    @classmethod
    def open(cls) -> SpilledRecords:
        spilled = cls()
        weakref.finalize(spilled, _unlink, spilled.path)
        return spilled

    def __len__(self) -> int:
        return self.count

    def __getstate__(self) -> dict[str, Any]:
        self._close()
        return {"path": self.path, "count": self.count, "_out": None}

    def add(self, record: dict[str, Any]) -> None:
        assert self._out is not None, "records are added before they are read"
        self._out.write(dumps(record) + "\n")
        self.count += 1

    def _close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def lines(self) -> Iterator[str]:
        """Each record's JSON text (no newline); the file is deleted when they are read."""
        self._close()
        try:
            with open(self.path, encoding="utf-8") as lines:
                for line in lines:
                    yield line.rstrip("\n")
        finally:
            self.discard()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for line in self.lines():
            yield json.loads(line)

    def discard(self) -> None:
        """Delete the file (records not read are dropped)."""
        self._close()
        _unlink(self.path)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
