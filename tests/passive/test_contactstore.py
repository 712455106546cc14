"""Contacts past the memory budget go to disk as partials and are merged per pair when read: a spilled
table must report exactly what an unbounded one does, and hold memory flat."""

from __future__ import annotations

import gc
import ipaddress
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hikscan.capture import open_capture
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import load_rules
from hikscan.passive import contactstore
from hikscan.passive.contacts import CONTACT_BYTES, MIN_SHARE, Contact, ContactTable
from hikscan.passive.contactstore import unpacked
from hikscan.passive.decode import Packet
from hikscan.passive.detectors.storm import Storm
from hikscan.passive.engine import Engine
from hikscan.passive.flows import FLOW_BYTES
from hikscan.passive.live import Watcher

ROOT = Path(__file__).resolve().parents[2]
RULES = load_rules()
GEO = GeoLookup()
OUI = OuiTable.load()
T0 = 1_700_000_000.0


def _engine(memory_bytes: int | None, per_host: int = 4_096, max_contacts: int = 200_000) -> Engine:
    engine = Engine(RULES, GEO, OUI)
    table = engine.contact_table
    table.memory_bytes, table.per_host, table.max_contacts = memory_bytes, per_host, max_contacts
    return engine


def _state(contact: Contact) -> tuple[object, ...]:
    beacon, storm = unpacked("beacon", contact.beacon), unpacked("storm", contact.storm)
    return (
        contact.host, contact.remote, contact.first, contact.last, contact.packets, contact.bytes,
        contact.flows, contact.inbound, contact.attempts, contact.answered, contact.ports,
        contact.ports_folded,
        None if beacon is None else (beacon.count, beacon.answered, list(beacon.marks)),
        None if storm is None else (storm.attempts, storm.failed, storm.first_failed, storm.last_failed),
    )  # fmt: skip


def _everything(engine: Engine) -> tuple[object, ...]:
    engine.finish()
    table = engine.contact_table
    contacts = [_state(c) for c in table]
    findings = sorted(repr(f.to_dict()) for f in engine.findings())
    return contacts, dict(table.dropped), len(table), findings


# host, remote, time step, server port, client packets, answered?, outbound?
RECORD = st.tuples(
    st.integers(0, 5), st.integers(0, 11), st.floats(0.5, 400.0), st.sampled_from([443, 80, 8000, 554, 123]),
    st.integers(1, 30), st.booleans(), st.booleans(),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(RECORD, min_size=1, max_size=120),
    memory=st.sampled_from([1, 2_500, 6_000]),
    caps=st.sampled_from([(4_096, 200_000), (3, 200_000), (4_096, 7), (2, 5)]),
    rewrite_share=st.sampled_from([contactstore.REWRITE_SHARE, -1.0, 2.0]),
)
def test_a_spilled_table_reports_what_an_unbounded_one_does(
    records: list[tuple[int, int, float, int, int, bool, bool]],
    memory: int,
    caps: tuple[int, int],
    rewrite_share: float,
) -> None:
    """The same flows into a table that keeps everything in memory and one that spills every few
    contacts (down to one): identical contacts in identical order, beacon logs and storm tallies,
    contacts left out by the per-host and total caps, and findings; whether the merge rewrites the whole
    table (-1: always) or only the pairs with several partials (2: always)."""
    engines = (_engine(None, *caps), _engine(memory, *caps))
    before, contactstore.REWRITE_SHARE = contactstore.REWRITE_SHARE, rewrite_share
    try:
        _fold_all(records, engines)
        unbounded, spilled = (_everything(e) for e in engines)
    finally:
        contactstore.REWRITE_SHARE = before
    assert spilled == unbounded


def _fold_all(
    records: list[tuple[int, int, float, int, int, bool, bool]], engines: tuple[Engine, ...]
) -> None:
    t = T0
    for host, remote, step, port, packets, answered, outbound in records:
        t += step
        local = (ipaddress.ip_address("192.168.1.10") + host).packed
        far = (ipaddress.ip_address("45.33.0.1") + remote).packed
        reply = (packets, 60 * packets) if answered else (0, 0)
        client, server = (local, far) if outbound else (far, local)
        for engine in engines:
            engine.fold_record(
                t, t + 1.0, client, 40_000 + host, server, port, 6, (packets, 90 * packets), reply
            )


def test_the_spilled_comparison_is_not_vacuous() -> None:
    """A spilling table does write to disk and reads more than one partial of a pair back as one."""
    engine = _engine(2_500)
    for k in range(40):
        t = T0 + 60 * k
        engine.fold_record(t, t + 1, bytes([192, 168, 1, 10]), 40_000, bytes([45, 33, 0, k % 6]), 443, 6,
                           (3, 300), (0, 0) if k % 3 else (2, 120))  # fmt: skip
    table = engine.contact_table
    assert table.spilled
    store = table._store
    assert store is not None
    partials = store.db.execute("SELECT COUNT(*) FROM part").fetchone()[0]
    assert partials > 6  # several partials per pair on disk
    contacts = list(table)
    assert len(contacts) == 6 and sum(c.flows for c in contacts) == 40
    logs = [unpacked("beacon", c.beacon) for c in contacts]
    assert all(log is not None and log.count == len(log.marks) // 2 for log in logs)


LIVE = [
    "incident_fleet_china.pcapng",
    "incident_fleet_unknown.pcap",
    "mixed_interfaces.pcapng",
    "ipv6_vlan_hk.pcapng",
]


def _watch(path: Path, memory_bytes: int | None) -> tuple[list[str], Engine]:
    """Replay a capture into watch's engine, reporting every few packets; the final findings."""
    engine = _engine(memory_bytes)
    watcher = Watcher(engine, lambda _finding: None)
    with open_capture(path) as reader:
        for n, rec in enumerate(reader, 1):
            watcher.feed(rec.ts, rec.data, rec.linktype)
            if n % 7 == 0:
                watcher.report_new()
    watcher.report_new(final=True)
    return sorted(repr(f.to_dict()) for f in engine.findings()), engine


@pytest.mark.parametrize("name", LIVE)
def test_watch_with_a_spilling_table_reports_what_it_does_in_memory(name: str) -> None:
    """watch folds open flows every few packets and reports while reading: with contacts spilled at each
    new pair (and merged at every report), its findings are those it makes with everything in memory."""
    in_memory, _ = _watch(ROOT / "pcaps" / name, None)
    spilled, engine = _watch(ROOT / "pcaps" / name, 1)
    assert engine.contact_table.spilled
    assert in_memory and spilled == in_memory


def _pairs(engine: Engine, pairs: int, first_remote: int) -> None:
    for k in range(pairs):
        host = (ipaddress.ip_address("10.1.0.0") + k % 200).packed
        remote = (ipaddress.ip_address("45.0.0.0") + first_remote + k).packed
        for j in range(3):
            t = T0 + k * 0.01 + j * 60
            engine.fold_record(
                t, t + 0.5, host, 40000 + j, remote, 443, 6, (5, 900), (4, 3000) if j else (0, 0)
            )


def _growth(engine: Engine, pairs: int) -> float:
    _pairs(engine, 2_000, 0)  # the per-host tables and memos exist already
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _pairs(engine, pairs, 100_000)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_contact_in_memory_costs_less_than_the_budget_assumes() -> None:
    """contacts.CONTACT_BYTES is what the table charges a contact in memory; measured ~900 bytes a pair
    (three TCP attempts, two answered: a beacon log and a storm tally on it)."""
    engine = _engine(None)
    per_pair = _growth(engine, 20_000) / 20_000
    contact = engine.contact("10.1.0.5", "45.1.134.165")
    assert contact is not None and contact.beacon.count == 3 and contact.storm.failed == 1
    assert per_pair < CONTACT_BYTES, f"{per_pair:.0f} bytes per pair"


def test_memory_stays_flat_past_the_budget() -> None:
    """60,000 pairs with a 4 MiB budget: the growth stays near the budget (unbounded it is ~55 MiB), and
    every pair is still reported."""
    engine = _engine(4 * 2**20)
    grown = _growth(engine, 60_000)
    assert grown < 12 * 2**20, f"{grown / 2**20:.1f} MiB"
    assert engine.contact_table.spilled and len(engine.contact_table) == 62_000
    contact = engine.contact("10.1.0.5", "45.1.134.165")
    assert contact is not None and contact.flows == 3 and unpacked("beacon", contact.beacon).count == 3


def test_beacon_logs_count_against_the_budget() -> None:
    """A few pairs with long beacon logs fill the budget as surely as many pairs: 10 pairs of 300 attempts
    hold ~48 KB of logs (16 bytes an attempt) past a 40 KB budget, though their contacts are charged 10 KB."""
    engine = _engine(40_000)
    for k in range(300):
        for pair in range(10):
            t = T0 + 60 * k + pair
            far = bytes([45, 33, 0, pair])
            engine.fold_record(
                t, t + 1, bytes([192, 168, 1, 10]), 40_000 + k, far, 443, 6, (3, 300), (2, 120)
            )
    table = engine.contact_table
    assert not table.spilled and table.held == 10 * 300 * 16
    engine.fold_record(
        T0, T0 + 1, bytes([192, 168, 1, 10]), 50_000, bytes([45, 33, 1, 1]), 443, 6, (3, 300), (2, 120)
    )
    assert table.spilled and table.held <= 16  # what was held went to disk with its contacts


def _open_flows(engine: Engine, n: int, pairs: int) -> None:
    """n TCP connection attempts from one host, all still open, to `pairs` servers (several to some)."""
    here = bytes([192, 168, 1, 10])
    for i in range(n):
        far = bytes([45, 33, (i % pairs) >> 8, (i % pairs) & 255])
        syn = Packet(T0 + i / 100, None, None, (), 4, here, far, 6, 40_000 + i, 443, 0x02, 60, b"")
        engine.flows.add(syn)


@pytest.mark.parametrize("closed_before", [False, True])
def test_flows_closing_at_the_end_give_their_memory_to_the_contacts(closed_before: bool) -> None:
    """2,000 flows to 2,000 servers, all open at the end, with room for 1,000 contacts beside them. If no
    flow closed before, the flows lie in memory in the order they now close, so each one's memory comes
    free as it is folded: the open flows are charged as they are, and the 2,000 contacts fit, unspilled. If
    one closed before, later flows may sit in its place and a closed flow's memory is not free while flows
    around it live: the open flows are charged at the most ever open, and the contacts spill as they close.
    Either way, once every flow has closed the contacts, which fit, are in memory."""
    n = 2_000
    engine = _engine(n * FLOW_BYTES + 1_000 * CONTACT_BYTES)
    if closed_before:  # a flow to the first server, idle past the timeout when the others start
        here, far = bytes([192, 168, 1, 10]), bytes([45, 33, 0, 0])
        engine.flows.add(Packet(T0 - 1_000, None, None, (), 4, here, far, 6, 39_999, 443, 0x02, 60, b""))
        assert engine.flows.expire(T0) == 1
    _open_flows(engine, n, n)
    assert len(engine.flows) == n and not engine.contact_table.spilled
    engine.finish()
    table = engine.contact_table
    assert (table.written > 0) is closed_before
    assert not table.spilled and len(table) == n


def test_a_table_taken_back_reports_what_an_unbounded_one_does() -> None:
    """Contacts spilled while the flows closed, merged (several flows to some servers) and read back into
    memory: the same contacts, in the same order, and the same findings as with no budget at all."""
    taken_back, unbounded = _engine(2_000 * FLOW_BYTES + 500 * CONTACT_BYTES), _engine(None)
    for engine in (taken_back, unbounded):
        _open_flows(engine, 2_000, 1_500)
    got, want = _everything(taken_back), _everything(unbounded)
    assert taken_back.contact_table.written > 1_500 and not taken_back.contact_table.spilled
    assert got == want and len(want[0]) == 1_500


def test_a_failing_disk_is_an_os_error_not_a_database_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full or failing TMPDIR reaches the CLI's one-line OSError path (analyze: "cannot read: …")."""
    import sqlite3

    from hikscan.passive.contactstore import ContactStore

    store = ContactStore()
    store.db.execute("PRAGMA max_page_count = 2")  # the database cannot grow: "database or disk is full"
    rows = [Contact("192.168.1.10", f"45.33.0.{k}", T0, T0 + 1) for k in range(1, 250)]
    with pytest.raises(OSError, match="temporary contact store: database or disk is full") as caught:
        store.write(rows, 1)
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    with pytest.raises(OSError, match="temporary contact store"):  # and so does any later use of it
        store.write(rows[:1], 250)


def test_a_spill_and_a_merge_are_one_transaction_each() -> None:
    """Without BEGIN, SQLite commits every row an executemany() inserts (2.8x slower at 44,000 rows)."""
    from hikscan.passive.contactstore import ContactStore

    store = ContactStore()
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    pairs = [("192.168.1.10", f"45.33.{k // 250}.{k % 250}") for k in range(500)]
    for seq in (1, 501):  # the same 500 pairs twice: the merge rewrites each
        store.write((Contact(host, remote, T0, T0 + 1) for host, remote in pairs), seq)
    store.merge(per_host=4_096, max_contacts=200_000)
    control = [s for s in statements if s in ("BEGIN", "COMMIT")]
    assert control == ["BEGIN", "COMMIT"] * 3 and len(store) == 500


def test_a_storm_read_from_the_store_keeps_a_count_per_failing_host() -> None:
    """100 destinations each stormed by the same 200 hosts, every contact on disk: while the 20,000 contacts
    stream past, a storm keeps per failing host only a count (it kept a tally object and the row's own copy
    of the host's address per pair: ~200 bytes; with a spilled 10M-packet capture, tens of MiB)."""
    engine = _engine(100_000)
    for h in range(200):
        for r in range(100):
            t = T0 + 10 * r + h / 100
            host, far = bytes([192, 168, 2, h]), bytes([45, 33, 7, r])
            engine.fold_record(t, t + 1, host, 40_000 + r, far, 443, 6, (1, 60), (0, 0))
    assert engine.contact_table.spilled
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        stormed = Storm()._by_remote(engine, 1)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(stormed) == 100 and all(s.failed == 200 and len(s.failing) == 200 for s in stormed.values())
    assert held < 20_000 * 80, f"{held / 20_000:.0f} bytes a pair"


def _many_macs(engine: Engine, hosts: int) -> int:
    """`hosts` LAN hosts known by their MAC alone (a large LAN): what the evidence table then holds."""
    for i in range(hosts):
        engine.attribution.add_mac(f"10.9.{i >> 8}.{i & 255}", f"58:50:ed:00:{i >> 8:02x}:{i & 255:02x}")
    return engine.attribution.bytes


def test_the_evidence_and_name_tables_come_first_in_the_budget() -> None:
    """One budget for the engine's state. 2,000 flows to 2,000 servers in a 3.3 MB budget: as they all close
    at the end, their memory passes to their 2,000 contacts, unspilled (test above); behind 10,000 hosts' MACs
    (~2 MB of evidence) the contacts spill as the flows close, and still report every pair."""
    engine = _engine(2_000 * FLOW_BYTES + 2_100 * CONTACT_BYTES)
    assert _many_macs(engine, 10_000) > 1_900_000
    _open_flows(engine, 2_000, 2_000)
    engine.finish()
    table = engine.contact_table
    assert table.written > 0 and len(table) == 2_000


def test_the_open_flows_take_what_the_tables_leave() -> None:
    """The flow table holds what fits beside the evidence and name tables and the contacts' least share: a
    6 MB budget less 1/12 and ~2 MB of MACs leaves ~3.5 MB, 5,800 flows at FLOW_BYTES; of 8,000 new ones (to
    4,000 servers) the oldest close early, folded like any other."""
    budget = 10_000 * FLOW_BYTES
    engine = _engine(budget)
    tables = _many_macs(engine, 10_000)
    engine.flows.expire(T0)
    assert engine.flows.max_flows == (budget - budget // MIN_SHARE - tables) // FLOW_BYTES < 6_000
    _open_flows(engine, 8_000, 4_000)
    assert len(engine.flows) <= engine.flows.max_flows and engine.flows.evicted > 0
    engine.finish()
    assert sum(c.flows for c in engine.contact_table) == 8_000


def test_contacts_keep_a_share_of_a_full_budget() -> None:
    """However much else the budget holds, contacts keep 1/MIN_SHARE of it in memory: 100 contacts of
    a 1.2 MB budget that others fill are written 100 at a time, not each alone."""
    table = ContactTable(memory_bytes=1_200_000, shared=lambda: 2_000_000)
    for k in range(250):
        table.fold("192.168.1.10", f"45.33.{k // 200}.{k % 200}", T0 + k, T0 + k + 1, 3, 300, (443, 6), True)
    assert table.written == 200 and len(table) == 250
