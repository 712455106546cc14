"""CSV: one row per finding and per device (column `record` says which), flushed as written.

Every cell goes through safe.csv_cell: no control bytes, no formula a spreadsheet would run.

Report metadata stays valid CSV (a "# comment" line is not CSV, and spreadsheets show it as data): the
first row after the header is `record=meta`, in existing columns: `name`=hikscan <version>,
`rule`=rule-set sha256, `category`=command, `evidence`=databases, inputs and settings,
`first_seen`=started; the last row is `record=summary` (`name`=the estate answer, `evidence`=the
headline, `last_seen`=finished). Filter on `record` to get only findings or devices.
"""

from __future__ import annotations

import csv
from typing import IO, Any

from hikscan.report.safe import csv_cell

COLUMNS = (
    "record", "severity", "rule", "ip", "mac", "name", "category", "vendor", "family", "model", "serial",
    "firmware", "activated", "cloud_enabled", "cves", "confidence", "remote_ip", "remote_ports",
    "remote_name", "remote_country", "remote_asn", "remote_org", "remote_owner", "remote_cloud",
    "first_seen", "last_seen", "packets", "bytes", "evidence", "capture",
)  # fmt: skip


def _joined(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ";".join(str(v.get("value", v)) if isinstance(v, dict) else str(v) for v in value)
    return value


class CsvWriter:
    name = "csv"
    streamed = True

    def __init__(self, out: IO[str], command: str = "analyze") -> None:
        self.out = out
        self.rows = csv.writer(out)
        self.rows.writerow(COLUMNS)

    def _row(self, values: dict[str, Any]) -> None:
        self.rows.writerow(
            [csv_cell("" if values.get(c) is None else _joined(values.get(c))) for c in COLUMNS]
        )
        self.out.flush()

    def begin(self, meta: dict[str, Any]) -> None:
        rules = meta.get("rules") or {}
        settings = [f"{k}={v}" for k, v in (meta.get("settings") or {}).items()]
        evidence = [f"database: {d}" for d in meta.get("databases") or []]
        evidence += [f"input: {i}" for i in (meta.get("inputs") or [])[:100]] + settings
        self._row({
            "record": "meta", "name": f"hikscan {meta.get('version', '?')}", "rule": rules.get("sha256"),
            "category": meta.get("command"), "evidence": evidence, "first_seen": meta.get("started"),
        })  # fmt: skip

    def section(self, name: str, stats: dict[str, Any]) -> None:
        return None

    def finding(self, record: dict[str, Any]) -> None:
        device, remote = record["device"], record["remote"]
        values = {k: device.get(k) for k in ("ip", "mac", "name", "category", "vendor", "model")}
        if device.get("members"):
            values["ip"] = ";".join(device["members"])
        values.update({f"remote_{k}": remote.get(k) for k in ("ip", "ports", "name", "country", "asn", "org",
                                                              "owner", "cloud")})  # fmt: skip
        values.update({k: record.get(k) for k in ("severity", "rule", "first_seen", "last_seen", "packets",
                                                   "bytes", "evidence", "capture")})  # fmt: skip
        self._row({"record": "finding", **values})

    def device(self, record: dict[str, Any]) -> None:
        self._row({"record": "device", **record})

    def end_section(self) -> None:
        return None

    def end(self, summary: dict[str, Any], stats: list[dict[str, Any]], meta: dict[str, Any]) -> None:
        estate = summary.get("estate") or {}
        self._row({
            "record": "summary", "name": estate.get("headline"), "evidence": summary.get("headline"),
            "packets": summary.get("packets"), "last_seen": meta.get("finished"),
        })  # fmt: skip
