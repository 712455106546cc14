"""Contacts past the memory budget: partial contacts in a private SQLite file, merged per pair when read.

The contact table keeps a budget of contacts in memory (contacts.ContactTable); past it, every contact in
memory is written here as a partial — its counts since it was last written — and memory starts afresh. A
pair that comes back starts a new partial, so writing never reads. Before the table is read (a report),
the partials are merged per pair: sums, first/last, server ports in order of first use, the detectors'
state by its own `merged` rule; then the caps the table applies in memory (per host, in all) are applied
in the same order, the pair's first appearance (`seq`). A spilled table reports what an unbounded one would,
with one exception: when a single partial alone meets more than MAX_PORTS server ports (a port scan), which
ports are listed may differ (the flows are all counted, listed or folded). `watch` merges at every report.

Why SQLite: the standard library's on-disk B-tree and external sort with a bounded page cache. Nothing in
it comes from outside (the rows are our own), and an empty filename makes a private database that SQLite
deletes when the connection closes.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import groupby
from operator import itemgetter
from typing import Any, Protocol

from hikscan.passive.contacts import Contact

CACHE_KIB = 4096  # SQLite's page cache (the file grows on disk, not in memory)
STATE_SLOTS = ("beacon", "storm")
COLUMNS = (
    "seq INTEGER PRIMARY KEY, host TEXT, remote TEXT, first REAL, last REAL, packets INTEGER, "
    "bytes INTEGER, flows INTEGER, inbound INTEGER, attempts INTEGER, answered INTEGER, ports BLOB, "
    "ports_folded INTEGER, beacon BLOB, storm BLOB"
)
INSERT = "INSERT INTO {} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
Row = tuple[Any, ...]
PAIR_ORDER = "host, remote, seq"
# A merge rewrites the whole table when more than this share of its rows are partials of pairs that have
# several (a capture that spilled often: deleting and reinserting them cost a third more); else it rewrites
# only those pairs. Either way gives the same rows.
REWRITE_SHARE = 0.5


class PairState(Protocol):
    """A detector's state on a Contact (contacts.Contact.beacon, .storm): packed to bytes for the store
    and merged with a later partial's state of the same pair."""

    def pack(self) -> bytes: ...
    def merged(self, later: Any) -> Any: ...


# slot → the function that unpacks its bytes; the detectors register their state types when imported
STATE_TYPES: dict[str, Callable[[bytes], Any]] = {}


def register_state(slot: str, unpack: Callable[[bytes], Any]) -> None:
    if slot not in STATE_SLOTS:
        raise ValueError(f"no Contact slot {slot!r} for detector state")
    STATE_TYPES[slot] = unpack


def row_of(c: Contact, seq: int) -> Row:
    ports = array("q", c.ports).tobytes()
    beacon, storm = c.beacon, c.storm
    if beacon is not None and type(beacon) is not bytes:
        beacon = beacon.pack()
    if storm is not None and type(storm) is not bytes:
        storm = storm.pack()
    return (seq, c.host, c.remote, c.first, c.last, c.packets, c.bytes, c.flows, c.inbound, c.attempts,
            c.answered, ports, c.ports_folded, beacon, storm)  # fmt: skip


def contact_of(row: Row) -> Contact:
    """A contact as read back; its detector state stays packed (bytes) until a detector unpacks it
    (`unpacked`): most readers of a contact never look at it."""
    c = Contact(row[1], row[2], row[3], row[4])
    c.packets, c.bytes, c.flows, c.inbound, c.attempts, c.answered = row[5:11]
    c.ports, c.ports_folded, c.beacon, c.storm = tuple(array("q", row[11])), row[12], row[13], row[14]
    return c


def unpacked(slot: str, state: Any) -> Any:
    """A contact's detector state, unpacked if it was read back from the store."""
    return STATE_TYPES[slot](state) if type(state) is bytes else state


def merge_rows(rows: list[Row]) -> Row:
    """One pair's partials, in order of `seq`, as one row: counts summed, first/last, server ports in
    order of first use (Contact.count_port, MAX_PORTS listed), detector state merged by its own rule."""
    head = rows[0]
    if len(rows) == 1:
        return head[:15]
    out = Contact(head[1], head[2], min(r[3] for r in rows), max(r[4] for r in rows))
    out.packets, out.bytes, out.flows, out.inbound, out.attempts, out.answered = (
        sum(r[i] for r in rows) for i in range(5, 11)
    )
    out.ports, out.ports_folded = tuple(array("q", head[11])), head[12]
    beacon, storm = head[13], head[14]
    for row in rows[1:]:
        p = array("q", row[11])
        for i in range(0, len(p), 3):
            out.count_port((p[i], p[i + 1]), p[i + 2])
        out.ports_folded += row[12]
        beacon = _merged("beacon", beacon, row[13])
        storm = _merged("storm", storm, row[14])
    out.beacon, out.storm = beacon, storm
    return row_of(out, head[0])


def _merged_pairs(rows: Iterable[Row]) -> Iterator[Row]:
    """Rows sorted by pair, then seq → one row per pair, numbered as its first partial."""
    for _pair, group in groupby(rows, itemgetter(1, 2)):
        yield merge_rows(list(group))


def _merged(slot: str, mine: Any, later: Any) -> Any:
    if mine is None:
        return later
    return mine if later is None else unpacked(slot, mine).merged(unpacked(slot, later))


class ContactStore:
    """Partial contacts on disk (see the module docstring)."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("", isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE", f"cache_size=-{CACHE_KIB}"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute(f"CREATE TABLE part ({COLUMNS})")
        self.merged = True  # every pair has one row (no partial written since the last merge)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Statements as one transaction: SQLite otherwise commits each row an executemany() inserts, which
        made writing 44,000 contacts 2.8x slower. An SQLite error (a full or failing disk: TMPDIR) reaches
        the caller as an OSError. What was written before any error stays, as it did when each row was
        committed (the journal is off, for speed: there is no rollback)."""
        db = self.db
        try:
            db.execute("BEGIN")
            try:
                yield db
            finally:
                if db.in_transaction:  # SQLite ends it itself on some errors (a full disk)
                    db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise OSError(f"the temporary contact store: {exc}") from exc

    def write(self, contacts: Iterable[Contact], first_seq: int) -> None:
        """Contacts as partials, numbered (`seq`) from first_seq in the order given."""
        rows = (row_of(contact, seq) for seq, contact in enumerate(contacts, first_seq))
        with self._transaction() as db:
            db.executemany(INSERT.format("part"), rows)
        self.merged = False

    def merge(self, per_host: int, max_contacts: int) -> dict[str, int]:
        """Merge every pair's partials into one row, then apply the table's caps in order of first
        appearance. Returns host → flows of the pairs the caps left out."""
        if self.merged:
            return {}
        with self._transaction():
            return self._merge(per_host, max_contacts)

    def _merge(self, per_host: int, max_contacts: int) -> dict[str, int]:
        """Each pair with several partials becomes one row under its first partial's number. The merged rows
        stream through a second table, never held in memory: either every row (REWRITE_SHARE), the new table
        then taking the old one's place, or only those pairs' (most pairs have one partial, in a capture
        that spilled once), replacing their partials."""
        db = self.db
        db.execute(f"CREATE INDEX IF NOT EXISTS pair ON part ({PAIR_ORDER})")
        counts = "SELECT COUNT(*) AS n FROM part GROUP BY host, remote"
        rows_in_all, rows_of_several = db.execute(
            f"SELECT COALESCE(SUM(n), 0), COALESCE(SUM(n) FILTER (WHERE n > 1), 0) FROM ({counts})"
        ).fetchone()
        db.execute(f"CREATE TABLE whole ({COLUMNS})")
        if rows_of_several > REWRITE_SHARE * rows_in_all:
            rows = db.execute(f"SELECT * FROM part ORDER BY {PAIR_ORDER}")
            db.executemany(INSERT.format("whole"), _merged_pairs(rows))
            db.execute("DROP TABLE part")
            db.execute("ALTER TABLE whole RENAME TO part")
            db.execute(f"CREATE INDEX pair ON part ({PAIR_ORDER})")
        else:
            several = "SELECT host, remote FROM part GROUP BY host, remote HAVING COUNT(*) > 1"
            rows = db.execute(f"SELECT * FROM part WHERE (host, remote) IN ({several}) ORDER BY {PAIR_ORDER}")
            db.executemany(INSERT.format("whole"), _merged_pairs(rows))
            db.execute("DELETE FROM part WHERE (host, remote) IN (SELECT host, remote FROM whole)")
            db.execute("INSERT INTO part SELECT * FROM whole")
            db.execute("DROP TABLE whole")
        dropped: dict[str, int] = {}
        most = db.execute("SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM part GROUP BY host)").fetchone()[0]
        if most is not None and most > per_host:
            ranked = (
                "SELECT seq, host, flows, ROW_NUMBER() OVER (PARTITION BY host ORDER BY seq) AS n FROM part"
            )
            self._drop(f"SELECT seq, host, flows FROM ({ranked}) WHERE n > {int(per_host)}", dropped)
        cut = db.execute("SELECT seq FROM part ORDER BY seq LIMIT 1 OFFSET ?", (max_contacts,)).fetchone()
        if cut is not None:
            self._drop(f"SELECT seq, host, flows FROM part WHERE seq >= {int(cut[0])}", dropped)
        self.merged = True
        return dropped

    def _drop(self, select: str, dropped: dict[str, int]) -> None:
        """Delete the rows `select` names (seq, host, flows), counting their flows per host."""
        for host, flows in self.db.execute(f"SELECT host, SUM(flows) FROM ({select}) GROUP BY host"):
            dropped[host] = dropped.get(host, 0) + flows
        self.db.execute(f"DELETE FROM part WHERE seq IN (SELECT seq FROM ({select}))")

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM part").fetchone()[0])

    def state_bytes(self) -> int:
        """The detectors' state in all rows, packed (what it holds in memory is about as much)."""
        total = "SELECT COALESCE(SUM(LENGTH(beacon)), 0) + COALESCE(SUM(LENGTH(storm)), 0) FROM part"
        return int(self.db.execute(total).fetchone()[0])

    def close(self) -> None:
        """Delete the store (its file goes with the connection)."""
        self.db.close()

    def __iter__(self) -> Iterator[Contact]:
        """Every contact in order of first appearance, built as it is reached."""
        return map(contact_of, self.db.execute("SELECT * FROM part ORDER BY seq"))

    def get(self, host: str, remote: str) -> Contact | None:
        row = self.db.execute("SELECT * FROM part WHERE host = ? AND remote = ?", (host, remote)).fetchone()
        return contact_of(row) if row is not None else None

    def of_host(self, host: str) -> list[Contact]:
        rows = self.db.execute("SELECT * FROM part WHERE host = ? ORDER BY seq", (host,))
        return [contact_of(r) for r in rows]
