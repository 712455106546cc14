"""`hikscan audit`: read-only, authenticated audit of identified devices; estate summary and verdicts."""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hikscan.errors import UsageError
from hikscan.interrupt import graceful_stop
from hikscan.report.meta import now_iso, report_meta
from hikscan.report.model import SEVERITIES, Device
from hikscan.report.output import open_output
from hikscan.report.safe import cell, markup
from hikscan.report.writers import WRITERS
from hikscan.report.writers.table import console_for

SCAN_PROBES = {"http", "onvif", "rtsp", "sdk8000"}  # unicast identification before the audit


@dataclass
class AuditRequest:
    targets: list[str]
    credentials: Path | None = None
    inventory: Path | None = None
    output_format: str = "table"
    output: Path | None = None
    rate: float = 10.0
    timeout: float = 5.0
    max_time: float | None = None
    rules_dir: Path | None = None
    fail_on: str = "none"
    port: int = 80
    interface: str | None = None  # for the scan phase (multicast discovery, ARP), as `hikscan scan -i`
    scan_rate: float = 50.0


def _select(devices: list[Device], targets: list[str]) -> list[Device]:
    """Inventory devices inside the targets (all of them when no targets are given)."""
    if not targets:
        return devices
    nets = []
    for t in targets:
        try:
            nets.append(ipaddress.ip_network(t.strip(), strict=False))
        except ValueError:
            raise UsageError(f"bad target {t!r}: with --inventory, give IP addresses or CIDRs") from None
    out = []
    for d in devices:
        try:
            addr = ipaddress.ip_address(d.ip or "")
        except ValueError:
            continue
        if any(addr.version == n.version and addr in n for n in nets):
            out.append(d)
    return out


def run_audit_command(request: AuditRequest) -> int:
    from hikscan.active.audit.credentials import load_credentials
    from hikscan.active.audit.run import AuditOptions, device_from_record, run_audit, summarise
    from hikscan.knowledge.audit_policy import load_audit_policy
    from hikscan.knowledge.rules import load_rules

    store = load_credentials(request.credentials)  # first: a bad file stops before any traffic
    rules = load_rules(request.rules_dir)
    policy = load_audit_policy(request.rules_dir)
    stop = threading.Event()
    with graceful_stop(stop):
        if request.inventory is not None:
            from hikscan.passive.attribution import read_inventory

            devices = _select(
                [device_from_record(r) for r in read_inventory(request.inventory) if isinstance(r, dict)],
                request.targets,
            )
        else:
            if not request.targets:
                raise UsageError("nothing to audit: give TARGETS, or --inventory scan.json")
            from hikscan.active.scan import run_scan

            scanned = run_scan(
                request.targets,
                interface=request.interface,
                rate=request.scan_rate,
                timeout=min(request.timeout, 2.0),
                probes=SCAN_PROBES | ({"sadp", "wsd", "dhip", "arp"} if request.interface else set()),
                rules=rules,
                stop=stop,
            )
            devices = scanned.devices
        devices = [d for d in devices if d.ip]
        opts = AuditOptions(
            rate=request.rate,
            timeout=request.timeout,
            max_time=request.max_time,
            stop=stop,
            port=request.port,
        )
        fmt = request.output_format
        with open_output(request.output, atomic=fmt == "json") as out:
            writer = WRITERS[fmt](out, "audit") if fmt != "table" else None
            meta = report_meta(
                "audit", [str(request.inventory)] if request.inventory else request.targets, rules, []
            )
            if writer is not None:
                writer.begin(meta)
            run_audit(
                devices,
                store,
                rules,
                policy,
                opts,
                (lambda d: writer.device(d.to_dict())) if writer else None,
            )
            summary = {**summarise(devices, rules), "interrupted": stop.is_set()}
            if writer is not None:
                meta["finished"] = now_iso()
                writer.end(summary, [opts.stats], meta)
            else:
                render_audit(out, devices, summary, opts.stats)
    if stop.is_set():
        return 130
    return _exit_code(devices, request.fail_on)


def _exit_code(devices: list[Device], fail_on: str) -> int:
    if fail_on == "none":
        return 0
    floor = SEVERITIES.index(fail_on)
    for d in devices:
        for v in (d.audit or {}).get("verdicts", []):
            if v["status"] == "fail" and SEVERITIES.index(v["severity"]) >= floor:
                return 1
    return 0


def _flag(value: Any) -> str:
    return "?" if value is None else ("yes" if value else "no")


def render_audit(out: IO[str], devices: list[Device], summary: dict[str, Any], stats: dict[str, Any]) -> None:
    """The audit table (JSON and JSONL go through the writers registry); every device string as data."""
    from rich.table import Table

    table = Table(title="Audit", title_justify="left")
    for col in (
        "ip",
        "vendor",
        "model",
        "firmware",
        "via",
        "status",
        "cloud",
        "registered",
        "NTP",
        "DDNS",
        "UPnP",
        "accounts",
        "fails",
    ):
        table.add_column(col, overflow="fold")
    console = console_for(out)
    for d in devices:
        a = d.audit or {}
        s = a.get("settings", {})
        cloud, upnp = s.get("cloud", {}), s.get("upnp", {})
        fails = [v for v in a.get("verdicts", []) if v["status"] == "fail"]
        upnp_text = _flag(upnp.get("enabled")) + (
            f" ({len(upnp['mappings'])} mapped)" if upnp.get("mappings") else ""
        )
        table.add_row(
            *(
                cell(x)
                for x in (
                    d.ip,
                    d.vendor or "-",
                    d.model or "",
                    d.firmware or "",
                    a.get("protocol") or "-",
                    a.get("status", "-"),
                    _flag(cloud.get("enabled")),
                    _flag(cloud.get("registered")),
                    ", ".join(s.get("ntp", {}).get("servers", [])) or "-",
                    _flag(s.get("ddns", {}).get("enabled")),
                    upnp_text,
                    ", ".join(u["name"] for u in s.get("users", [])) or "-",
                    str(len(fails)),
                )
            )
        )
    console.print(table)
    for d in devices:
        a = d.audit or {}
        if a.get("status") not in ("ok", None):
            console.print(
                f"  [yellow]{markup(str(d.ip))}[/]: {markup(a['status'])}: "
                f"{markup(str(a.get('reason') or ''))}"
            )
        for v in a.get("verdicts", []):
            if v["status"] == "fail":
                console.print(
                    f"  [red]{markup(str(d.ip))}[/] {v['severity']} {v['rule']}: "
                    f"{markup('; '.join(v['evidence']))}"
                )
    console.print()
    for line in summary["headlines"]:
        console.print(f"[bold]{markup(line)}[/]")
    statuses = ", ".join(f"{k} {n}" for k, n in summary["statuses"].items())
    failed = ", ".join(f"{k} {n}" for k, n in summary["failures"].items()) or "none"
    console.print(f"audit status: {statuses}; failed checks: {failed}; requests {stats.get('requests', 0)}")
