"""Elastic Common Schema (ECS 8.x) JSON lines: one event per finding, per device, and a closing summary.

Findings are `event.kind: alert` (source = the device, destination = the server, with geo/as/domain);
devices are `event.kind: state` (host.* and device.*, CVEs in vulnerability.id). Every event carries
the report metadata: observer.* (hikscan and its version), rule.ruleset/rule.version (the rule-set
hash), event.created (when the run started) and labels (databases, inputs). Only ECS field names are
used (tests/report/ecs_fields.txt, from elastic/ecs generated/csv/fields.csv); what ECS has no field
for goes into `labels` (keyword values). JSON escapes control bytes itself; nothing else is needed.
"""

from __future__ import annotations

from typing import IO, Any

from hikscan.report.meta import now_iso
from hikscan.report.output import dumps

ECS_VERSION = "8.11.0"
SEVERITY = {"info": 1, "low": 3, "medium": 6, "high": 8}  # the same 0-10 scale as the CEF writer
OBSERVER_TYPE = {"scan": "scanner"}  # analyze and watch: "sensor"


def ecs_mac(mac: str | None) -> str | None:
    """ECS writes MAC addresses as upper-case hex pairs joined by hyphens."""
    return mac.upper().replace(":", "-") if mac else None


def _prune(value: Any) -> Any:
    """Drop None, empty strings and empty containers (ECS documents leave absent fields out)."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_prune(v) for v in value if v not in (None, "")]
    return value


class EcsWriter:
    name = "ecs"
    streamed = True

    def __init__(self, out: IO[str], command: str = "analyze") -> None:
        self.out = out
        self.command = command
        self.meta: dict[str, Any] = {}
        self.capture: str | None = None

    def _common(self, dataset: str) -> dict[str, Any]:
        meta = self.meta
        rules = meta.get("rules") or {}
        return {
            "ecs": {"version": ECS_VERSION},
            "observer": {
                "vendor": "hikscan",
                "product": "hikscan",
                "version": meta.get("version"),
                "type": OBSERVER_TYPE.get(self.command, "sensor"),
            },
            "event": {
                "module": "hikscan",
                "dataset": f"hikscan.{dataset}",
                "created": meta.get("started"),
            },
            "rule": {"ruleset": "hikscan", "version": rules.get("sha256")},
            "labels": {
                "hikscan_command": self.command,
                "hikscan_schema": meta.get("schema_version"),
                "databases": "; ".join(meta.get("databases") or []),
                "inputs": "; ".join(meta.get("inputs") or [])[:1024],
            },
        }

    def _write(self, doc: dict[str, Any]) -> None:
        labels = doc.get("labels") or {}
        doc["labels"] = {k: str(v) for k, v in labels.items() if v not in (None, "")}  # keyword values
        self.out.write(dumps(_prune(doc)) + "\n")
        self.out.flush()

    def begin(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def section(self, name: str, stats: dict[str, Any]) -> None:
        captures = stats.get("captures") or []
        self.capture = captures[0] if len(captures) == 1 else None

    def finding(self, record: dict[str, Any]) -> None:
        device, remote = record["device"], record["remote"]
        doc = self._common("finding")
        severity = SEVERITY.get(record["severity"], 0)
        doc["@timestamp"] = record["first_seen"]
        doc["message"] = record.get("title")
        doc["event"].update({
            "kind": "alert", "category": ["network"], "type": ["connection"], "severity": severity,
            "risk_score": float(severity * 10), "start": record["first_seen"], "end": record["last_seen"],
            "reason": "; ".join(record.get("evidence") or [])[:1024], "action": record["rule"],
        })  # fmt: skip
        doc["rule"].update({"id": record["rule"], "name": record["rule"]})
        members = device.get("members") or []
        doc["source"] = {"ip": device.get("ip"), "mac": ecs_mac(device.get("mac"))}
        doc["device"] = {"manufacturer": device.get("vendor"), "model": {"name": device.get("model")}}
        doc["host"] = {"name": device.get("name"), "type": device.get("category")}
        doc["destination"] = {
            "ip": remote.get("ip"),
            "port": remote.get("port"),
            "domain": remote.get("name"),
            "geo": {"country_iso_code": remote.get("country")},
            "as": {"number": remote.get("asn"), "organization": {"name": remote.get("org")}},
        }
        doc["network"] = {
            "transport": remote.get("proto"),
            "direction": "outbound",
            "packets": record.get("packets"),
            "bytes": record.get("bytes"),
        }
        doc["related"] = {"ip": [ip for ip in [device.get("ip"), *members, remote.get("ip")] if ip]}
        doc["tags"] = ["hikscan", record["severity"]] + (["fleet"] if members else [])
        doc["labels"].update({
            "severity": record["severity"], "remote_owner": remote.get("owner"),
            "remote_owner_country": remote.get("owner_country"), "remote_cloud": remote.get("cloud"),
            "remote_ports": ",".join(remote.get("ports") or []), "flows": record.get("flows"),
            "fleet_members": len(members) or None, "capture": record.get("capture") or self.capture,
        })  # fmt: skip
        self._write(doc)

    def device(self, record: dict[str, Any]) -> None:
        doc = self._common("device")
        doc["@timestamp"] = self.meta.get("started") or now_iso()
        doc["message"] = " ".join(str(x) for x in (record.get("vendor"), record.get("model")) if x) or None
        doc["event"].update({"kind": "state", "category": ["host"], "type": ["info"]})
        doc["host"] = {
            "ip": [record["ip"]] if record.get("ip") else [],
            "mac": [ecs_mac(record["mac"])] if record.get("mac") else [],
            "name": record.get("name"),
            "type": record.get("category"),
        }
        doc["device"] = {
            "manufacturer": record.get("vendor"),
            "model": {"name": record.get("model")},
            "serial_number": record.get("serial"),
        }
        doc["vulnerability"] = {"id": list(record.get("cves") or []), "enumeration": "CVE"}
        if not record.get("cves"):
            doc.pop("vulnerability")
        evidence = "; ".join(f"{e['key']}={e['value']}" for e in record.get("evidence") or [])
        doc["labels"].update({
            "family": record.get("family"), "firmware": record.get("firmware"),
            "activated": _flag(record.get("activated")), "cloud_enabled": _flag(record.get("cloud_enabled")),
            "confidence": record.get("confidence"), "evidence": evidence[:1024],
            "capture": record.get("capture") or self.capture,
        })  # fmt: skip
        self._write(doc)

    def end_section(self) -> None:
        return None

    def end(self, summary: dict[str, Any], stats: list[dict[str, Any]], meta: dict[str, Any]) -> None:
        self.meta = {**self.meta, **meta}
        estate = summary.get("estate") or {}
        doc = self._common("summary")
        doc["@timestamp"] = meta.get("finished") or now_iso()
        doc["message"] = estate.get("headline") or summary.get("headline")
        doc["event"].update(
            {"kind": "metric", "category": ["host"], "type": ["info"], "end": meta.get("finished")}
        )
        doc["labels"].update({
            "headline": summary.get("headline"), "devices": estate.get("devices"),
            "ndaa889_devices": estate.get("ndaa889_devices"), "unactivated": estate.get("unactivated"),
            "cloud_enabled": estate.get("cloud_enabled"), "with_cves": estate.get("with_cves"),
            "findings": summary.get("findings"),
            "by_family": ", ".join(f"{f['label']} {f['devices']}" for f in estate.get("by_family", [])),
        })  # fmt: skip
        self._write(doc)


def _flag(value: Any) -> str | None:
    return None if value is None else ("true" if value else "false")
