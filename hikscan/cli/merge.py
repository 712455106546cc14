"""`hikscan merge a.json b.json…`: scan inventories of several VLANs or sites as one estate inventory.

Each device keeps the file it came from as `site`. Devices are the same device when they report the
same MAC (in any file); without a MAC, when they have the same IP in the same file (one private
address in two sites is two devices). Merged devices keep the first file's values, the union of the
evidence and CVEs, every file in `sites`, and each disagreement (IP, vendor, model, firmware, …) in
`conflicts`. The summary is recomputed over the estate, with counts per site.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hikscan.active.fusion import summarise
from hikscan.cli.output import check_output, report_output
from hikscan.errors import UsageError
from hikscan.protocols.sadp import normalise_mac
from hikscan.report.meta import now_iso, report_meta
from hikscan.report.model import Device, Evidence
from hikscan.report.writers import WRITERS

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_DEVICES = 1_000_000  # over all files
COMPARED = ("ip", "vendor", "model", "serial", "firmware", "activated", "cloud_enabled")
_DEVICE_FIELDS = {f.name for f in fields(Device)}


@dataclass
class MergeRequest:
    inventories: list[Path]
    output_format: str = "table"
    output: Path | None = None


def read_devices(path: Path) -> list[dict[str, Any]]:
    """The device records of a `hikscan scan -f json` (or `-f jsonl`) file, or a one-line UsageError."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UsageError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    try:
        doc = json.loads(text)
        records = doc["devices"] if isinstance(doc, dict) else None
    except ValueError:  # JSON lines: one record per line, devices have "type": "device"
        try:
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            raise UsageError(f"{path}: neither a JSON nor a JSON-lines scan report") from None
        records = [r for r in lines if isinstance(r, dict) and r.get("type") == "device"]
    except KeyError:
        records = None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UsageError(f"{path}: not a hikscan scan inventory (no device list)")
    return records


def to_device(record: dict[str, Any]) -> Device:
    """A report record back into the model (unknown keys dropped, evidence as Evidence)."""
    values = {k: v for k, v in record.items() if k in _DEVICE_FIELDS and k != "evidence"}
    evidence = [
        Evidence(str(e.get("source", "?")), str(e["key"]), str(e["value"]))
        for e in record.get("evidence") or ()
        if isinstance(e, dict) and "key" in e and "value" in e
    ]
    try:
        return Device(**values, evidence=evidence)
    except TypeError as exc:
        raise UsageError(f"bad device record ({exc})") from None


class Estate:
    """Devices from several inventories, deduplicated as they are added."""

    def __init__(self) -> None:
        self.devices: list[tuple[Device, list[str]]] = []  # (device, sites)
        self._by_key: dict[tuple[str, ...], int] = {}

    def add(self, record: dict[str, Any], site: str) -> None:
        device = to_device(record)
        mac = normalise_mac(device.mac) if device.mac else None
        if mac:
            device.mac = mac
        key = ("mac", mac) if mac else ("ip", str(device.ip), site)
        index = self._by_key.get(key)
        if index is None:
            if len(self.devices) >= MAX_DEVICES:
                raise UsageError(f"more than {MAX_DEVICES} devices")
            self._by_key[key] = len(self.devices)
            self.devices.append((device, [site]))
            return
        kept, sites = self.devices[index]
        for name in COMPARED:
            mine, theirs = getattr(kept, name), getattr(device, name)
            if mine is None:
                setattr(kept, name, theirs)
            elif theirs is not None and theirs != mine:
                kept.conflicts.append(f"{name}: {mine} ({sites[0]}) vs {theirs} ({site})")
        kept.evidence += [e for e in device.evidence if e not in kept.evidence]
        kept.cves = sorted(set(kept.cves) | set(device.cves))
        kept.hostile += [h for h in device.hostile if h not in kept.hostile]
        kept.confidence = max(kept.confidence, device.confidence)
        if site not in sites:
            sites.append(site)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for device, sites in self.devices:
            record = {**device.to_dict(), "site": sites[0]}
            if len(sites) > 1:
                record["sites"] = sites
            out.append(record)
        return out


def run_merge(request: MergeRequest) -> int:
    from hikscan.knowledge.rules import load_rules

    if len(request.inventories) < 1:
        raise UsageError("give at least one scan inventory")
    check_output(request.output, list(request.inventories))
    estate = Estate()
    for path in request.inventories:
        for record in read_devices(path):
            estate.add(record, str(path))
    devices = [d for d, _ in estate.devices]
    records = estate.records()
    summary = summarise(devices)
    summary["by_site"] = dict(Counter(r["site"] for r in records))
    summary["merged_across_sites"] = sum(1 for r in records if "sites" in r)
    summary["conflicts"] = sum(len(d.conflicts) for d in devices)
    summary["headline"] = (
        f"{summary['headline']} across {len(request.inventories)} inventories"
        f" ({summary['merged_across_sites']} seen in more than one, {summary['conflicts']} conflicts)"
    )
    meta = report_meta("merge", [str(p) for p in request.inventories], load_rules(), [])
    writer_cls = WRITERS[request.output_format]
    with report_output(request.output, atomic=not writer_cls.streamed) as out:
        writer = writer_cls(out, "scan")  # the inventory layout
        writer.begin(meta)
        writer.section(f"estate of {len(request.inventories)} inventories", {})
        for record in records:
            writer.device(record)
        writer.end_section()
        meta["finished"] = now_iso()
        writer.end(summary, [], meta)
    return 0
