"""The terminal report: a table when there is room (≥ 120 columns), else one record per finding.

Width: the terminal's, else $COLUMNS, else 100. Every value from the wire goes through safe.cell /
safe.markup, so a name containing "[/]" or an ESC byte is shown as text and never acted on.
"""

from __future__ import annotations

import os
import shutil
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from hikscan.report.safe import cell, markup
from hikscan.report.writers.base import KeptRows
from hikscan.report.writers.labels import device_label, server_label, size_label, when_label, where_label

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
WIDE = 120
TIMELINE_ROWS = 12  # per device in the timeline table (JSON carries the whole timeline)


def terminal_width(out: IO[str]) -> int:
    if out.isatty():
        return shutil.get_terminal_size((100, 24)).columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and 20 <= int(columns) <= 1000 else 100


def console_for(out: IO[str]) -> Console:
    return Console(file=out, width=terminal_width(out), soft_wrap=False, highlight=False, emoji=False)


def _flag(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def behaviour_label(f: dict[str, Any]) -> str:
    """ "new · onset 10:00:00 · 960/h" from a finding's behaviour fields (empty when it has none)."""
    parts = []
    if f.get("new_destination") is not None:
        parts.append("new" if f["new_destination"] else "known")
    if f.get("onset"):
        parts.append(f"onset {str(f['onset'])[11:19]}")
    if f.get("rate_per_hour") is not None:
        parts.append(f"{f['rate_per_hour']:g}/h")
    return " · ".join(parts)


class TableWriter(KeptRows):
    name = "table"
    streamed = True

    def __init__(self, out: IO[str], command: str = "analyze") -> None:
        self.console = console_for(out)
        self.command = command
        self.keep_rows()

    def begin(self, meta: dict[str, Any]) -> None:
        return None

    def section(self, name: str, stats: dict[str, Any]) -> None:
        parts = [f"\n[bold]{markup(name)}[/]: {stats.get('packets', 0)} packets"]
        if stats.get("truncated_files"):
            parts.append("[yellow]truncated[/]")
        if stats.get("malformed"):
            parts.append(f"{stats['malformed']} malformed")
        self.console.print(", ".join(parts))
        for warning in (stats.get("warnings") or [])[:5]:
            self.console.print(f"  [yellow]warning:[/] {markup(warning)}")

    def end_section(self) -> None:
        console = self.console
        if self.command != "scan":
            if not self.findings:
                console.print("  no findings")
            elif console.width >= WIDE:
                console.print(self._findings_table())
            else:
                for record in self.findings:
                    self._finding_record(record)
        if self.devices:
            title = "Devices" if self.command == "scan" else "CCTV devices seen"
            if console.width >= WIDE:
                console.print(self._devices_table(title))
            else:
                console.print(f"[bold]{title}[/]")
                for d in self.devices:
                    self._device_record(d)
            if any(d.get("timeline") for d in self.devices):
                self._timeline()
        if self.more:
            console.print(f"  … and {self.more} more records (use --format json, jsonl or csv for all)")
        self.keep_rows()
        console.file.flush()

    def _findings_table(self) -> Table:
        table = Table(title="Findings", title_justify="left")
        for column in ("sev", "rule", "device", "server", "where", "seen", "traffic", "behaviour"):
            table.add_column(column, overflow="fold")
        for f in self.findings:
            table.add_row(
                f"[{SEVERITY_STYLE.get(f['severity'], '')}]{f['severity']}[/]",
                cell(f["rule"]),
                cell(device_label(f["device"])),
                cell(server_label(f["remote"])),
                cell(where_label(f["remote"])),
                cell(when_label(f["first_seen"], f["last_seen"])),
                cell(f"{f['packets']} pkts {size_label(f['bytes'])}"),
                cell(behaviour_label(f)),
            )
        return table

    def _finding_record(self, f: dict[str, Any]) -> None:
        style = SEVERITY_STYLE.get(f["severity"], "")
        out = self.console.print
        out(f"[{style}]{f['severity'].upper()}[/] {markup(f['rule'])}")
        out(f"  device  {markup(device_label(f['device']))}")
        out(f"  server  {markup(server_label(f['remote']))}")
        out(f"  where   {markup(where_label(f['remote']))}")
        out(f"  seen    {markup(when_label(f['first_seen'], f['last_seen']))}, {f['packets']} packets, "
            f"{size_label(f['bytes'])}")  # fmt: skip
        if behaviour_label(f):
            out(f"  trend   {markup(behaviour_label(f))}")
        for line in f.get("evidence", [])[:4]:
            out(f"  why     {markup(line)}")

    def _devices_table(self, title: str) -> Table:
        table = Table(title=title, title_justify="left")
        columns = ("ip", "mac", "name", "vendor", "category", "model", "serial", "firmware", "activated",
                   "cloud", "cves", "conf.")  # fmt: skip
        for column in columns:
            table.add_column(column, overflow="fold")
        for d in self.devices:
            table.add_row(
                *(cell(d.get(k) or "") for k in ("ip", "mac", "name")),
                cell(d.get("vendor") or "-"),
                *(cell(d.get(k) or "") for k in ("category", "model", "serial", "firmware")),
                _flag(d.get("activated")),
                _flag(d.get("cloud_enabled")),
                cell(", ".join(d.get("cves") or [])),
                f"{d.get('confidence', 0):.2f}",
            )
        return table

    def _timeline(self) -> None:
        """First and last contact of each CCTV device with each external destination."""
        console = self.console
        console.print("[bold]Timeline[/] (first → last contact with each external destination)")
        for d in self.devices:
            entries = d.get("timeline") or []
            if not entries:
                continue
            console.print(f"  {markup(device_label(d))}")
            for e in entries[:TIMELINE_ROWS]:
                new = {True: " [yellow]new[/]", False: "", None: ""}[e.get("new")]
                failed = f", {e['failed']} unanswered" if e.get("failed") else ""
                server = server_label({"ip": e["remote"], "ports": e.get("ports"), "name": e.get("name")})
                console.print(
                    f"    {markup(when_label(e['first_seen'], e['last_seen']))}  {markup(server)}"
                    f"  {e.get('flows', 0)} flows{markup(failed)}{new}"
                )
            if len(entries) > TIMELINE_ROWS:
                console.print(f"    … {len(entries) - TIMELINE_ROWS} more (JSON has all)")

    def _device_record(self, d: dict[str, Any]) -> None:
        out = self.console.print
        out(f"  {markup(device_label(d))} {markup(d.get('mac') or '')}")
        detail = ", ".join(f"{k} {markup(d[k])}" for k in ("serial", "firmware") if d.get(k)) + (
            "" if d.get("activated") is None else f", activated {_flag(d.get('activated'))}"
        )
        if detail.strip(", "):
            out(f"    {detail.strip(', ')}")
        if d.get("cves"):
            out(f"    CVEs {markup(', '.join(d['cves']))}")

    def end(self, summary: dict[str, Any], stats: list[dict[str, Any]], meta: dict[str, Any]) -> None:
        if self.findings or self.devices:
            self.end_section()
        headline = summary.get("headline")
        if headline:
            self.console.print(f"\n[bold]{markup(headline)}[/]")
        for note in summary.get("notes", []):
            self.console.print(f"[dim]{markup(note)}[/]")
        self.console.file.flush()
