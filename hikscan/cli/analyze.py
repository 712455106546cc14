"""`hikscan analyze`: expand the inputs, analyse each capture (or all as one), stream or write the report."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from hikscan.errors import MalformedInput, UsageError
from hikscan.interrupt import graceful_stop
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.geo import attribution as geo_attribution
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import RuleSet, load_rules
from hikscan.passive.attribution import read_inventory
from hikscan.passive.baseline import Baseline
from hikscan.passive.engine import Engine
from hikscan.report.meta import now_iso, report_meta
from hikscan.report.model import SEVERITIES, Device, Finding, severity_rank
from hikscan.report.output import open_output
from hikscan.report.safe import markup
from hikscan.report.writers import WRITERS, Writer
from hikscan.report.writers.labels import device_label, server_label, where_label
from hikscan.report.writers.table import SEVERITY_STYLE, console_for

CAPTURE_SUFFIXES = {".pcap", ".pcapng", ".cap", ".dmp"}


@dataclass
class AnalyzeRequest:
    captures: list[Path]
    home_country: str | None = None
    output_format: str = "table"
    output: Path | None = None
    fail_on: str = "high"
    merge: bool = False
    geoip_db: Path | None = None
    asn_db: Path | None = None
    rules_dir: Path | None = None
    inventory: Path | None = None
    progress: bool = False
    baseline: list[Path] = field(default_factory=list)  # earlier reports (passive.baseline)


def expand(paths: list[Path]) -> list[Path]:
    """Files as given; directories searched recursively for capture files, in name order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CAPTURE_SUFFIXES)
            if not found:
                raise UsageError(f"{path}: no .pcap or .pcapng files in this directory")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise UsageError(f"{path}: no such file or directory")
    return out


@contextlib.contextmanager
def _progress_bar(enabled: bool, label: str) -> Iterator[Any]:
    if not enabled:
        yield None
        return
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
        self.baseline = Baseline.load(request.baseline) if request.baseline else None

    def new_engine(self) -> Engine:
        engine = Engine(self.rules, self.geo, self.oui, self.request.home_country, self.baseline)
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

    def analyse(self, paths: list[Path]) -> tuple[Engine, list[Finding], dict[str, Any]]:
        engine = self.new_engine()
        label = paths[0].name if len(paths) == 1 else f"{len(paths)} captures"
        with _progress_bar(self.request.progress, label) as progress:
            stats = engine.run_files(paths, progress=progress, stop=self.stop)
        engine.finish()
        findings = engine.findings()
        return (
            engine,
            findings,
            {"captures": [str(p) for p in paths], **stats.to_dict(), **engine.extra_stats()},
        )


class Totals:
    """What the summary needs, counted as records stream past (nothing else is kept)."""

    def __init__(self) -> None:
        self.findings = 0
        self.by_severity: Counter[str] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.vendors: Counter[str] = Counter()
        self.countries: Counter[str] = Counter()
        self.devices = 0
        self.worst = -1

    def finding(self, record: dict[str, Any]) -> None:
        self.findings += 1
        self.by_severity[record["severity"]] += 1
        self.by_rule[record["rule"]] += 1
        self.worst = max(self.worst, severity_rank(record["severity"]))
        if not record["device"].get("members"):
            self.countries[record["remote"].get("country") or "??"] += 1

    def device(self, record: dict[str, Any]) -> None:
        self.devices += 1
        if record.get("vendor"):
            self.vendors[record["vendor"]] += 1

    def summary(self, stats: list[dict[str, Any]]) -> dict[str, Any]:
        sev = ", ".join(f"{self.by_severity[s]} {s}" for s in reversed(SEVERITIES) if self.by_severity[s])
        return {
            "findings": self.findings,
            "by_severity": {s: self.by_severity.get(s, 0) for s in reversed(SEVERITIES)},
            "by_rule": dict(self.by_rule.most_common()),
            "cctv_devices": self.devices,
            "devices_by_vendor": dict(self.vendors.most_common()),
            "remote_countries": dict(self.countries.most_common()),
            "captures": len(stats),
            "packets": sum(s.get("packets", 0) for s in stats),
            "interrupted": any(s.get("interrupted") for s in stats),
            "headline": f"{self.findings} findings"
            + (f" ({sev})" if sev else "")
            + f" from {len(stats)} capture(s), {sum(s.get('packets', 0) for s in stats)} packets; "
            + f"{self.devices} CCTV devices",
        }


def emit(
    writer: Writer, totals: Totals, findings: list[Finding], devices: list[Device], capture: str | None
) -> None:
    for finding in findings:
        record = finding.to_dict()
        if capture:
            record["capture"] = capture
        totals.finding(record)
        writer.finding(record)
    for device in devices:
        record = device.to_dict()
        if capture:
            record["capture"] = capture
        totals.device(record)
        writer.device(record)


def run_analyze(request: AnalyzeRequest) -> int:
    paths = expand(request.captures)
    run = AnalyzeRun(request)
    with graceful_stop(run.stop):
        return _analyze(request, run, paths)


def _analyze(request: AnalyzeRequest, run: AnalyzeRun, paths: list[Path]) -> int:
    groups = [paths] if request.merge else [[p] for p in paths]
    writer_cls = WRITERS[request.output_format]
    totals = Totals()
    all_stats: list[dict[str, Any]] = []
    errors: list[str] = []
    meta = run.meta("analyze", [str(p) for p in paths])
    with open_output(request.output, atomic=not writer_cls.streamed) as out:
        writer = writer_cls(out, "analyze")
        writer.begin(meta)
        for group in groups:
            try:
                engine, findings, stats = run.analyse(group)
            except MalformedInput as exc:
                if len(groups) == 1:
                    raise
                # One unreadable file among many: say so, keep going, exit 2 at the end.
                print(f"hikscan: error: {exc}", file=sys.stderr, flush=True)
                errors.append(str(exc))
                continue
            name = group[0].name if len(group) == 1 else f"{len(group)} captures"
            writer.section(name, stats)
            emit(writer, totals, findings, engine.cctv_devices(), str(group[0]) if len(group) == 1 else None)
            writer.end_section()
            all_stats.append(stats)
            if stats["interrupted"]:
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


def exit_code(worst: int, fail_on: str) -> int:
    """1 when the worst finding (severity rank, -1 for none) is at or above --fail-on."""
    if fail_on == "none":
        return 0
    return 1 if worst >= severity_rank(fail_on) else 0


def run_watch(request: AnalyzeRequest, interface: str, interval: float, duration: float | None) -> int:
    """Live traffic on one interface: each finding written (and flushed) the moment it first appears."""
    from hikscan.passive.live import Watcher, open_listener

    run = AnalyzeRun(request)
    engine = run.new_engine()
    listener = open_listener(interface)
    totals = Totals()
    capture = f"live:{interface}"
    meta = run.meta("watch", [capture])
    fmt = request.output_format if request.output_format in ("jsonl", "csv") else "table"
    with graceful_stop(run.stop), open_output(request.output, atomic=False) as out:
        writer = WRITERS[fmt](out, "watch")
        writer.begin(meta)
        console = console_for(out)

        def on_finding(finding: Finding) -> None:
            record = finding.to_dict()
            record["capture"] = capture
            totals.finding(record)
            if fmt == "table":
                console.print(finding_line(record))
                out.flush()
            else:
                writer.finding(record)

        try:
            stats = Watcher(engine, on_finding).run(listener, run.stop, interval, duration)
        finally:
            listener.close()
        stats_record = {"captures": [capture], **stats.to_dict(), **engine.extra_stats()}
        for device in engine.cctv_devices():
            totals.device(device.to_dict())
        summary = totals.summary([stats_record])
        meta["finished"] = now_iso()
        writer.end(summary, [stats_record], meta)
    return exit_code(totals.worst, request.fail_on)


def finding_line(f: dict[str, Any]) -> str:
    """One finding on one line, for live output (every value escaped)."""
    style = SEVERITY_STYLE.get(f["severity"], "")
    return (
        f"{markup(f['first_seen'])} [{style}]{f['severity'].upper()}[/] {markup(f['rule'])}: "
        f"{markup(device_label(f['device']))} → {markup(server_label(f['remote']))} "
        f"({markup(where_label(f['remote']))})"
    )
