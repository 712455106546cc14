"""passive.shares: a report made by several processes, each with a share of the devices, is the report one
process makes: the same records (JSON text and tally facts) in the same order, the same folded counts and
the same stats; a share whose process fails is made again; nothing is left running after an error."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pcaputil import PCAPS
from script_module import load_script

from hikscan.cli.analyze import AnalyzeRequest, run_analyze
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import load_rules
from hikscan.passive import engine as engine_module
from hikscan.passive import records, shares
from hikscan.passive.engine import Engine
from hikscan.report.finding_json import FindingEncoder
from hikscan.report.spool import SortedSpool, TextSpool
from hikscan.report.tally import facts_of

Report = tuple[list[Any], dict[str, int], dict[str, Any]]


def _bench_capture(path: Path, packets: int) -> Path:
    """The bench's many-findings capture: hundreds of cameras, most contacts findings (3 an address)."""
    load_script("make_bench_pcap").write_capture(path, packets, 3, "many-findings")
    return path


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bench_capture(tmp_path_factory.mktemp("shares") / "many.pcap", 20_000)


def _engine(paths: list[Path]) -> Engine:
    engine = Engine(load_rules(), GeoLookup(), OuiTable.load())
    engine.run_files(paths)
    engine.finish()
    return engine


def _report(engine: Engine, how_many: int, as_text: bool = True) -> Report:
    records: list[Any]
    if as_text:
        encode = FindingEncoder({"capture": "x.pcap"})
        records = list(
            engine.finding_records(lambda f: (encode(f).encode(), facts_of(f)), TextSpool, how_many)
        )
    else:  # the records as dicts, pickled by the spools (the path of the non-text writers)
        records = list(engine.finding_records(lambda f: f.to_dict(), SortedSpool[Any], how_many))
    return records, dict(engine.folded_findings), engine.extra_stats()


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The children this process forks (with 8 cores to share among, whatever this machine has)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)))
    made: list[int] = []
    real = os.fork

    def counted() -> int:
        pid = real()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted)
    return made


@pytest.mark.parametrize("how_many", [2, 3])
def test_the_many_findings_report_in_shares_is_the_serial_one(
    many: Path, how_many: int, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a per-device cap of 4, most devices fold findings: the cap, its folded counts and their order
    must come out as one process makes them."""
    monkeypatch.setattr(records, "MAX_FINDINGS_PER_DEVICE", 4)
    engine = _engine([many])
    assert threading.active_count() == 1 and not engine.contact_table.spilled
    assert len(engine.contact_table) >= shares.MIN_CONTACTS
    serial = _report(engine, 1)
    assert forks == []
    shared = _report(engine, how_many)
    assert len(forks) == how_many - 1
    assert shared[0] == serial[0]
    assert shared[1] == serial[1] and list(shared[1]) == list(serial[1])  # counts and their order
    assert shared[2] == serial[2]
    devices = {re.search(rb'"device": \{"ip": "([^"]*)"', text)[1] for text, _facts in serial[0]}  # type: ignore[index]
    assert {shares.share_of(ip.decode(), how_many) for ip in devices} == set(range(how_many))
    assert len(serial[0]) > 500 and len(serial[1]) > 50  # many findings kept, many devices folded


def test_dict_records_in_shares_are_the_serial_ones(many: Path, forks: list[int]) -> None:
    engine = _engine([many])
    assert _report(engine, 2, as_text=False) == _report(engine, 1, as_text=False)
    assert len(forks) == 1


def _captures() -> list[Path]:
    found = sorted(p for p in (PCAPS / "real").iterdir() if p.suffix in (".pcap", ".pcapng"))
    return found + sorted(p for p in PCAPS.iterdir() if p.suffix in (".pcap", ".pcapng"))


@pytest.mark.parametrize("capture", _captures(), ids=lambda p: p.name)
def test_real_and_scenario_captures_in_shares(
    capture: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The committed real third-party captures and the scenario captures, each: two shares, one report
    (however few their contacts: MIN_CONTACTS set aside)."""
    monkeypatch.setattr(shares, "MIN_CONTACTS", 0)
    engine = _engine([capture])
    serial = _report(engine, 1)
    assert _report(engine, 2) == serial
    assert len(forks) == 1


def test_a_share_whose_process_fails_is_made_in_the_parent(
    many: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine([many])
    serial = _report(engine, 1)
    parent = os.getpid()
    real = records.made_records

    def failing_in_a_child(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() != parent:
            raise MemoryError("a share's process failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "made_records", failing_in_a_child)
    made_here: list[int] = []
    monkeypatch.setattr(shares, "_wait", _recording(shares._wait, made_here))
    assert _report(engine, 3) == serial
    assert len(forks) == 2 and made_here == [0, 0]  # both children failed: None from each wait


def _recording(wait: Callable[..., Any], log: list[int]) -> Callable[..., Any]:
    def recorded(*args: Any) -> Any:
        result = wait(*args)
        log.append(0 if result is None else 1)
        return result

    return recorded


def test_an_error_in_the_parent_leaves_no_share_running(
    many: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine([many])
    parent = os.getpid()
    real = records.made_records

    def failing_in_the_parent(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() == parent:
            raise KeyboardInterrupt
        time.sleep(30)  # a share still working when the parent stops
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "made_records", failing_in_the_parent)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        _report(engine, 2)
    assert len(forks) == 1 and time.monotonic() - started < 20
    with pytest.raises(ChildProcessError):  # killed and reaped: no child left, not even a zombie
        os.waitpid(-1, os.WNOHANG)


def test_an_error_after_shares_ended_signals_no_reaped_process(
    many: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Share 1's process ends well, share 2's fails, and making share 2 again in the parent is stopped: the
    error goes up, and no pid already reaped is signalled (the system may give it to another process)."""
    engine = _engine([many])
    parent = os.getpid()
    real = records.made_records
    second = next(ip for ip in (f"10.9.0.{i}" for i in range(256)) if shares.share_of(ip, 3) == 2)

    def second_share_fails(*args: Any, **kwargs: Any) -> Any:
        share = args[3] if len(args) > 3 else kwargs.get("share")
        if share is not None and share(second):
            if os.getpid() != parent:
                raise MemoryError("share 2's process failed")
            raise KeyboardInterrupt  # making it again here is stopped
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "made_records", second_share_fails)
    signalled: list[int] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: signalled.append(pid))
    with pytest.raises(KeyboardInterrupt):
        _report(engine, 3)
    assert len(forks) == 2 and signalled == []
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_no_fork_where_it_is_not_safe(many: Path, forks: list[int]) -> None:
    engine = _engine([many])
    serial = _report(engine, 1)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)  # a thread running (say a progress bar's)
    worker.start()
    try:
        assert not shares.can_share(engine.contact_table.spilled)
        assert _report(engine, 2) == serial
    finally:
        stop.set()
        worker.join()
    assert forks == []


def test_no_fork_for_a_spilled_contact_table(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Contacts in SQLite (contactstore) stay in one process: a connection must not cross a fork."""
    monkeypatch.setattr(engine_module, "STATE_MEMORY", 1 << 20)
    engine = _engine([many])
    assert engine.contact_table.spilled and not shares.can_share(True)
    assert shares.shares_for(2, len(engine.contact_table)) == min(2, len(os.sched_getaffinity(0)))


def test_how_many_shares() -> None:
    cores = len(os.sched_getaffinity(0))
    assert shares.shares_for(8, shares.MIN_CONTACTS - 1) == 1  # a small report: one process
    assert shares.shares_for(1, 10**6) == 1  # --jobs 1
    assert shares.shares_for(2, 10**6) == min(2, cores)
    assert shares.shares_for(64, 10**6) == min(shares.MAX_SHARES, cores)


def test_share_of_is_a_function_of_the_address_alone() -> None:
    addresses = [f"10.0.{i // 256}.{i % 256}" for i in range(2_000)] + ["2001:db8::1", "\udcff"]
    for how_many in (2, 3, 8):
        seen = [shares.share_of(ip, how_many) for ip in addresses]
        assert seen == [shares.share_of(ip, how_many) for ip in addresses]
        counts = [seen.count(k) for k in range(how_many)]
        assert min(counts) > 0.8 * len(addresses) / how_many  # the devices spread evenly
    assert shares.share_of("", 3) == 0  # findings without a device are share 0's


def _scrubbed(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'"(started|finished)": "[^"]*"', r'"\1": "<t>"', text)
    return re.sub(r'"seconds": [0-9.e-]+', '"seconds": <s>', text)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_analyze_jobs_2_writes_the_one_process_report(
    many: Path, fmt: str, tmp_path: Path, forks: list[int]
) -> None:
    """The command as users run it on one capture above MIN_CONTACTS: -j 2 makes the report in two
    processes; without -j (the default) and with -j 1 one process makes it."""
    reports: dict[int | None, str] = {}
    for jobs, forked in ((None, 0), (1, 0), (2, 1)):
        out = tmp_path / f"report{jobs}.{fmt}"
        code = run_analyze(AnalyzeRequest(captures=[many], outputs=[(fmt, out)], jobs=jobs))
        assert code == 1  # high findings: --fail-on high
        reports[jobs] = _scrubbed(out)
        assert len(forks) == forked
    assert reports[2] == reports[1] == reports[None]
    assert reports[1].count('"rule": ') > 1_000


def test_a_per_device_detector_sees_only_its_shares_contacts(many: Path) -> None:
    engine = _engine([many])
    seen: dict[str, list[str]] = {}
    for detector in engine.detectors:
        real = detector.findings

        def spying(view: Any, earlier: Any, name: str = detector.name, real: Any = real) -> Any:
            seen[name] = [contact.host for contact in view.contacts()]
            return real(view, earlier)

        detector.findings = spying  # type: ignore[method-assign]
    everyone = [contact.host for contact in engine.contacts()]
    records.made_records(engine, lambda f: f, SortedSpool(), shares.member(1, 2))
    mine = [host for host in everyone if shares.share_of(host, 2) == 1]
    assert 0 < len(mine) < len(everyone)
    assert seen["destination"] == seen["beacon"] == mine
    assert seen["storm"] == seen["fleet"] == everyone  # a storm or a fleet is many devices'
    assert list(engine.contacts()) and [c.host for c in engine.contacts()] == everyone  # reset after
