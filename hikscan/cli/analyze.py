"""`hikscan analyze`: expand the inputs, analyse each capture (or all as one), stream or write the report."""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import signal
import sys
import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hikscan.allocator import return_large_blocks
from hikscan.capture.inputs import Inputs, expand_inputs
from hikscan.cli.output import check_output
from hikscan.errors import MalformedInput, UsageError
from hikscan.interrupt import graceful_stop
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.geo import attribution as geo_attribution
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import RuleSet, load_rules
from hikscan.passive.attribution import read_inventory
from hikscan.passive.baseline import Baseline
from hikscan.passive.engine import Engine
from hikscan.passive.locality import parse_local_nets
from hikscan.report.estate import Estate
from hikscan.report.fanout import FanOut, open_writers
from hikscan.report.finding_json import FindingEncoder
from hikscan.report.meta import now_iso, report_meta
from hikscan.report.model import SEVERITIES, severity_rank
from hikscan.report.spool import SpilledRecords, TextSpool, text_blocks
from hikscan.report.tally import Facts, FindingTally, counted, facts_of, finding_facts

if TYPE_CHECKING:
    from concurrent.futures import Future


def ProcessPoolExecutor(*args: Any, **kwargs: Any) -> Any:
    """concurrent.futures' process pool, imported (~20 ms) only when several captures need it."""
    from concurrent.futures import ProcessPoolExecutor as Pool

    return Pool(*args, **kwargs)


@dataclass
class AnalyzeRequest:
    captures: list[Path]
    home_country: str | None = None
    outputs: list[tuple[str, Path | None]] = field(default_factory=lambda: [("table", None)])
    syslog: bool = False
    fail_on: str = "high"
    merge: bool = False
    geoip_db: Path | None = None
    asn_db: Path | None = None
    rules_dir: Path | None = None
    inventory: Path | None = None
    progress: bool = False
    jobs: int | None = None  # worker processes for several captures; None: one per core
    local_nets: list[str] = field(default_factory=list)
    baseline: list[Path] = field(default_factory=list)  # earlier reports (passive.baseline)


def expand(paths: list[Path]) -> Inputs:
    """The capture files of the inputs (hikscan.capture.inputs), and Zeek logs (a log file, or a directory
    of them: capture.zeek.is_zeek_input) kept as they are; notes printed on stderr now."""
    from hikscan.capture.zeek import is_zeek_input

    zeek = [p for p in paths if is_zeek_input(p)]
    found = expand_inputs([p for p in paths if p not in zeek])
    found.files[:0] = zeek
    for note in found.notes:
        print(f"hikscan: warning: {note}", file=sys.stderr, flush=True)
    if not found.files and found.problems:
        raise UsageError(found.problems[0] if len(found.problems) == 1 else "; ".join(found.problems[:3]))
    return found


def other_inputs(request: AnalyzeRequest) -> list[Path | None]:
    """Files besides the captures that a run reads: -o must not be any of them either."""
    return [request.rules_dir, request.inventory, request.geoip_db, request.asn_db]


@contextlib.contextmanager
def _progress_bar(enabled: bool, label: str) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from hikscan.report.writers.table import console_for

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, console=console_for(sys.stderr)) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


class AnalyzeRun:
    """Holds the shared read-only pieces (rules, GeoIP, OUI table) across the captures of one command."""

    def __init__(self, request: AnalyzeRequest) -> None:
        if request.home_country is not None and (
            len(request.home_country) != 2 or not request.home_country.isalpha()
        ):
            raise UsageError(
                f"--home-country {request.home_country!r}: give a two-letter ISO code such as GB"
            )
        self.request = request
        self.rules: RuleSet = load_rules(request.rules_dir)
        self.geo = GeoLookup(request.geoip_db, request.asn_db)
        # CC-BY-4.0: credit the embedded databases wherever their results are shown
        embedded = request.geoip_db is None or request.asn_db is None
        self.geo_attribution = geo_attribution() if embedded else None
        self.oui = OuiTable.load()
        self.stop = threading.Event()
        self.inventory = read_inventory(request.inventory) if request.inventory is not None else []
        self.local_nets = parse_local_nets(request.local_nets)
        self.baseline = Baseline.load(request.baseline) if request.baseline else None

    def new_engine(self) -> Engine:
        engine = Engine(
            self.rules, self.geo, self.oui, self.request.home_country, self.local_nets, self.baseline
        )
        engine.attribution.add_inventory(self.inventory)
        return engine

    def meta(self, command: str, inputs: list[str]) -> dict[str, Any]:
        return report_meta(
            command,
            inputs,
            self.rules,
            self.geo.database_info(),
            home_country=(self.request.home_country or self.rules.policy.home_country).upper(),
            merge=self.request.merge or None,
            inventory=str(self.request.inventory) if self.request.inventory else None,
            baseline=self.baseline.sources
            if self.baseline is not None
            else f"capture start: first {self.rules.policy.baseline.learn_seconds:g} s",
        )

    def analyse(
        self, paths: list[Path], progress_bar: bool | None = None, as_text: bool = False, jobs: int = 1
    ) -> Result:
        """One traffic set → its report records (plain data, so a worker process can send them back);
        `as_text`: findings as their JSON text (a worker writes them to a file as they are), counted into
        `Result.tally` as they are read, so the parent need not decode them to count them; `jobs`: processes
        the report may be made in (passive.shares).

        What lives until the report is written (rules, tables, then flows, contacts and names) is moved out
        of the collector's reach with gc.freeze(): it scanned that whole heap again and again, ~20% of the
        run. `Result.discard()` (or a failure here) hands it back, so nothing outlives its report."""
        engine = self.new_engine()
        gc.freeze()
        try:
            read = self._read(engine, paths, progress_bar)
            gc.freeze()
            engine.finish()
            gc.freeze()  # and what closing the flows left (contacts, names, the detectors' logs)
            extra = {"capture": str(paths[0])} if len(paths) == 1 else {}
            # sets the folded counts extra_stats() reports
            tally = FindingTally() if as_text else None
            if tally is not None:
                encode = FindingEncoder(extra)
                texts = engine.finding_records(
                    lambda f: (encode(f).encode(), facts_of(f)), TextSpool[Facts], jobs
                )
                findings: Iterable[Any] = counted(texts, tally)
            else:
                findings = engine.finding_records(lambda f: {**f.to_dict(), **extra}, jobs=jobs)
        except BaseException:
            gc.unfreeze()
            raise
        return Result(
            findings=findings,
            devices=({**d.to_dict(), **extra} for d in engine.cctv_device_stream()),
            stats={"captures": [str(p) for p in paths], **read, **engine.extra_stats()},
            tally=tally,
        )

    def _read(self, engine: Engine, paths: list[Path], progress_bar: bool | None) -> dict[str, Any]:
        label = paths[0].name if len(paths) == 1 else f"{len(paths)} captures"
        show = self.request.progress if progress_bar is None else progress_bar
        if is_zeek_group(paths):
            from hikscan.passive.zeek_feed import ZeekFeed

            return ZeekFeed(engine).run(paths, stop=self.stop)
        with _progress_bar(show, label) as progress:
            return engine.run_files(paths, progress=progress, stop=self.stop).to_dict()


def is_zeek_group(paths: list[Path]) -> bool:
    from hikscan.capture.zeek import is_zeek_input

    return bool(paths) and is_zeek_input(paths[0])


def traffic_sets(paths: list[Path], merge: bool) -> list[list[Path]]:
    """What is analysed together: each capture alone (or all, with --merge); Zeek logs given as files
    are one set (conn.log needs its dns.log), each directory of Zeek logs is one set."""
    zeek_files = [p for p in paths if p.is_file() and is_zeek_group([p])]
    zeek_dirs = [[p] for p in paths if p.is_dir()]
    captures = [p for p in paths if p not in zeek_files and not p.is_dir()]
    groups = ([captures] if merge else [[p] for p in captures]) if captures else []
    return groups + zeek_dirs + ([zeek_files] if zeek_files else [])


@dataclass
class Result:
    """One traffic set's report: findings are read once, as they are written (memory stays flat)."""

    findings: Iterable[Any]  # records (dicts), or their JSON text in UTF-8 when made as text (tally set)
    devices: Iterable[dict[str, Any]]
    stats: dict[str, Any]
    tally: FindingTally | None = None  # the findings' counts, when made as text: complete once they are read

    def discard(self, collect: bool = True) -> None:
        """Drop records that will not be written (a worker's spill files are deleted), and let the collector
        see this traffic set's objects again (AnalyzeRun.analyse froze them), so nothing outlives it: an
        engine of this process is collected now, before the next traffic set freezes its garbage with it.
        `collect=False` after the last traffic set: nothing is frozen after it, and a collection of the
        whole engine (~0.2 s on a 1M-packet capture) would only delay the end of the command."""
        in_process = not isinstance(self.findings, SpilledRecords)
        for records in (self.findings, self.devices):
            if isinstance(records, SpilledRecords):
                records.discard()
        self.findings = self.devices = ()
        gc.unfreeze()
        if in_process and collect:
            gc.collect()


_WORKER: AnalyzeRun | None = None
_WORKER_RAN = False  # this worker process has analysed a traffic set already


def _init_worker(request: AnalyzeRequest) -> None:
    """Each worker has the rules, databases and OUI table once: a forked worker inherits the parent's
    (results() sets _WORKER before the pool starts), a spawned one loads its own. Ctrl-C is the parent's."""
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return_large_blocks()  # a spawned worker's own C allocator (a forked one has the parent's setting)
    if _WORKER is None or _WORKER.request != request:
        _WORKER = AnalyzeRun(request)
    _WORKER.stop = threading.Event()  # the parent's stop is set by the parent's signal handler only


def _work(paths: list[Path]) -> Result | str:
    global _WORKER_RAN
    assert _WORKER is not None
    if _WORKER_RAN:  # the last traffic set's engine goes before this one's objects are frozen with it
        gc.collect()
    _WORKER_RAN = True  # the last one's is never collected: the worker exits without tearing down
    try:
        result = _WORKER.analyse(paths, progress_bar=False, as_text=True)
        result.findings = SpilledRecords(result.findings)  # the parent reads them back from files
        result.devices = SpilledRecords(result.devices)
        gc.unfreeze()
        return result
    except MalformedInput as exc:
        return str(exc)
    except OSError as exc:
        return _os_error(exc, paths)


def results(
    run: AnalyzeRun, groups: list[list[Path]], as_text: bool = False
) -> Iterator[tuple[list[Path], Result | str]]:
    """Each group's result in input order; several groups run in worker processes (one per core), which
    hand back their findings as JSON text; `as_text`: so do groups analysed here (AnalyzeRun.analyse).

    At most 2 x jobs groups are in flight, so results waiting to be written stay bounded."""
    jobs = run.request.jobs or os.cpu_count() or 1
    if jobs <= 1 or len(groups) <= 1:
        shares = run.request.jobs or 1  # one traffic set's report in processes only if asked: they copy state
        for group in groups:
            try:
                yield group, run.analyse(group, as_text=as_text, jobs=shares)
            except MalformedInput as exc:
                yield group, str(exc)
            except OSError as exc:
                yield group, _os_error(exc, group)
            if run.stop.is_set():
                return
        return
    workers = min(jobs, len(groups))
    global _WORKER
    _WORKER = run  # inherited by forked workers, which then skip loading it all again
    gc.freeze()  # and kept out of the collector's scans in the parent and the workers alike
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(run.request,)) as pool:
        pending: deque[tuple[list[Path], Future[Result | str]]] = deque()
        todo = iter(groups)
        for group in itertools.islice(todo, 2 * workers):
            pending.append((group, pool.submit(_work, group)))
        try:
            while pending:
                if run.stop.is_set():
                    return
                group, future = pending.popleft()
                yield group, future.result()
                for nxt in itertools.islice(todo, 1):
                    pending.append((nxt, pool.submit(_work, nxt)))
        finally:  # stopped, or the consumer stopped reading: nothing is left behind in /tmp
            _abandon([waiting for _group, waiting in pending])


def _abandon(futures: list[Future[Result | str]]) -> None:
    """Cancel what has not started; delete the spill files of results that will not be written."""
    for future in futures:
        if future.cancel():
            continue
        with contextlib.suppress(Exception):
            result = future.result()
            if isinstance(result, Result):
                result.discard()


class Totals:
    """What the summary needs, counted as records stream past (nothing else is kept)."""

    def __init__(self, rules: RuleSet | None = None) -> None:
        self.estate = Estate(rules)
        self.tally = FindingTally()  # a worker's own tally is merged in when its records are not decoded
        self.vendors: Counter[str] = Counter()
        self.devices = 0

    @property
    def worst(self) -> int:
        return self.tally.worst

    def finding(self, record: dict[str, Any]) -> None:
        self.tally.add(finding_facts(record))

    def device(self, record: dict[str, Any]) -> None:
        self.devices += 1
        self.estate.add(record)
        if record.get("vendor"):
            self.vendors[record["vendor"]] += 1

    def summary(self, stats: list[dict[str, Any]]) -> dict[str, Any]:
        tally = self.tally
        sev = ", ".join(f"{tally.by_severity[s]} {s}" for s in reversed(SEVERITIES) if tally.by_severity[s])
        return {
            "findings": tally.count,
            "by_severity": {s: tally.by_severity.get(s, 0) for s in reversed(SEVERITIES)},
            "by_rule": dict(tally.by_rule.most_common()),
            "cctv_devices": self.devices,
            "devices_by_vendor": dict(self.vendors.most_common()),
            "remote_countries": dict(tally.countries.most_common()),
            "estate": self.estate.summary(),
            "captures": len(stats),
            "packets": sum(s.get("packets", 0) for s in stats),
            "interrupted": any(s.get("interrupted") for s in stats),
            "headline": f"{tally.count} findings"
            + (f" ({sev})" if sev else "")
            + f" from {len(stats)} capture(s), {sum(s.get('packets', 0) for s in stats)} packets; "
            + f"{self.devices} CCTV devices",
        }


def emit(writer: FanOut, totals: Totals, result: Result) -> None:
    """One traffic set's records to the writers. Findings made as JSON text (a worker's, or this process's
    when every writer only copies their text: json, jsonl) go as that text, never decoded, and were counted
    as they were made (Result.tally, complete once they are read)."""
    findings = result.findings
    if writer.text_writers is not None and result.tally is not None:
        if isinstance(findings, SpilledRecords):
            for block in findings.line_blocks():
                writer.finding_lines(block)
        else:
            for block in text_blocks(findings):
                writer.finding_lines(block)
        totals.tally.merge(result.tally)
    else:
        for record in findings:
            totals.finding(record)
            writer.finding(record)
    for record in result.devices:
        totals.device(record)
        writer.device(record)


def run_analyze(request: AnalyzeRequest) -> int:
    found = expand(request.captures)
    for _fmt, path in request.outputs:
        check_output(path, [*found.files, *other_inputs(request)])
    run = AnalyzeRun(request)
    with graceful_stop(run.stop):
        return _analyze(request, run, found)


def _analyze(request: AnalyzeRequest, run: AnalyzeRun, found: Inputs) -> int:
    paths = found.files
    groups = traffic_sets(paths, request.merge)
    totals = Totals(run.rules)
    all_stats: list[dict[str, Any]] = []
    errors: list[str] = list(found.problems)
    for problem in found.problems:  # unreadable or bad files: named now, the rest reported, exit 2
        print(f"hikscan: error: {problem}", file=sys.stderr, flush=True)
    meta = run.meta("analyze", [str(p) for p in paths])
    with open_writers(request.outputs, "analyze", request.syslog) as writer:
        writer.begin(meta)
        for group, result in results(run, groups, as_text=writer.text_writers is not None):
            if isinstance(result, str):
                if len(groups) == 1 and not errors:
                    raise MalformedInput(result)
                # One unreadable file among many: say so, keep going, exit 2 at the end.
                print(f"hikscan: error: {result}", file=sys.stderr, flush=True)
                errors.append(result)
                continue
            name = group[0].name if len(group) == 1 else f"{len(group)} captures"
            writer.section(name, result.stats)
            try:
                emit(writer, totals, result)
            finally:
                result.discard(collect=group is not groups[-1])
            writer.end_section()
            all_stats.append(result.stats)
            if result.stats["interrupted"]:
                break
        summary = totals.summary(all_stats)
        notes = [run.geo_attribution] if run.geo_attribution else []
        if run.geo_attribution:
            summary["attribution"] = run.geo_attribution
        if errors:
            summary["errors"] = errors
        summary["notes"] = notes
        meta["finished"] = now_iso()
        writer.end(summary, all_stats, meta)
    if summary["interrupted"]:
        return 130
    if errors:
        return 2
    return exit_code(totals.worst, request.fail_on)


def _os_error(exc: OSError, group: list[Path]) -> str:
    name = exc.filename or (group[0] if len(group) == 1 else f"{len(group)} captures")
    return f"{name}: cannot read: {exc.strerror or exc}"


def exit_code(worst: int, fail_on: str) -> int:
    """1 when the worst finding (severity rank, -1 for none) is at or above --fail-on."""
    if fail_on == "none":
        return 0
    return 1 if worst >= severity_rank(fail_on) else 0
