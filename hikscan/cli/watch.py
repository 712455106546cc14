"""`hikscan watch`: live traffic on one interface through the same engine, each finding written at once."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from hikscan.cli.analyze import AnalyzeRequest, AnalyzeRun, Totals, exit_code, other_inputs
from hikscan.cli.output import check_output, report_output
from hikscan.interrupt import graceful_stop
from hikscan.report.meta import now_iso
from hikscan.report.model import Finding
from hikscan.report.safe import markup
from hikscan.report.writers import WRITERS
from hikscan.report.writers.labels import device_label, server_label, where_label
from hikscan.report.writers.table import SEVERITY_STYLE, console_for


@dataclass
class LiveOptions:
    """What `watch` listens to and how."""

    interface: str
    interval: float = 10.0
    duration: float | None = None
    bpf: str | None = None
    capture: str = "auto"  # auto | ring | socket (hikscan.capture.ring)
    buffer_mb: int = 64


def run_watch(request: AnalyzeRequest, live: LiveOptions) -> int:
    """Live traffic on one interface: each finding written (and flushed) the moment it first appears."""
    from hikscan.capture.ring import open_source
    from hikscan.passive.live import Watcher

    for _fmt, path in request.outputs:
        check_output(path, other_inputs(request))
    run = AnalyzeRun(request)
    engine = run.new_engine()
    source = open_source(live.interface, live.capture, live.bpf, live.buffer_mb)
    totals = Totals(run.rules)
    capture = f"live:{live.interface}"
    meta = run.meta("watch", [capture])
    fmt, output = request.outputs[0]
    fmt = fmt if fmt in ("jsonl", "csv") else "table"
    with graceful_stop(run.stop), report_output(output, atomic=False) as out:
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

        def on_status(line: str) -> None:
            print(f"hikscan: {line}", file=sys.stderr, flush=True)

        watcher = Watcher(engine, on_finding, on_status)
        try:
            stats = watcher.run(source, run.stop, live.interval, live.duration)
        finally:
            source.close()
        capture_stats = watcher.capture_record()
        stats_record = {
            "captures": [capture],
            **stats.to_dict(),
            **capture_stats,
            "bpf": live.bpf,
            "buffer_bytes": source.buffer_bytes,
            **engine.extra_stats(),
        }
        for device in engine.cctv_devices():
            totals.device(device.to_dict())
        summary = totals.summary([stats_record])
        drops = capture_stats.get("kernel_drops")
        if drops is not None:
            summary["kernel_drops"] = drops
            summary["headline"] += f"; {drops} kernel drops"
            if drops:
                summary.setdefault("notes", []).append(
                    f"the kernel dropped {drops} packets (capture fell behind): findings may be incomplete"
                )
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
