"""The options the commands share: severities, formats, files, databases, rules, the LAN and the baseline."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Severity(StrEnum):
    none = "none"
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"


class WatchFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"


class CaptureMethod(StrEnum):
    auto = "auto"
    ring = "ring"
    pcap = "pcap"
    socket = "socket"


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    html = "html"
    ecs = "ecs"
    cef = "cef"


def _home_country(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code; "UK" (and alpha-3 codes) are mapped with a note on stderr."""
    if value is None:
        return None
    from hikscan.cli.country import iso_country

    code, note = iso_country(value)
    if note:
        print(f"hikscan: note: {note}", file=sys.stderr)
    return code


HomeCountry = Annotated[
    str | None,
    typer.Option(
        callback=_home_country, metavar="CC", help="ISO 3166 country code of home (default from rules: GB)."
    ),
]
OutputFile = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]
Formats = Annotated[
    list[OutputFormat] | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format; repeat with one -o each to write several (-f json -o r.json -f html -o r.html).",
        show_default="table",
    ),
]
Outputs = Annotated[
    list[Path] | None,
    typer.Option("--output", "-o", help="Write to this file instead of stdout (one per --format)."),
]
Syslog = Annotated[bool, typer.Option("--syslog", help="Frame CEF lines as RFC 5424 syslog messages.")]
FailOn = Annotated[Severity, typer.Option(help="Exit 1 if a finding is at or above this severity.")]
GeoipDb = Annotated[
    Path | None,
    typer.Option(
        help="Your own GeoLite2/GeoIP2 Country or City mmdb (replaces DB-IP; the RIR database stays)."
    ),
]
AsnDb = Annotated[Path | None, typer.Option(help="Your own GeoLite2 ASN mmdb.")]
RulesDir = Annotated[
    Path | None, typer.Option("--rules", help="Extra rules directory (added to the bundled rules).")
]
Inventory = Annotated[Path | None, typer.Option(help="A `hikscan scan -o scan.json` inventory.")]
LocalNet = Annotated[
    list[str] | None,
    typer.Option("--local-net", help="A CIDR that is this LAN even if public (repeatable)."),
]
BaselineOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--baseline",
        help="Earlier report(s) (JSON/JSONL, or a directory of them): what was normal. Without it the "
        "capture's first minutes are the baseline (policy baseline.learn_seconds).",
    ),
]
ShowProgress = Annotated[bool | None, typer.Option(help="Progress on stderr (default: when a TTY).")]
