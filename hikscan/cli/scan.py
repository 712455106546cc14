"""`hikscan scan`: run discovery, stream devices as they are found, finish with the estate summary."""

from __future__ import annotations

import csv
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hikscan.interrupt import graceful_stop
from hikscan.report.model import Device
from hikscan.report.render import JsonlWriter, console_for, devices_table, dumps, open_output

CSV_FIELDS = ("ip", "mac", "vendor", "model", "serial", "firmware", "activated", "cloud_enabled", "cves",
              "confidence", "hostile", "conflicts")  # fmt: skip


@dataclass
class ScanRequest:
    targets: list[str]
    interface: str | None = None
    output_format: str = "table"
    output: Path | None = None
    rate: float = 50.0
    timeout: float = 2.0
    max_time: float | None = None
    probes: set[str] | None = None
    use_nmap: bool = False
    progress: bool = False
    rules_dir: Path | None = None


class CsvWriter:
    """One row per device, flushed as found; lists joined with ';'."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
        self.writer.writeheader()

    def write(self, record: dict[str, Any]) -> None:
        row = {k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in record.items()}
        self.writer.writerow(row)
        self.out.flush()


def _stream(request: ScanRequest, out: IO[str]) -> Callable[[Device], None]:
    if request.output_format == "jsonl":
        jsonl = JsonlWriter(out)
        return lambda device: jsonl.write("device", device.to_dict())
    if request.output_format == "csv":
        rows = CsvWriter(out)
        return lambda device: rows.write(device.to_dict())
    return lambda device: None


def run_scan_command(request: ScanRequest) -> int:
    from hikscan.active.scan import estate_summary, run_scan
    from hikscan.knowledge.rules import load_rules

    rules = load_rules(request.rules_dir)
    stop = threading.Event()
    found: list[Device] = []
    streamed = request.output_format in ("jsonl", "csv", "table")
    with graceful_stop(stop), open_output(request.output, atomic=not streamed) as out:
        write = _stream(request, out)

        def on_device(device: Device) -> None:
            found.append(device)
            write(device)

        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=console_for(sys.stderr), transient=True,
                      disable=not request.progress) as bar:  # fmt: skip
            task = bar.add_task("scan", total=None)

            def on_progress(phase: str, done: int, total: int) -> None:
                bar.update(task, description=f"{phase} ({len(found)} devices)", completed=done, total=total)

            try:
                result = run_scan(
                    request.targets,
                    interface=request.interface,
                    rate=request.rate,
                    timeout=request.timeout,
                    probes=request.probes,
                    use_nmap=request.use_nmap,
                    on_device=on_device,
                    on_progress=on_progress,
                    max_time=request.max_time,
                    rules=rules,
                    stop=stop,
                    on_notice=lambda text: print(f"hikscan: {text}", file=sys.stderr, flush=True),
                )
                devices, stats = result.devices, result.stats
            except KeyboardInterrupt:  # a second signal: report what was streamed
                devices, stats = list(found), {}
        interrupted = stop.is_set()
        probed = int(stats.get("targets", 0))
        summary = {**estate_summary(devices, probed, rules), "interrupted": interrupted}
        _finish(request, out, devices, summary, stats)
    if interrupted:
        return 130
    return _rights_verdict(devices, stats)


def _rights_verdict(devices: list[Device], stats: dict[str, Any]) -> int:
    """Warn when a phase lacked the rights it needs; found nothing because of that is exit 2."""
    denied = stats.get("no_permission") or []
    if not denied:
        return 0
    what = ", ".join(denied)
    hint = "run as root or give the interpreter CAP_NET_RAW (e.g. `sudo setcap cap_net_raw+ep`)"
    if not devices:
        print(f"hikscan: warning: found nothing, and {what} was not permitted: {hint}", file=sys.stderr)
        return 2
    print(f"hikscan: warning: {what} was not permitted, the inventory may be incomplete: {hint}",
          file=sys.stderr)  # fmt: skip
    return 0


def _finish(request: ScanRequest, out: IO[str], devices: list[Device], summary: dict[str, Any],
            stats: dict[str, Any]) -> None:  # fmt: skip
    records = [d.to_dict() for d in devices]
    if request.output_format == "json":
        out.write(dumps({"devices": records, "summary": summary, "stats": stats}) + "\n")
    elif request.output_format == "jsonl":
        JsonlWriter(out).write("summary", {**summary, "stats": stats})
    elif request.output_format == "table":
        console = console_for(out)
        console.print(devices_table(records, "Devices"))
        for d in devices:
            for note in d.conflicts + [f"hostile: {h}" for h in d.hostile]:
                console.print(f"  [yellow]{d.ip}[/]: {note}")
        by_vendor = ", ".join(f"{n} {v}" for v, n in summary["by_vendor"].items())
        console.print(
            f"\n[bold]{summary['headline']}[/] ({by_vendor}); unactivated {summary['unactivated']}, "
            f"cloud enabled {summary['cloud_enabled']}, with CVEs {summary['with_cves']}, "
            f"hostile {summary['hostile']}"
        )
