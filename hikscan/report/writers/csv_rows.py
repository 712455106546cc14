"""CSV: one row per finding and per device (column `record` says which), flushed as written.

Every cell goes through safe.csv_cell: no control bytes, no formula a spreadsheet would run.
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
        return None

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
        return None
