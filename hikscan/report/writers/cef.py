"""ArcSight CEF lines: one per finding, one per device, one closing summary; optionally RFC 5424 framed.

    CEF:0|hikscan|hikscan|<version>|<rule id>|<title>|<severity 0-10>|src=… dst=… dpt=… proto=… …

Header fields escape '\\' and '|', extension values escape '\\' and '=' (safe.cef_header / cef_value);
control bytes are shown as \\xNN so one record is always one line. Standard extension keys only
(src, smac, shost, dst, dpt, proto, dhost, start, end, rt, cnt, msg, cat, act, cs1…cs6 with their
labels, cn1…cn3 with their labels, flexString1/2); every line carries the report metadata: the tool
version (header), the rule-set hash (cs5) and the databases (flexString1).

With --syslog each line is an RFC 5424 message: `<PRI>1 TIMESTAMP HOST hikscan PID MSGID - CEF:0|…`,
facility user (1), severity from the finding (high → error … info → informational).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import IO, Any

from hikscan.report.meta import now_iso
from hikscan.report.safe import cef_header, cef_value, syslog_token

SEVERITY = {"info": 1, "low": 3, "medium": 6, "high": 8}
SYSLOG_SEVERITY = {"high": 3, "medium": 4, "low": 5, "info": 6}
FACILITY_USER = 1


def _epoch_ms(iso: str | None) -> str | None:
    if not iso:
        return None
    return str(int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000))


class CefWriter:
    name = "cef"
    streamed = True
    syslog_framing = True  # accepts syslog=True (the --syslog option)

    def __init__(self, out: IO[str], command: str = "analyze", syslog: bool = False) -> None:
        self.out = out
        self.command = command
        self.syslog = syslog
        self.meta: dict[str, Any] = {}
        self.host = syslog_token(socket.gethostname(), 255)

    def _line(self, signature: str, name: str, severity: str, ext: dict[str, Any], msgid: str) -> None:
        rules = self.meta.get("rules") or {}
        ext = {
            **ext,
            "rt": _epoch_ms(now_iso()),
            "cat": f"hikscan/{msgid}",
            "cs5Label": "rulesetSha256",
            "cs5": rules.get("sha256"),
            "flexString1Label": "databases",
            "flexString1": "; ".join(self.meta.get("databases") or []),
        }
        header = "|".join(
            cef_header(x)
            for x in ("hikscan", "hikscan", self.meta.get("version", "?"), signature, name,
                      SEVERITY.get(severity, 0))
        )  # fmt: skip
        present = {k: v for k, v in ext.items() if v not in (None, "")}
        # a csN/cnN label without its value says nothing: drop it
        present = {k: v for k, v in present.items() if not k.endswith("Label") or k[:-5] in present}
        extension = " ".join(f"{k}={cef_value(v)}" for k, v in present.items())
        line = f"CEF:0|{header}|{extension}"
        if self.syslog:
            pri = FACILITY_USER * 8 + SYSLOG_SEVERITY.get(severity, 6)
            line = (
                f"<{pri}>1 {now_iso()} {self.host} hikscan {os.getpid()} {syslog_token(msgid, 32)} - {line}"
            )
        self.out.write(line + "\n")
        self.out.flush()

    def begin(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def section(self, name: str, stats: dict[str, Any]) -> None:
        return None

    def finding(self, record: dict[str, Any]) -> None:
        device, remote = record["device"], record["remote"]
        members = device.get("members") or []
        ext = {
            "src": device.get("ip"),
            "smac": device.get("mac"),
            "shost": device.get("name"),
            "dst": remote.get("ip"),
            "dpt": remote.get("port"),
            "proto": (remote.get("proto") or "").upper(),
            "dhost": remote.get("name"),
            "start": _epoch_ms(record["first_seen"]),
            "end": _epoch_ms(record["last_seen"]),
            "cnt": record.get("flows") or None,
            "act": "observed",
            "msg": "; ".join(record.get("evidence") or []),
            "cs1Label": "destinationCountry",
            "cs1": remote.get("country"),
            "cs2Label": "destinationOwner",
            "cs2": remote.get("owner") or remote.get("org"),
            "cs3Label": "destinationOwnerCountry",
            "cs3": remote.get("owner_country"),
            "cs4Label": "deviceVendor",
            "cs4": device.get("vendor"),
            "cs6Label": "fleetMembers",
            "cs6": ",".join(members),
            "cn1Label": "destinationAsn",
            "cn1": remote.get("asn"),
            "cn2Label": "packets",
            "cn2": record.get("packets"),
            "cn3Label": "bytes",
            "cn3": record.get("bytes"),
        }
        self._line(record["rule"], record.get("title") or record["rule"], record["severity"], ext, "finding")

    def device(self, record: dict[str, Any]) -> None:
        what = " ".join(str(x) for x in (record.get("vendor"), record.get("model")) if x) or "unknown"
        ext = {
            "src": record.get("ip"),
            "smac": record.get("mac"),
            "shost": record.get("name"),
            "msg": "; ".join(f"{e['key']}={e['value']}" for e in record.get("evidence") or []),
            "cs1Label": "firmware",
            "cs1": record.get("firmware"),
            "cs2Label": "serial",
            "cs2": record.get("serial"),
            "cs3Label": "cves",
            "cs3": ",".join(record.get("cves") or []),
            "cs4Label": "deviceVendor",
            "cs4": record.get("vendor"),
            "cs6Label": "activatedCloud",
            "cs6": f"activated={_flag(record.get('activated'))} cloud={_flag(record.get('cloud_enabled'))}",
        }
        self._line("hikscan-device", f"CCTV device: {what}", "info", ext, "device")

    def end_section(self) -> None:
        return None

    def end(self, summary: dict[str, Any], stats: list[dict[str, Any]], meta: dict[str, Any]) -> None:
        self.meta = {**self.meta, **meta}
        estate = summary.get("estate") or {}
        ext = {
            "msg": summary.get("headline"),
            "start": _epoch_ms(meta.get("started")),
            "end": _epoch_ms(meta.get("finished")),
            "cs1Label": "estate",
            "cs1": estate.get("headline"),
            "cn1Label": "devices",
            "cn1": estate.get("devices"),
            "cn2Label": "ndaa889Devices",
            "cn2": estate.get("ndaa889_devices"),
            "cn3Label": "findings",
            "cn3": summary.get("findings"),
            "flexString2Label": "inputs",
            "flexString2": "; ".join(meta.get("inputs") or []),
        }
        name = f"hikscan {self.command} summary"
        self._line("hikscan-summary", name, "info", ext, "summary")


def _flag(value: Any) -> str:
    return "?" if value is None else ("yes" if value else "no")
