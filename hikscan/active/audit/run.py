"""`audit`: choose a reader per identified device, run them read-only under one rate limiter and
deadline, judge the settings, and merge the results into the device records.

Which devices: those of an inventory (`--inventory scan.json`), or those the unicast scan probes
identify among the targets. Which reader: Hikvision family -> ISAPI, Dahua family -> Dahua CGI,
any other device that answered ONVIF -> ONVIF. A device with no matching credential entry, or
none of those, is listed with its reason and never contacted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hikscan.active.audit import dahua, isapi, onvif
from hikscan.active.audit.client import MAX_BODY, AuditClient, HostStop, RequestLog
from hikscan.active.audit.credentials import CredentialStore
from hikscan.active.audit.model import AuditResult
from hikscan.active.audit.verdicts import Context, evaluate_all
from hikscan.active.net import Deadline, RateLimiter
from hikscan.knowledge import cves
from hikscan.knowledge.audit_policy import AuditPolicy
from hikscan.knowledge.rules import RuleSet
from hikscan.report.model import Device

DEFAULT_RATE = 10.0  # requests per second, all hosts together
DEFAULT_TIMEOUT = 5.0
PER_HOST_BUDGET = 60.0  # seconds one device may take, whatever it does
MAX_WORKERS = 8
HTTP_PORT = 80

OnResult = Callable[[Device], None]


@dataclass
class AuditOptions:
    rate: float = DEFAULT_RATE
    timeout: float = DEFAULT_TIMEOUT
    max_time: float | None = None
    per_host: float = PER_HOST_BUDGET
    max_bytes: int = MAX_BODY
    port: int = HTTP_PORT
    stop: threading.Event | None = None
    log: RequestLog | None = None  # sees (method, path, action) of every request, for tests
    stats: dict[str, Any] = field(default_factory=dict)


def protocol_for(device: Device, rules: RuleSet) -> str | None:
    """isapi | dahua | onvif | None, from what the scan established about the device."""
    family = device.family
    if family is None and device.vendor:
        try:
            family = rules.vendor(device.vendor).family
        except KeyError:
            family = None
    if family == "hikvision":
        return "isapi"
    if family == "dahua":
        return "dahua"
    if any(e.key.startswith("onvif.") for e in device.evidence):
        return "onvif"
    return None


def audit_one(
    device: Device,
    store: CredentialStore,
    rules: RuleSet,
    policy: AuditPolicy,
    limiter: RateLimiter,
    deadline: Deadline,
    opts: AuditOptions,
) -> AuditResult:
    """Audit one device; never raises for anything the device does."""
    ip = device.ip or ""
    result = AuditResult(ip)
    protocol = protocol_for(device, rules)
    if protocol is None:
        result.status, result.reason = "unsupported", "not identified as a Hikvision, Dahua or ONVIF device"
        return result
    result.protocol = protocol
    credential = store.for_host(ip)
    if credential is None:
        result.status, result.reason = "no_credentials", "no entry for this host in the credentials file"
        return result
    client = AuditClient(
        ip,
        opts.port,
        credential,
        limiter,
        deadline.within(opts.per_host),
        opts.timeout,
        opts.max_bytes,
        opts.log,
    )
    try:
        if protocol == "isapi":
            isapi.read(client, result)
        elif protocol == "dahua":
            dahua.read(client, result)
        else:
            onvif.read(client, result, credential)
        if result.errors:
            result.status = "partial" if result.read else "failed"
            result.reason = f"{len(result.errors)} of {len(result.errors) + len(result.read)} reads failed"
    except HostStop as stop:
        result.status, result.reason, result.retry_after = stop.kind, stop.reason, stop.retry_after
    finally:
        client.close()
        result.requests, result.bytes = client.requests, client.bytes
    ctx = Context(policy, rules, device.vendor)
    result.verdicts = [v.to_dict() for v in evaluate_all(result.settings, ctx)]
    return result


def merge(device: Device, result: AuditResult, rules: RuleSet) -> None:
    """The audit into the inventory record: `audit` dict, and the facts the device itself reported."""
    device.audit = result.to_dict()
    dev = result.settings.get("device", {})
    for attr in ("model", "serial", "firmware"):
        if dev.get(attr) and not getattr(device, attr):
            setattr(device, attr, dev[attr])
    if dev.get("firmware") and dev["firmware"] != device.firmware and result.protocol != "onvif":
        device.firmware = dev["firmware"]  # ISAPI / magicBox are the device's own word
    cloud = result.settings.get("cloud", {})
    if cloud.get("enabled") is not None:
        device.cloud_enabled = cloud["enabled"]
    if device.vendor and device.firmware:
        device.cves = sorted(
            set(device.cves) | set(cves.cves_for(device.vendor, device.model, device.firmware, rules))
        )


def run_audit(
    devices: list[Device],
    store: CredentialStore,
    rules: RuleSet,
    policy: AuditPolicy,
    opts: AuditOptions,
    on_result: OnResult | None = None,
) -> list[Device]:
    """Audit every device (in parallel, bounded), merge, and return them in the given order."""
    started = time.monotonic()
    limiter = RateLimiter(opts.rate, burst=max(1, int(opts.rate // 5)))
    budget = (
        opts.max_time
        if opts.max_time is not None
        else 30.0 + opts.per_host * max(1, len(devices)) / MAX_WORKERS
    )
    deadline = Deadline(budget, opts.stop)
    lock = threading.Lock()

    def one(device: Device) -> None:
        result = audit_one(device, store, rules, policy, limiter, deadline, opts)
        with lock:  # one writer at a time for the streamed output
            merge(device, result, rules)
            if on_result is not None:
                on_result(device)

    if devices:
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(devices))) as pool:
            for f in [pool.submit(one, d) for d in devices]:
                f.result()
    opts.stats.update(
        {
            "audited": sum(1 for d in devices if d.audit and d.audit["status"] in ("ok", "partial")),
            "requests": limiter.sent,
            "elapsed_s": round(time.monotonic() - started, 3),
            "deadline_hit": deadline.expired or deadline.hit,
            "rate": opts.rate,
            "timeout": opts.timeout,
        }
    )
    return devices


def device_from_record(record: dict[str, Any]) -> Device:
    """A Device from one record of a `hikscan scan -f json` inventory (unknown keys ignored)."""
    from hikscan.report.model import Evidence

    def text(key: str) -> str | None:
        value = record.get(key)
        return str(value)[:256] if isinstance(value, str | int | float) and value != "" else None

    evidence = [
        Evidence(str(e.get("source", "inventory"))[:64], str(e["key"])[:128], str(e["value"])[:256])
        for e in (record.get("evidence") or [])[:256]
        if isinstance(e, dict) and "key" in e and "value" in e
    ]
    cloud, activated = record.get("cloud_enabled"), record.get("activated")
    return Device(
        ip=text("ip"),
        mac=text("mac"),
        name=text("name"),
        category=text("category"),
        vendor=text("vendor"),
        family=text("family"),
        model=text("model"),
        serial=text("serial"),
        firmware=text("firmware"),
        activated=activated if isinstance(activated, bool) else None,
        cloud_enabled=cloud if isinstance(cloud, bool) else None,
        cves=[str(c) for c in record.get("cves") or [] if isinstance(c, str)][:64],
        confidence=float(record.get("confidence") or 0.0)
        if isinstance(record.get("confidence"), int | float)
        else 0.0,
        evidence=evidence,
    )


def summarise(devices: list[Device], rules: RuleSet) -> dict[str, Any]:
    """Estate view: per vendor family, how many have the vendor cloud on and registered; verdict counts."""
    families: dict[str, dict[str, Any]] = {}
    statuses: dict[str, int] = {}
    failures: dict[str, int] = {}
    for d in devices:
        fam = _family(d, rules)
        audit = d.audit or {}
        status = audit.get("status", "not audited")
        statuses[status] = statuses.get(status, 0) + 1
        if fam is None:
            continue
        row = families.setdefault(
            fam, {"devices": 0, "audited": 0, "cloud_enabled": 0, "cloud_registered": 0, "upnp_mapped": 0}
        )
        row["devices"] += 1
        if status in ("ok", "partial"):
            row["audited"] += 1
        cloud = audit.get("settings", {}).get("cloud", {})
        row["cloud_enabled"] += bool(cloud.get("enabled"))
        row["cloud_registered"] += bool(cloud.get("registered"))
        row["upnp_mapped"] += bool(audit.get("settings", {}).get("upnp", {}).get("mappings"))
        for v in audit.get("verdicts", []):
            if v["status"] == "fail":
                failures[v["rule"]] = failures.get(v["rule"], 0) + 1
    headlines = []
    for fam, row in sorted(families.items()):
        name = rules.family_root(fam).name if any(v.family == fam for v in rules.vendors.values()) else fam
        cloud = {"hikvision": "Hik-Connect", "dahua": "P2P cloud"}.get(fam, "vendor cloud")
        line = f"{row['cloud_enabled']} of {row['devices']} {name} devices have {cloud} enabled"
        if fam == "hikvision":
            line += f"; {row['cloud_registered']} registered"
        line += f" ({row['audited']} audited)"
        headlines.append(line)
    return {
        "families": families,
        "statuses": dict(sorted(statuses.items())),
        "failures": dict(sorted(failures.items())),
        "headlines": headlines,
    }


def _family(d: Device, rules: RuleSet) -> str | None:
    if d.family:
        return d.family
    if d.vendor:
        try:
            return rules.vendor(d.vendor).family
        except KeyError:
            return None
    return None
