"""Inline SVG charts for the HTML report: no library, no script, every label through safe.html_text.

Two charts: destinations per country (located and owner side by side) and a device's timeline of
external contacts (one bar per destination from first to last seen).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hikscan.report.model import iso_time
from hikscan.report.safe import html_text

LOCATED_COLOUR = "#c0392b"
OWNER_COLOUR = "#2c6fbb"
BAR_H = 14
ROW_H = 22


def country_chart(located: dict[str, int], owner: dict[str, int], limit: int = 15) -> str:
    """Horizontal grouped bars: distinct destinations per country, by location and by owner."""
    countries = sorted(set(located) | set(owner), key=lambda c: (-(located.get(c, 0) + owner.get(c, 0)), c))
    countries = countries[:limit]
    if not countries:
        return '<p class="empty">No external destinations.</p>'
    top = max([*located.values(), *owner.values(), 1])
    label_w, plot_w = 70, 420
    height = 30 + len(countries) * (2 * BAR_H + 10)
    out = [
        f'<svg class="chart" id="country-chart" role="img" width="{label_w + plot_w + 60}" height="{height}" '
        f'viewBox="0 0 {label_w + plot_w + 60} {height}" xmlns="http://www.w3.org/2000/svg">',
        "<title>Destinations per country: where located and where the owner is</title>",
        f'<rect x="{label_w}" y="4" width="12" height="12" fill="{LOCATED_COLOUR}"/>'
        f'<text x="{label_w + 16}" y="14">located in</text>'
        f'<rect x="{label_w + 110}" y="4" width="12" height="12" fill="{OWNER_COLOUR}"/>'
        f'<text x="{label_w + 126}" y="14">owner based in</text>',
    ]
    y = 26
    for country in countries:
        out.append(f'<text class="axis" x="{label_w - 8}" y="{y + BAR_H + 4}" text-anchor="end">'
                   f"{html_text(country)}</text>")  # fmt: skip
        for series, colour, kind in ((located, LOCATED_COLOUR, "located"), (owner, OWNER_COLOUR, "owner")):
            n = series.get(country, 0)
            w = max(1, round(plot_w * n / top)) if n else 0
            out.append(
                f'<rect class="bar bar-{kind}" data-country="{html_text(country)}" data-n="{n}" '
                f'x="{label_w}" y="{y}" width="{w}" height="{BAR_H}" fill="{colour}">'
                f"<title>{html_text(country)}: {n} destination(s) {kind}</title></rect>"
                f'<text x="{label_w + w + 4}" y="{y + BAR_H - 3}">{n}</text>'
            )
            y += BAR_H + 1
        y += 8
    out.append("</svg>")
    return "".join(out)


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def timeline(rows: list[dict[str, Any]], start: float, end: float, device_id: str) -> str:
    """One device's external contacts: rows of {"label", "first_seen", "last_seen", "severity"}."""
    label_w, plot_w = 290, 640
    span = max(end - start, 1e-3)
    height = 24 + len(rows) * ROW_H
    out = [
        f'<svg class="timeline" data-device="{html_text(device_id)}" role="img" '
        f'width="{label_w + plot_w + 10}" height="{height}" viewBox="0 0 {label_w + plot_w + 10} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>External contacts of {html_text(device_id)}</title>",
        f'<line x1="{label_w}" y1="16" x2="{label_w + plot_w}" y2="16" stroke="#999"/>',
        f'<text class="axis" x="{label_w}" y="12">{html_text(_clock(start))}</text>',
        f'<text class="axis" x="{label_w + plot_w}" y="12" text-anchor="end">{html_text(_clock(end))}</text>',
    ]
    y = 22
    for row in rows:
        a, b = parse_time(row["first_seen"]), parse_time(row["last_seen"])
        x = label_w + plot_w * (a - start) / span
        w = max(3.0, plot_w * (b - a) / span)
        colour = {"high": "#c0392b", "medium": "#d68910", "low": "#2874a6"}.get(row["severity"], "#7f8c8d")
        out.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{html_text(_short(row["label"]))}</text>'
            f'<rect class="contact" x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{BAR_H}" fill="{colour}">'
            f"<title>{html_text(row['label'])}: {html_text(row['first_seen'])} → "
            f"{html_text(row['last_seen'])}</title></rect>"
        )
        y += ROW_H
    out.append("</svg>")
    return "".join(out)


def _short(label: str, limit: int = 44) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _clock(ts: float) -> str:
    return iso_time(ts).replace("T", " ")[:19]
