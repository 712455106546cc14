"""A Zeek Intel framework file (Intel::DOMAIN, Intel::ADDR, Intel::SUBNET) from the hikscan rule set.

Format (Zeek's input framework, ASCII reader): a `#fields` line, then one indicator per line, fields
separated by one tab; `-` for an empty field. meta.source is `hikscan:<rule id>`. Zeek's Intel
matches DOMAIN indicators by exact name (DNS query, SNI, HTTP Host), not by suffix: each cloud's
domains are listed, and so are its examples (real names seen below those domains).
"""

from __future__ import annotations

from hikscan.knowledge.rules import RuleSet
from hikscan.report.exporters.common import ExportOptions, active_clouds

FIELDS = ("indicator", "indicator_type", "meta.source", "meta.desc")


def field(text: str) -> str:
    """One TSV field: tabs, newlines and other control characters become spaces; empty becomes `-`."""
    clean = "".join(ch if ch >= " " and ch != "\x7f" else " " for ch in text).strip()
    return clean or "-"


def rows(rules: RuleSet, options: ExportOptions) -> list[tuple[str, str, str, str]]:
    out: list[tuple[str, str, str, str]] = []
    seen: set[tuple[str, str]] = set()

    def add(indicator: str, kind: str, rule_id: str, desc: str) -> None:
        if (indicator, kind) not in seen:
            seen.add((indicator, kind))
            out.append((field(indicator), kind, field(f"hikscan:{rule_id}"), field(desc)))

    for cloud in active_clouds(rules):
        label = f"{cloud.service} ({cloud.vendor})"
        for domain in cloud.domains:
            add(domain.rstrip(".").lower(), "Intel::DOMAIN", cloud.id, label)
        for example in cloud.examples:
            name = example.get("name")
            if isinstance(name, str) and "expect" not in example:
                add(name.rstrip(".").lower(), "Intel::DOMAIN", cloud.id, f"{label}; a name seen below it")
        for net in cloud.cidrs:
            single = net.prefixlen == net.max_prefixlen
            add(str(net.network_address) if single else str(net), _kind(single), cloud.id, label)
    for high in options.high_risk:
        for prefix in high.prefixes:
            single = prefix.prefixlen == prefix.max_prefixlen
            add(
                str(prefix.network_address) if single else str(prefix), _kind(single), high.rule_id,
                high.description,
            )  # fmt: skip
    return out


def _kind(single: bool) -> str:
    return "Intel::ADDR" if single else "Intel::SUBNET"


def export(rules: RuleSet, options: ExportOptions) -> str:
    lines = [
        "#fields\t" + "\t".join(FIELDS),
    ]
    lines += ["\t".join(row) for row in rows(rules, options)]
    return "\n".join(lines) + "\n"
