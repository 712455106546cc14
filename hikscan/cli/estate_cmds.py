"""The estate commands: `audit`, `identify`, `merge` and `export` (registered on the root app in app.py)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hikscan.cli.options import (
    AsnDb,
    FailOn,
    GeoipDb,
    Inventory,
    OutputFile,
    OutputFormat,
    RulesDir,
    Severity,
)


class AuditFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


def audit(
    targets: Annotated[
        list[str] | None, typer.Argument(help="IP addresses or CIDRs (scanned first unless --inventory).")
    ] = None,
    credentials: Annotated[
        Path | None,
        typer.Option(
            help="TOML credentials file, mode 600 (default: $HIKSCAN_CREDENTIALS). Never a password."
        ),
    ] = None,
    inventory: Inventory = None,
    interface: Annotated[
        str | None,
        typer.Option("--interface", "-i", help="Scan phase: multicast discovery and ARP on this interface."),
    ] = None,
    scan_rate: Annotated[
        float, typer.Option(min=1, max=10000, help="Scan phase: packets per second (as `scan --rate`).")
    ] = 50.0,
    output_format: Annotated[
        AuditFormat, typer.Option("--format", "-f", help="Output format.")
    ] = AuditFormat.table,
    output: OutputFile = None,
    rate: Annotated[
        float, typer.Option(min=0.5, max=1000, help="HTTP requests per second, all hosts.")
    ] = 10.0,
    timeout: Annotated[float, typer.Option(min=0.1, max=60, help="Seconds to wait for each reply.")] = 5.0,
    max_time: Annotated[float | None, typer.Option(min=1, help="Overall deadline in seconds.")] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port of the devices.")] = 80,
    fail_on: FailOn = Severity.none,
    rules_dir: RulesDir = None,
) -> None:
    """Read-only authenticated audit: cloud, NTP, DDNS, UPnP, accounts, firmware, with verdicts."""
    from hikscan.cli.audit import AuditRequest, run_audit_command

    request = AuditRequest(
        targets=list(targets or []),
        credentials=credentials,
        inventory=inventory,
        output_format=output_format.value,
        output=output,
        rate=rate,
        timeout=timeout,
        max_time=max_time,
        rules_dir=rules_dir,
        fail_on=fail_on.value,
        port=port,
        interface=interface,
        scan_rate=scan_rate,
    )
    raise typer.Exit(run_audit_command(request))


class IdentifyFormat(StrEnum):
    jsonl = "jsonl"
    table = "table"


def identify(
    evidence_file: Annotated[
        str, typer.Argument(help="TSV `key<TAB>value` lines or JSONL {host,key,value}; `-` for stdin.")
    ],
    output_format: Annotated[
        IdentifyFormat, typer.Option("--format", "-f", help="Output format.")
    ] = IdentifyFormat.jsonl,
    rules_dir: RulesDir = None,
) -> None:
    """Identify vendors from evidence others collected (Shodan, Censys, masscan, zgrab2 banners)."""
    from hikscan.cli.identify import run_identify

    raise typer.Exit(run_identify(evidence_file, output_format.value, rules_dir))


def merge(
    inventories: Annotated[
        list[Path], typer.Argument(help="`hikscan scan -f json` inventories (one per VLAN or site).")
    ],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
    output: OutputFile = None,
) -> None:
    """Merge the scan inventories of several VLANs or sites into one estate (dedupe by MAC)."""
    from hikscan.cli.merge import MergeRequest, run_merge

    request = MergeRequest(inventories=inventories, output_format=output_format.value, output=output)
    raise typer.Exit(run_merge(request))


class ExportTarget(StrEnum):
    suricata = "suricata"
    zeek_intel = "zeek-intel"


def export(
    target: Annotated[ExportTarget, typer.Argument(help="suricata (rules) or zeek-intel (Intel file).")],
    rules_dir: RulesDir = None,
    output: OutputFile = None,
    high_risk_networks: Annotated[
        bool,
        typer.Option(
            help="Also flag every prefix announced by the ASNs of networks owned from a high-risk country"
            " (rules/networks.yaml; prefixes from the ASN database)."
        ),
    ] = False,
    high_risk_countries: Annotated[
        bool,
        typer.Option(
            help="Also flag every prefix the country database places in a high-risk country (large)."
        ),
    ] = False,
    asn_db: AsnDb = None,
    geoip_db: GeoipDb = None,
) -> None:
    """Compile the rules into Suricata rules or a Zeek Intel file for sensors at line rate."""
    from hikscan.cli.export import ExportRequest, run_export

    request = ExportRequest(
        target=target.value,
        rules_dir=rules_dir,
        output=output,
        high_risk_owned=high_risk_networks,
        high_risk_located=high_risk_countries,
        asn_db=asn_db,
        geoip_db=geoip_db,
    )
    raise typer.Exit(run_export(request))
