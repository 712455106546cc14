"""`hikscan scan`: run discovery, stream devices as they are found, finish with the estate summary."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hikscan.cli.output import check_output
from hikscan.interrupt import graceful_stop
from hikscan.report.estate import Estate
from hikscan.report.fanout import open_writers
from hikscan.report.meta import now_iso, report_meta
from hikscan.report.model import Device
from hikscan.report.writers.table import console_for


@dataclass
class ScanRequest:
    targets: list[str]
    interface: str | None = None
    outputs: list[tuple[str, Path | None]] = field(default_factory=lambda: [("table", None)])
    syslog: bool = False
    rate: float = 50.0
    timeout: float = 2.0
    max_time: float | None = None
    probes: set[str] | None = None
    use_nmap: bool = False
    progress: bool = False
    rules_dir: Path | None = None
    imports: list[Path] = field(default_factory=list)  # nmap -oX reports (active/nmap_import.py)


def run_scan_command(request: ScanRequest) -> int:
    from hikscan.active.nmap_import import read_nmap_xml
    from hikscan.active.scan import estate_summary, run_scan
    from hikscan.knowledge.rules import load_rules

    for _fmt, path in request.outputs:
        check_output(path, [request.rules_dir])
    rules = load_rules(request.rules_dir)
    imported = [obs for path in request.imports for obs in read_nmap_xml(path)]
    stop = threading.Event()
    found: list[Device] = []
    meta = report_meta(
        "scan",
        list(request.targets) + [str(p) for p in request.imports],
        rules,
        [],
        interface=request.interface,
        rate=request.rate,
    )
    with graceful_stop(stop), open_writers(request.outputs, "scan", request.syslog) as writer:
        writer.begin(meta)
        inputs = request.targets or [request.interface or ""] + [str(p) for p in request.imports]
        writer.section("scan " + " ".join(x for x in inputs if x), {})

        def on_device(device: Device) -> None:
            found.append(device)
            writer.device(device.to_dict())

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
                    imported=imported,
                )
                devices, stats = result.devices, result.stats
            except KeyboardInterrupt:  # a second signal: report what was streamed
                devices, stats = list(found), {}
        interrupted = stop.is_set()
        probed = int(stats.get("targets", 0))
        estate = Estate(rules)
        for device in devices:
            estate.add(device.to_dict())
        summary = {
            **estate_summary(devices, probed, rules),
            "interrupted": interrupted,
            "estate": estate.summary(),
        }
        summary["notes"] = [f"{d.ip}: {note}" for d in devices for note in d.conflicts] + [
            f"{d.ip}: hostile: {h}" for d in devices for h in d.hostile
        ]
        by_vendor = ", ".join(f"{n} {v}" for v, n in summary["by_vendor"].items())
        summary["notes"].insert(
            0,
            f"{by_vendor or 'no devices'}; unactivated {summary['unactivated']}, cloud enabled "
            f"{summary['cloud_enabled']}, with CVEs {summary['with_cves']}, hostile {summary['hostile']}",
        )
        writer.end_section()
        meta["finished"] = now_iso()
        writer.end(summary, [stats] if stats else [], meta)
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
