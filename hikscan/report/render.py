"""Renderers for analysis reports and scan inventories: a rich table, JSON (atomic) and JSONL (streamed)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from hikscan.report.model import iso_time

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def dumps(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=False, default=str)


@contextlib.contextmanager
def open_output(path: Path | None, atomic: bool) -> Iterator[IO[str]]:
    """stdout, or a file; a non-streamed file is written to a temporary name and renamed when complete."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    if not atomic or not path.parent.exists() or str(path).startswith("/dev/"):
        with open(path, "w", encoding="utf-8") as handle:
            yield handle
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class JsonlWriter:
    """One JSON object per line, flushed per record so nothing found is lost if the run is cut short."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, kind: str, record: dict[str, Any]) -> None:
        self.out.write(dumps({"type": kind, **record}) + "\n")
        self.out.flush()


def _when(ts: float) -> str:
    return iso_time(ts).replace("T", " ")[:19]


def findings_table(findings: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in (
        "sev",
        "rule",
        "device",
        "server",
        "name",
        "where",
        "first seen",
        "last seen",
        "pkts",
        "bytes",
    ):
        table.add_column(column, overflow="fold")
    for f in findings:
        device, remote = f["device"], f["remote"]
        if device.get("members"):
            who = f"{device['count']} × {device['vendor']}"
        else:
            who = " ".join(str(x) for x in (device.get("ip"), device.get("vendor"), device.get("model")) if x)
        org = remote.get("org") or ""
        where = " ".join(
            x
            for x in (
                remote.get("country") or "??",
                f"AS{remote['asn']}" if remote.get("asn") else "",
                org[:28],
            )
            if x
        )
        table.add_row(
            f"[{SEVERITY_STYLE.get(f['severity'], '')}]{f['severity']}[/]",
            f["rule"],
            who,
            f"{remote['ip']}:{remote['port']}/{remote['proto']}",
            remote.get("name") or remote.get("cloud") or "",
            where,
            f["first_seen"].replace("T", " ")[:19],
            f["last_seen"].replace("T", " ")[:19],
            str(f["packets"]),
            str(f["bytes"]),
        )
    return table


def devices_table(devices: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in (
        "ip",
        "mac",
        "vendor",
        "model",
        "serial",
        "firmware",
        "activated",
        "cloud",
        "cves",
        "conf.",
    ):
        table.add_column(column, overflow="fold")
    for d in devices:
        table.add_row(
            d.get("ip") or "",
            d.get("mac") or "",
            d.get("vendor") or "-",
            d.get("model") or "",
            d.get("serial") or "",
            d.get("firmware") or "",
            _flag(d.get("activated")),
            _flag(d.get("cloud_enabled")),
            ", ".join(d.get("cves") or []),
            f"{d.get('confidence', 0):.2f}",
        )
    return table


def _flag(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def console_for(out: IO[str]) -> Console:
    return Console(file=out, width=None if out.isatty() else 200, soft_wrap=False)
