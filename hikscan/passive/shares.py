"""One capture's report made on several cores: the devices split into shares, each made in its own process.

Once a capture is read, the detectors' work and the findings' encoding is most of what is left (on a
capture where most contacts are findings, ~40% of the run), and it is the same for every device. Each
share of the devices (by a hash of the address; findings without a device are share 0's) is made in a
forked process: the engine's state is there copy-on-write, so nothing goes to a share but the fork, and
only its records come back, through a private temporary file. Each share has its own per-device cap
(report.capped), which sees all of its devices' findings, and a detector that says it is `per_device` sees
only the share's contacts; the others run in every share and their findings are kept by the share of
their device.

The parent makes share 0 meanwhile and then merges the shares' records by their sort keys. The report
order breaks ties by the order made only between findings of one device, and those are all in one share,
so the merge gives the records, the order and the folded counts that one process gives:
tests/passive/test_shares.py compares them. A share whose process fails is made again in the parent:
slower, nothing lost.

Not used where a fork is not safe: no os.fork, threads running (a progress bar), or contacts in SQLite
(contactstore: a connection must not be used on both sides of a fork).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import pickle
import signal
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from itertools import islice
from operator import itemgetter
from typing import IO, Any, TypeVar

from hikscan.report.capped import CappedOrder, Folded, folded_in_order
from hikscan.report.spool import FILE_BUFFER, SortedSpool

T = TypeVar("T")
SortKey = tuple[int, float, str]
# (spool, share) → the order of the records made into the spool: the findings of the devices `share` takes
Make = Callable[[SortedSpool[T], Callable[[str], bool]], CappedOrder]
MIN_CONTACTS = 4_096  # below this a report takes well under a second: not worth a process
MAX_SHARES = 8
BATCH = 1_024  # records a share writes per pickle


def shares_for(jobs: int, contacts: int) -> int:
    """How many shares a report of `contacts` contacts is made in, given `jobs` processes (--jobs)."""
    if contacts < MIN_CONTACTS:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(jobs, MAX_SHARES, cores))


def can_share(contacts_spilled: bool) -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1 and not contacts_spilled


def share_of(ip: str, shares: int) -> int:
    """Which share a device (its address; "" for none) is in."""
    return zlib.crc32(ip.encode("utf-8", "replace")) % shares if ip else 0


def member(share: int, shares: int) -> Callable[[str], bool]:
    return lambda ip: share_of(ip, shares) == share


def shared_records(
    make: Make[T], new_spool: Callable[[], SortedSpool[T]], shares: int
) -> tuple[Iterator[T], dict[str, int]]:
    """Engine.finding_records' records and folded counts, made in `shares` processes."""
    children: list[tuple[int, int, IO[bytes]]] = []  # (share, pid, its records)
    running: set[int] = set()  # children not reaped yet: only these may be signalled (a reaped pid is reused)
    try:
        for share in range(1, shares):
            out = tempfile.TemporaryFile(prefix="hikscan-share-", buffering=FILE_BUFFER)  # noqa: SIM115
            pid = os.fork()
            if pid == 0:
                _make_share(make, new_spool(), member(share, shares), out)
            children.append((share, pid, out))
            running.add(pid)
        spool = new_spool()
        order = make(spool, member(0, shares))
        streams = [_keyed(order, spool)]
        folded = [order.folded_keys()]
        for share, pid, out in children:
            made = _wait(pid, out)
            running.discard(pid)
            if made is None:  # its process failed: made here instead
                spool = new_spool()
                order = make(spool, member(share, shares))
                made = order.folded_keys(), _keyed(order, spool)
            folded.append(made[0])
            streams.append(made[1])
    except BaseException:
        for _share, pid, out in children:
            if pid in running:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            out.close()
        raise
    merged = heapq.merge(*streams, key=itemgetter(0))
    return (record for _key, record in merged), folded_in_order(folded)


def _keyed(order: CappedOrder, spool: SortedSpool[T]) -> Iterator[tuple[SortKey, T]]:
    indices = order.order()
    return zip(map(order.sort_key, indices), spool.in_order(indices), strict=True)


def _make_share(make: Make[T], spool: SortedSpool[T], share: Callable[[str], bool], out: IO[bytes]) -> None:
    """In the forked process: make the share, write its folded counts and then its records in report
    order (with their sort keys) to `out`, and exit, never returning into the parent's code: 0 when all
    is written, else 1 (the parent then makes the share itself)."""
    status = 1
    try:
        order = make(spool, share)
        with open(out.fileno(), "wb", buffering=FILE_BUFFER, closefd=False) as sink:
            pickle.dump(order.folded_keys(), sink, pickle.HIGHEST_PROTOCOL)
            records = _keyed(order, spool)
            while batch := list(islice(records, BATCH)):
                pickle.dump(batch, sink, pickle.HIGHEST_PROTOCOL)
        status = 0
    finally:
        os._exit(status)  # no atexit, no flushing the parent's buffers, no return into its stack


def _wait(pid: int, out: IO[bytes]) -> tuple[Folded, Iterator[tuple[SortKey, Any]]] | None:
    """A share's folded counts and records once its process has exited, None if it failed."""
    _pid, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        out.close()
        return None
    out.seek(0)
    folded: Folded = pickle.load(out)  # a file only this process's fork wrote (see report.spool)
    return folded, _records(out)


def _records(reader: IO[bytes]) -> Iterator[tuple[SortKey, Any]]:
    with reader:
        while True:
            try:
                batch = pickle.load(reader)
            except EOFError:
                return
            yield from batch
