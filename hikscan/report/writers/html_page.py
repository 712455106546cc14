"""HTML: one self-contained page a review board can read — the estate answer first, then the evidence.

No script, no external fetch (a Content-Security-Policy forbids both), CSS inline, charts as inline SVG
(report/charts.py). Every value from a capture, a device or a rule goes through safe.html_text.
Records are kept (bounded: base.KeptRows) and the page is written at the end, under a temporary name.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import IO, Any

from hikscan.report.charts import country_chart, parse_time, timeline
from hikscan.report.model import severity_rank
from hikscan.report.safe import html_text as h
from hikscan.report.writers.base import KeptRows
from hikscan.report.writers.labels import device_label, server_label, size_label, when_label, where_label

MAX_TIMELINES = 60
MAX_CONTACTS = 25  # rows per device timeline
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1c2833;
background:#fff}
header{background:#1c2833;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
main{padding:8px 28px 40px;max-width:1300px;box-sizing:border-box}
.tables{display:flex;flex-wrap:wrap;gap:0 28px;align-items:flex-start}
h2{border-bottom:2px solid #d5d8dc;padding-bottom:4px;margin-top:30px}
.headline{font-size:18px;font-weight:600;margin:6px 0}.sub{color:#d5d8dc;font-size:13px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.kpi{border:1px solid #d5d8dc;border-radius:6px;padding:10px 16px;min-width:130px;background:#fbfcfc}
.kpi .n{display:block;font-size:28px;font-weight:700}.kpi.alert .n{color:#c0392b}
table{border-collapse:collapse;margin:8px 0 16px;width:100%}
table.compact{width:auto;min-width:380px}th,td{border:1px solid #e5e8e8;padding:4px 7px;
text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#f2f4f4}td.num{text-align:right}
.ndaa{background:#c0392b;color:#fff;border-radius:3px;padding:0 5px;font-size:12px;font-weight:600}
.sev-high{color:#c0392b;font-weight:700}.sev-medium{color:#b9770e;font-weight:700}.sev-low{color:#2874a6}
.note{color:#566573;font-size:13px}.empty{color:#566573;font-style:italic}
svg text{font:12px system-ui,sans-serif;fill:#1c2833}svg .axis{fill:#566573}
details summary{cursor:pointer;color:#2c6fbb}code{font-size:12px;word-break:break-all}
@media print{header{background:none;color:#000}.sub{color:#333}}
"""


def _flag(value: Any) -> str:
    return "?" if value is None else ("yes" if value else "no")


class HtmlWriter(KeptRows):
    name = "html"
    streamed = False

    def __init__(self, out: IO[str], command: str = "analyze") -> None:
        self.out = out
        self.command = command
        self.keep_rows()
        self.sections: list[tuple[str, dict[str, Any]]] = []

    def begin(self, meta: dict[str, Any]) -> None:
        return None

    def section(self, name: str, stats: dict[str, Any]) -> None:
        self.sections.append((name, stats))

    def end_section(self) -> None:
        return None

    def end(self, summary: dict[str, Any], stats: list[dict[str, Any]], meta: dict[str, Any]) -> None:
        estate = summary.get("estate") or {}
        parts = [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width,initial-scale=1">',
            f"<title>hikscan {h(meta.get('command', self.command))} report</title><style>{STYLE}</style>",
            "</head><body>",
            self._header(summary, estate, meta),
            self._estate(estate),
            self._destinations(),
            self._findings(
                "findings", "Findings", [f for f in self.findings if not f["device"].get("members")]
            ),
            self._findings(
                "fleet",
                "Fleet and behaviour findings",
                [f for f in self.findings if f["device"].get("members")],
            ),
            self._devices(set(estate.get("ndaa889_vendors") or ())),
            self._timelines(),
            self._about(summary, stats, meta),
            "</main></body></html>\n",
        ]
        self.out.write("\n".join(p for p in parts if p))

    def _header(self, summary: dict[str, Any], estate: dict[str, Any], meta: dict[str, Any]) -> str:
        kpis = [("devices", estate.get("devices", len(self.devices)), "devices", False),
                ("ndaa", estate.get("ndaa889_devices", 0), "NDAA §889 vendor devices", True),
                ("unactivated", estate.get("unactivated", 0), "unactivated", True),
                ("cloud", estate.get("cloud_enabled", 0), "cloud enabled", True),
                ("cves", estate.get("with_cves", 0), "with known CVEs", True)]  # fmt: skip
        if self.command != "scan":
            by_sev = summary.get("by_severity") or {}
            kpis += [("findings", summary.get("findings", len(self.findings)), "findings", False),
                     ("high", by_sev.get("high", 0), "high severity", True)]  # fmt: skip
        cards = "".join(
            f'<div class="kpi{" alert" if alert and n else ""}" id="kpi-{key}"><span class="n">{h(n)}</span>'
            f"{h(label)}</div>"
            for key, n, label, alert in kpis
        )
        when = " → ".join(h(x) for x in (meta.get("started"), meta.get("finished")) if x)
        return (
            f"<header><h1>hikscan {h(meta.get('command', self.command))} report</h1>"
            f'<p class="headline" id="estate-headline">{h(estate.get("headline") or "")}</p>'
            f'<p class="sub" id="headline">{h(summary.get("headline") or "")}</p>'
            f'<p class="sub">hikscan {h(meta.get("version", "?"))} · {when}</p></header>'
            f'<main><div class="kpis">{cards}</div>'
        )

    def _estate(self, estate: dict[str, Any]) -> str:
        if not estate:
            return ""
        rows = "".join(
            f"<tr><td>{h(f['label'])}"
            + (
                ' <span class="ndaa" title="NDAA §889 covered vendor">NDAA §889</span>'
                if f["ndaa889"]
                else ""
            )
            + f'</td><td class="num">{h(f["devices"])}</td></tr>'
            for f in estate.get("by_family", [])
        )
        vendors = "".join(
            f'<tr><td>{h(v)}</td><td class="num">{h(n)}</td></tr>'
            for v, n in estate.get("by_vendor", {}).items()
        )
        subnets = "".join(
            f"<tr><td><code>{h(s['subnet'])}</code></td><td class='num'>{h(s['devices'])}</td><td>"
            + h(", ".join(f"{k} {v}" for k, v in s["by_family"].items()))
            + "</td></tr>"
            for s in estate.get("by_subnet", [])[:200]
        )
        return (
            '<section id="estate"><h2>Estate</h2><div class="tables">'
            '<table id="by-family" class="compact"><tr><th>vendor family</th><th>devices</th></tr>'
            + rows
            + "</table>"
            '<table id="by-vendor" class="compact"><tr><th>vendor or brand</th><th>devices</th></tr>'
            + vendors
            + "</table>"
            '<table id="by-subnet" class="compact"><tr><th>subnet (/24, /64)</th><th>devices</th>'
            "<th>by family</th></tr>" + subnets + "</table></div>"
            f'<p class="note">NDAA §889 (Huawei, ZTE, Hytera, Hikvision, Dahua and their brands): '
            f"{h(estate.get('ndaa889_basis', ''))}.</p></section>"
        )

    def _destinations(self) -> str:
        located: dict[str, set[str]] = defaultdict(set)
        owner: dict[str, set[str]] = defaultdict(set)
        for f in self.findings:
            if f["device"].get("members"):
                continue
            remote = f["remote"]
            located[remote.get("country") or "unknown"].add(remote["ip"])
            if remote.get("owner_country"):
                owner[remote["owner_country"]].add(remote["ip"])
        if self.command == "scan":
            return ""
        unowned = len(set().union(*located.values()) - set().union(*owner.values())) if located else 0
        note = (
            f'<p class="note" id="owner-unknown">The owner country of {unowned} destination(s) is not known '
            "(no network ownership data for them): they have no blue bar.</p>"
            if unowned
            else ""
        )
        return (
            '<section id="destinations"><h2>Where the traffic went</h2>'
            '<p class="note">Distinct external servers per country: where the server is located, and where '
            "the company that owns its network is based.</p>"
            + country_chart({k: len(v) for k, v in located.items()}, {k: len(v) for k, v in owner.items()})
            + note
            + "</section>"
        )

    def _findings(self, anchor: str, title: str, findings: list[dict[str, Any]]) -> str:
        if self.command == "scan":
            return ""
        findings = sorted(findings, key=lambda f: (-severity_rank(f["severity"]), f["first_seen"]))
        if not findings:
            return f'<section id="{anchor}"><h2>{h(title)}</h2><p class="empty">None.</p></section>'
        rows = "".join(
            f"<tr><td class='sev-{h(f['severity'])}'>{h(f['severity'])}</td><td>{h(f['rule'])}</td>"
            f"<td>{h(device_label(f['device']))}</td><td>{h(server_label(f['remote']))}</td>"
            f"<td>{h(where_label(f['remote']))}</td><td>{h(when_label(f['first_seen'], f['last_seen']))}</td>"
            f"<td class='num'>{h(f['packets'])} pkts<br>{h(size_label(f['bytes']))}</td>"
            f"<td>{'<br>'.join(h(e) for e in f.get('evidence', [])[:6])}</td></tr>"
            for f in findings
        )
        more = f'<p class="note">… and {self.more} more records (see JSON or CSV).</p>' if self.more else ""
        return (
            f'<section id="{anchor}"><h2>{h(title)}</h2><table class="findings"><tr><th>severity</th>'
            "<th>rule</th><th>device</th><th>server</th><th>where</th><th>seen</th><th>traffic</th>"
            f"<th>why</th></tr>{rows}</table>{more}</section>"
        )

    def _devices(self, ndaa_vendors: set[str]) -> str:
        if not self.devices:
            return '<section id="devices"><h2>Devices</h2><p class="empty">No devices.</p></section>'
        rows = []
        for d in self.devices:
            mark = ' <span class="ndaa">NDAA §889</span>' if d.get("vendor") in ndaa_vendors else ""
            evidence = "".join(
                f"<li><code>{h(e.get('source'))}</code> {h(e.get('key'))} = {h(e.get('value'))}</li>"
                for e in d.get("evidence", [])[:40]
            )
            notes = "".join(f"<li>{h(n)}</li>" for n in [*d.get("conflicts", []), *d.get("hostile", [])])
            rows.append(
                f"<tr><td>{h(d.get('ip') or '')}<br><code>{h(d.get('mac') or '')}</code></td>"
                f"<td>{h(d.get('name') or '')}</td><td>{h(d.get('vendor') or '-')}{mark}</td>"
                f"<td>{h(d.get('category') or '')}</td><td>{h(d.get('model') or '')}</td>"
                f"<td>{h(d.get('serial') or '')}</td><td>{h(d.get('firmware') or '')}</td>"
                f"<td>{_flag(d.get('activated'))}</td><td>{_flag(d.get('cloud_enabled'))}</td>"
                f"<td>{h(', '.join(d.get('cves') or []))}</td>"
                f"<td class='num'>{h(d.get('confidence', 0))}</td>"
                f"<td><details><summary>{len(d.get('evidence', []))} observations</summary><ul>{evidence}"
                f"{notes}</ul></details></td></tr>"
            )
        return (
            '<section id="devices"><h2>Devices</h2><table class="devices"><tr><th>address</th><th>name</th>'
            "<th>vendor</th><th>category</th><th>model</th><th>serial</th><th>firmware</th><th>activated</th>"
            "<th>cloud</th><th>CVEs</th><th>confidence</th><th>evidence</th></tr>"
            + "".join(rows)
            + "</table></section>"
        )

    def _timelines(self) -> str:
        # one timeline per device: an address in one capture (one address in two captures may be two devices)
        per_device: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
        for f in self.findings:
            if not f["device"].get("members"):
                per_device[(f.get("capture"), f["device"].get("ip"))].append(f)
        if not per_device:
            return ""
        times = [
            parse_time(t) for fs in per_device.values() for f in fs for t in (f["first_seen"], f["last_seen"])
        ]
        start, end = min(times), max(times)
        order = Counter({k: -min(parse_time(f["first_seen"]) for f in v) for k, v in per_device.items()})
        blocks = []
        for key, _ in order.most_common(MAX_TIMELINES):
            contacts = sorted(per_device[key], key=lambda f: f["first_seen"])[:MAX_CONTACTS]
            device = device_label(contacts[0]["device"])
            rows = [
                {"label": server_label(f["remote"]), "severity": f["severity"],
                 "first_seen": f["first_seen"], "last_seen": f["last_seen"]}
                for f in contacts
            ]  # fmt: skip
            table = "".join(
                f"<tr><td>{h(server_label(f['remote']))}</td><td>{h(where_label(f['remote']))}</td>"
                f"<td>{h(f['first_seen'])}</td><td>{h(f['last_seen'])}</td></tr>"
                for f in contacts
            )
            blocks.append(
                f"<h3>{h(device)}</h3>{timeline(rows, start, end, device)}"
                "<table class='contacts'><tr><th>destination</th><th>where</th><th>first seen</th>"
                f"<th>last seen</th></tr>{table}</table>"
            )
        return (
            '<section id="timelines"><h2>External contacts per device</h2>' + "".join(blocks) + "</section>"
        )

    def _about(self, summary: dict[str, Any], stats: list[dict[str, Any]], meta: dict[str, Any]) -> str:
        rules = meta.get("rules") or {}
        items = [
            ("tool", f"hikscan {meta.get('version', '?')} (report schema {meta.get('schema_version', '?')})"),
            ("command", meta.get("command", self.command)),
            ("inputs", ", ".join(meta.get("inputs") or []) or "-"),
            ("rule set", f"sha256 {rules.get('sha256', '?')}, {rules.get('count', '?')} rules in "
                         f"{rules.get('files', '?')} files"),
            ("databases", "; ".join(meta.get("databases") or []) or "-"),
            ("settings", ", ".join(f"{k}={v}" for k, v in (meta.get("settings") or {}).items()) or "-"),
            ("started", meta.get("started")),
            ("finished", meta.get("finished")),
        ]  # fmt: skip
        rows = "".join(f"<tr><th>{h(k)}</th><td>{h(v)}</td></tr>" for k, v in items)
        captures = "".join(
            f"<tr><td>{h(name)}</td><td class='num'>{h(s.get('packets', 0))}</td>"
            f"<td class='num'>{h(s.get('malformed', 0))}</td>"
            f"<td>{h('; '.join((s.get('warnings') or [])[:3]))}</td></tr>"
            for name, s in self.sections
            if s
        )
        capture_table = (
            "<h3>Captures</h3><table><tr><th>input</th><th>packets</th><th>malformed</th><th>warnings</th></tr>"
            + captures + "</table>"
            if captures
            else ""
        )  # fmt: skip
        notes = "".join(f'<p class="note">{h(n)}</p>' for n in summary.get("notes", []))
        return (
            f'<section id="about"><h2>About this report</h2><table id="meta" class="compact">{rows}</table>'
            f"{capture_table}{notes}</section>"
        )
