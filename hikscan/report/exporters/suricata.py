"""Suricata 7 rules from the hikscan rule set.

    vendor-cloud domain  → dns.query, tls.sni and http.host rules (dotprefix + endswith: the name or any
                           name below it, on a label boundary, as hikscan matches; names below another
                           entry's more specific domain excluded, since hikscan gives them to that entry)
    vendor-cloud CIDRs   → one `alert ip` rule per cloud entry, to those addresses
    byte signature       → content matches with the marker offsets (offset/depth), dsize, ports, transport
    high-risk networks   → (optional) one `alert ip` rule per network/country, to its prefixes

Every rule's msg starts with "hikscan <rule id>" and its metadata carries `hikscan_rule <rule id>`;
sids come from a stable hash (common.stable_sid). Every string taken from a rule is escaped: msg text
backslash-escapes `;`, `"` and `\\` (control and non-ASCII characters become `?`); content is written
as literal text only for [a-z0-9._-] and as |hex| for every other byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hikscan.knowledge.rules import RuleSet
from hikscan.knowledge.ruleset import Signature
from hikscan.report.exporters.common import (
    ExportOptions,
    SidAllocator,
    active_clouds,
    active_signatures,
)

PROTO = {6: "tcp", 17: "udp"}
LIMIT = "threshold:type limit, track by_both, count 1, seconds 3600;"  # one alert per host pair an hour
MAX_EXCLUDED = 20  # more specific domains of other entries excluded from one domain rule
MAX_LIST_CHARS = 6000  # Suricata reads rule lines of at most 8 KiB: long address lists are split
_SAFE_CONTENT = re.compile(rb"[a-z0-9._-]+")
_META_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def msg_text(text: str) -> str:
    """Text for a msg:"..." option: `\\`, `"` and `;` escaped, control and non-ASCII characters → `?`."""
    out = []
    for ch in text:
        if ch in '\\";':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def content_text(data: bytes) -> str:
    """Bytes for content:"...": [a-z0-9._-] as text, every other byte (`|`, `;`, `"`, `\\`…) as |hex|."""
    out, pos = [], 0
    while pos < len(data):
        safe = _SAFE_CONTENT.match(data, pos)
        if safe:
            out.append(safe.group().decode("ascii"))
            pos = safe.end()
            continue
        end = pos
        while end < len(data) and not _SAFE_CONTENT.match(data, end):
            end += 1
        out.append("|" + " ".join(f"{b:02x}" for b in data[pos:end]) + "|")
        pos = end
    return "".join(out)


def meta_value(text: str) -> str:
    """A metadata value: one token of [A-Za-z0-9_.-] (anything else → `_`)."""
    return _META_UNSAFE.sub("_", text)[:120] or "_"


@dataclass(frozen=True)
class Draft:
    key: str  # what the sid is hashed from: rule id / kind / what it matches
    rule_id: str
    kind: str
    header: str
    msg: str
    body: str  # options between msg and metadata

    def render(self, sid: int) -> str:
        meta = f"hikscan_rule {meta_value(self.rule_id)}, hikscan_kind {self.kind}"
        return (
            f'{self.header} (msg:"{msg_text(self.msg)}"; {self.body} '
            f"metadata:{meta}; classtype:policy-violation; sid:{sid}; rev:1;)"
        )


def _more_specific(rules: RuleSet) -> dict[str, list[str]]:
    """Domain → the other clouds' domains below it: hikscan gives a name to the longest matching domain,
    so a rule for hik-connect.com must not fire on litedev.hik-connect.com (another entry's)."""
    owner = {d.rstrip(".").lower(): c.id for c in active_clouds(rules) for d in c.domains}
    return {
        domain: sorted(d for d, c in owner.items() if d.endswith("." + domain) and c != cloud)[:MAX_EXCLUDED]
        for domain, cloud in owner.items()
    }


def _domain_drafts(rules: RuleSet) -> list[Draft]:
    drafts = []
    below = _more_specific(rules)
    for cloud in active_clouds(rules):
        label = f"{cloud.service} ({cloud.vendor})"
        for domain in cloud.domains:
            name = domain.rstrip(".").lower()
            content = content_text(b"." + name.encode("utf-8"))
            others = [content_text(b"." + d.encode("utf-8")) for d in below.get(name, ())]
            not_ci = "".join(f' content:!"{o}"; nocase; endswith;' for o in others)
            not_lc = "".join(f' content:!"{o}"; endswith;' for o in others)
            what = f"hikscan {cloud.id}"
            drafts += [
                Draft(
                    f"{cloud.id}/dns/{name}",
                    cloud.id,
                    "dns",
                    "alert dns $HOME_NET any -> any any",
                    f"{what} DNS query for {name}: {label}",
                    f'dns.query; dotprefix; content:"{content}"; nocase; endswith;{not_ci}',
                ),
                Draft(
                    f"{cloud.id}/tls/{name}",
                    cloud.id,
                    "tls",
                    "alert tls $HOME_NET any -> $EXTERNAL_NET any",
                    f"{what} TLS SNI {name}: {label}",
                    f'flow:to_server; tls.sni; dotprefix; content:"{content}"; nocase; endswith;{not_ci}',
                ),
                Draft(
                    f"{cloud.id}/http/{name}",
                    cloud.id,
                    "http",
                    "alert http $HOME_NET any -> $EXTERNAL_NET any",
                    f"{what} HTTP Host {name}: {label}",
                    f'flow:to_server; http.host; dotprefix; content:"{content}"; endswith;{not_lc}',
                ),
            ]
    return drafts


def _address_drafts(rule_id: str, kind: str, msg: str, nets: list[str]) -> list[Draft]:
    chunks: list[list[str]] = [[]]
    size = 0
    for net in nets:
        if chunks[-1] and size + len(net) + 1 > MAX_LIST_CHARS:
            chunks.append([])
            size = 0
        chunks[-1].append(net)
        size += len(net) + 1
    drafts = []
    for n, chunk in enumerate(chunks):
        part = f" (part {n + 1} of {len(chunks)})" if len(chunks) > 1 else ""
        drafts.append(
            Draft(
                f"{rule_id}/{kind}/{n}",
                rule_id,
                kind,
                f"alert ip $HOME_NET any -> [{','.join(chunk)}] any",
                msg + part,
                LIMIT,
            )
        )
    return drafts


def _signature_drafts(sig: Signature) -> list[Draft]:
    protos = [PROTO[sig.proto]] if sig.proto in PROTO else ["tcp", "udp"]
    ports = f"[{','.join(str(p) for p in sorted(sig.ports))}]" if sig.ports else "any"
    options = [f"dsize:>{sig.min_length - 1};"] if sig.min_length > 1 else []
    for offset, marker in sig.markers:
        options.append(f'content:"{content_text(marker)}"; offset:{offset}; depth:{len(marker)};')
    options.append(LIMIT)
    return [
        Draft(
            f"{sig.id}/sig/{proto}",
            sig.id,
            "signature",
            f"alert {proto} $HOME_NET any -> $EXTERNAL_NET {ports}",
            f"hikscan {sig.id} payload signature: {sig.service} ({sig.vendor})",
            " ".join(options),
        )
        for proto in protos
    ]


def drafts(rules: RuleSet, options: ExportOptions) -> list[Draft]:
    out = _domain_drafts(rules)
    for cloud in active_clouds(rules):
        if cloud.cidrs:
            nets = [str(n) for n in cloud.cidrs]
            msg = f"hikscan {cloud.id} address of {cloud.service} ({cloud.vendor})"
            out += _address_drafts(cloud.id, "ip", msg, nets)
    for sig in active_signatures(rules):
        out += _signature_drafts(sig)
    for net in options.high_risk:
        msg = f"hikscan {net.rule_id} {net.description}"
        out += _address_drafts(net.rule_id, "high-risk", msg, [str(p) for p in net.prefixes])
    return out


def export(rules: RuleSet, options: ExportOptions) -> str:
    found = drafts(rules, options)
    sids = SidAllocator(d.key for d in found)
    internal = ",".join(str(n) for n in rules.policy.internal_cidrs)
    lines = [
        "# hikscan rules for Suricata 7 (generated by `hikscan export suricata`; do not edit)",
        f"# {options.source_note}" if options.source_note else "# rules: bundled",
        "# Uses $HOME_NET and $EXTERNAL_NET; hikscan's policy calls these networks internal:",
        f'#   HOME_NET: "[{internal}]"',
        "# sids 1800000-1999999 (a stable hash of each rule's key); metadata hikscan_rule names the rule.",
        f"# {len(found)} rules",
    ]
    lines += [d.render(sids[d.key]) for d in found]
    return "\n".join(lines) + "\n"
