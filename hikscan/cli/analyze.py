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
from hikscan.passive.analysis import Analysis, Report
from hikscan.passive.attribution import read_inventory
from hikscan.passive.locality import parse_local_nets
from hikscan.report.model import SEVERITIES, severity_rank
from hikscan.report.render import JsonlWriter, console_for, devices_table, dumps, findings_table, open_output

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
    local_nets: list[str] = field(default_factory=list)


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
        self.local_nets = parse_local_nets(request.local_nets)

    def new_analysis(self) -> Analysis:
        analysis = Analysis(self.rules, self.geo, self.oui, self.request.home_country, self.local_nets)
        analysis.attribution.add_inventory(self.inventory)
        return analysis

    def analyse(self, paths: list[Path]) -> Report:
        analysis = self.new_analysis()
        label = paths[0].name if len(paths) == 1 else f"{len(paths)} captures"
        with _progress_bar(self.request.progress, label) as progress:
            stats = analysis.run_files(paths, progress=progress, stop=self.stop)
        return analysis.report([str(p) for p in paths], stats)


def _report_records(report: Report) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    capture = report.captures[0] if len(report.captures) == 1 else None
    findings, devices = [], []
    for finding in report.findings:
        record = finding.to_dict()
        if capture:
            record["capture"] = capture
        findings.append(record)
    for device in report.devices:
        record = device.to_dict()
        if capture:
            record["capture"] = capture
        devices.append(record)
    return findings, devices


def summarise(
    findings: list[dict[str, Any]], devices: list[dict[str, Any]], stats: list[dict[str, Any]]
) -> dict[str, Any]:
    by_severity = Counter(f["severity"] for f in findings)
    vendors = Counter(d["vendor"] for d in devices if d.get("vendor"))
    countries = Counter(
        f["remote"]["country"] or "??" for f in findings if f["rule"] != "cctv-fleet-new-destination"
    )
    return {
        "findings": len(findings),
        "by_severity": {s: by_severity.get(s, 0) for s in reversed(SEVERITIES)},
        "cctv_devices": len(devices),
        "devices_by_vendor": dict(vendors.most_common()),
        "remote_countries": dict(countries.most_common()),
        "captures": len(stats),
        "packets": sum(s.get("packets", 0) for s in stats),
        "interrupted": any(s.get("interrupted") for s in stats),
    }


def run_analyze(request: AnalyzeRequest) -> int:
    paths = expand(request.captures)
    run = AnalyzeRun(request)
    with graceful_stop(run.stop):
        return _analyze(request, run, paths)


def _analyze(request: AnalyzeRequest, run: AnalyzeRun, paths: list[Path]) -> int:
    groups = [paths] if request.merge else [[p] for p in paths]
    streamed = request.output_format in ("jsonl", "table")
    all_findings: list[dict[str, Any]] = []
    all_devices: list[dict[str, Any]] = []
    all_stats: list[dict[str, Any]] = []
    errors: list[str] = []
    with open_output(request.output, atomic=not streamed) as out:
        jsonl = JsonlWriter(out) if request.output_format == "jsonl" else None
        console = console_for(out) if request.output_format == "table" else None
        for group in groups:
            try:
                report = run.analyse(group)
            except MalformedInput as exc:
                if len(groups) == 1:
                    raise
                # One unreadable file among many: say so, keep going, exit 2 at the end.
                print(f"hikscan: error: {exc}", file=sys.stderr, flush=True)
                errors.append(str(exc))
                continue
            findings, devices = _report_records(report)
            stats = {"captures": report.captures, **report.stats}
            all_findings += findings
            all_devices += devices
            all_stats.append(stats)
            if jsonl is not None:
                for record in findings:
                    jsonl.write("finding", record)
                for record in devices:
                    jsonl.write("device", record)
                jsonl.write("stats", stats)
            elif console is not None:
                _print_table(console, report.captures, findings, devices, stats)
            if stats["interrupted"]:
                break
        summary = summarise(all_findings, all_devices, all_stats)
        if run.geo_attribution:
            summary["attribution"] = run.geo_attribution
        if errors:
            summary["errors"] = errors
        if jsonl is not None:
            jsonl.write("summary", summary)
        elif console is not None:
            console.print(_headline(summary))
            if run.geo_attribution:
                console.print(f"[dim]{run.geo_attribution}[/]")
        else:
            record = {
                "findings": all_findings,
                "devices": all_devices,
                "summary": summary,
                "stats": all_stats,
            }
            out.write(dumps(record) + "\n")
    if summary["interrupted"]:
        return 130
    if errors:
        return 2
    return exit_code(all_findings, request.fail_on)


def exit_code(findings: list[dict[str, Any]], fail_on: str) -> int:
    if fail_on == "none":
        return 0
    threshold = severity_rank(fail_on)
    return 1 if any(severity_rank(f["severity"]) >= threshold for f in findings) else 0


def _print_table(
    console: Any,
    captures: list[str],
    findings: list[dict[str, Any]],
    devices: list[dict[str, Any]],
    stats: dict[str, Any],
) -> None:
    name = captures[0] if len(captures) == 1 else f"{len(captures)} captures"
    console.print(
        f"\n[bold]{name}[/]: {stats.get('packets', 0)} packets"
        + (", [yellow]truncated[/]" if stats.get("truncated") else "")
        + (f", {stats['malformed']} malformed" if stats.get("malformed") else "")
    )
    for warning in stats.get("warnings", [])[:5]:
        console.print(f"  [yellow]warning:[/] {warning}")
    if findings:
        console.print(findings_table(findings, "Findings"))
    else:
        console.print("  no findings")
    if devices:
        console.print(devices_table(devices, "CCTV devices seen"))
    console.file.flush()


def _headline(summary: dict[str, Any]) -> str:
    sev = ", ".join(f"{n} {s}" for s, n in summary["by_severity"].items() if n)
    return (
        f"\n[bold]{summary['findings']} findings[/]"
        + (f" ({sev})" if sev else "")
        + f" from {summary['captures']} capture(s), {summary['packets']} packets; "
        + f"{summary['cctv_devices']} CCTV devices"
    )


def run_watch(request: AnalyzeRequest, interface: str, interval: float, duration: float | None) -> int:
    """Live traffic on one interface: each finding written (and flushed) the moment it first appears."""
    from hikscan.passive.live import Watcher, open_listener

    run = AnalyzeRun(request)
    analysis = run.new_analysis()
    listener = open_listener(interface)
    found: list[dict[str, Any]] = []
    with graceful_stop(run.stop), open_output(request.output, atomic=False) as out:
        jsonl = JsonlWriter(out) if request.output_format == "jsonl" else None
        console = console_for(out)

        def emit(finding: Any) -> None:
            record = finding.to_dict()
            record["capture"] = f"live:{interface}"
            found.append(record)
            if jsonl is not None:
                jsonl.write("finding", record)
            else:
                console.print(finding_line(record))
                out.flush()

        try:
            stats = Watcher(analysis, emit).run(listener, run.stop, interval, duration)
        finally:
            listener.close()
        stats_record = {"captures": [f"live:{interface}"], **stats.to_dict()}
        summary = summarise(
            found, [d.to_dict() for d in analysis.devices().values() if analysis.is_cctv(d)], [stats_record]
        )
        if jsonl is not None:
            jsonl.write("stats", stats_record)
            jsonl.write("summary", summary)
        else:
            console.print(_headline(summary))
    return exit_code(found, request.fail_on)


def finding_line(f: dict[str, Any]) -> str:
    """One finding on one line, for live output."""
    device, remote = f["device"], f["remote"]
    who = " ".join(str(x) for x in (device.get("ip"), device.get("vendor"), device.get("model")) if x)
    where = " ".join(
        str(x)
        for x in (remote.get("country"), remote.get("asn") and f"AS{remote['asn']}", remote.get("org"))
        if x
    )
    name = f" {remote['name']}" if remote.get("name") else ""
    return (
        f"{f['first_seen']} [bold]{f['severity'].upper()}[/] {f['rule']}: {who} → "
        f"{remote['ip']}:{remote['port']}/{remote['proto']}{name} ({where})"
    )
