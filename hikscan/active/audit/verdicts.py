"""Audit verdicts: each rule of rules/audit.yaml names a check; a check turns settings into
pass / fail / unknown with the evidence it used. Unknown means the setting was not read: never
guessed. The rule examples run through `evaluate` in the tests, exactly as the audit does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hikscan.knowledge import cves
from hikscan.knowledge.audit_policy import AuditPolicy, AuditRule
from hikscan.knowledge.rules import RuleSet
from hikscan.knowledge.ruleset import norm_name

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: str
    status: str
    severity: str
    title: str
    evidence: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "severity": self.severity,
            "title": self.title,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class Context:
    policy: AuditPolicy
    rules: RuleSet
    vendor: str | None = None  # from the scan, when the device did not say


Result = tuple[str, list[str]]
Check = Callable[[Mapping[str, Any], Context], Result]


def _cloud_off(s: Mapping[str, Any], ctx: Context) -> Result:
    cloud = s.get("cloud") or {}
    if cloud.get("enabled") is None:
        return UNKNOWN, []
    ev = [f"{cloud.get('service') or 'cloud'} enabled={str(cloud['enabled']).lower()}"]
    if cloud.get("registered") is not None:
        ev.append(f"registered={str(cloud['registered']).lower()}")
    if cloud.get("server"):
        ev.append(f"server={cloud['server']}")
    return (FAIL if cloud["enabled"] else PASS), ev


def _trusted_ntp(server: str, ctx: Context) -> bool:
    try:
        addr = ipaddress.ip_address(server.strip("[]"))
    except ValueError:
        name = norm_name(server)
        return any(name == d or name.endswith("." + d) for d in ctx.policy.national_domains)
    nets = (*ctx.rules.policy.internal_cidrs, *ctx.policy.extra_cidrs)
    return any(addr.version == n.version and addr in n for n in nets)


def _ntp_trusted(s: Mapping[str, Any], ctx: Context) -> Result:
    ntp = s.get("ntp") or {}
    servers = list(ntp.get("servers") or [])
    if ntp.get("enabled") is False:
        return PASS, [f"NTP not used (time mode {ntp.get('mode') or 'off'})"]
    if not servers:
        return UNKNOWN, []
    outside = [x for x in servers if not _trusted_ntp(x, ctx)]
    ev = [f"NTP server {x}" + (" (outside)" if x in outside else "") for x in servers]
    return (FAIL if outside else PASS), ev


def _ddns_off(s: Mapping[str, Any], ctx: Context) -> Result:
    ddns = s.get("ddns") or {}
    if ddns.get("enabled") is None:
        return UNKNOWN, []
    ev = [f"DDNS enabled={str(ddns['enabled']).lower()}"]
    ev += [f"provider {p}" for p in ddns.get("providers") or []]
    ev += [f"server {x}" for x in ddns.get("servers") or []]
    return (FAIL if ddns["enabled"] else PASS), ev


def _upnp_off(s: Mapping[str, Any], ctx: Context) -> Result:
    upnp = s.get("upnp") or {}
    mappings = upnp.get("mappings") or []
    if upnp.get("enabled") is None and not mappings:
        return UNKNOWN, []
    ev = [f"UPnP enabled={str(upnp.get('enabled')).lower()}"]
    ev += [
        f"router maps external {m.get('external')} -> {m.get('internal')} ({m.get('status') or 'mapped'})"
        for m in mappings
    ]
    return (FAIL if upnp.get("enabled") or mappings else PASS), ev


def _no_default_admin(s: Mapping[str, Any], ctx: Context) -> Result:
    users = s.get("users")
    if not users:
        return UNKNOWN, []
    admins = [u for u in users if str(u.get("level") or "").casefold() in ctx.policy.admin_levels]
    named = [u["name"] for u in admins if str(u["name"]).casefold() in ctx.policy.default_names]
    ev = [f"administrator account '{n}' has a default name" for n in named]
    if len(admins) > ctx.policy.max_admins:
        ev.append(
            f"{len(admins)} administrator accounts (at most {ctx.policy.max_admins} expected): "
            + ", ".join(str(u["name"]) for u in admins)
        )
    if ev:
        return FAIL, ev
    return PASS, [f"{len(users)} accounts, {len(admins)} administrator(s), none with a default name"]


def _firmware_not_vulnerable(s: Mapping[str, Any], ctx: Context) -> Result:
    dev = s.get("device") or {}
    vendor = dev.get("manufacturer") or ctx.vendor
    firmware, model = dev.get("firmware"), dev.get("model")
    if not firmware or not vendor:
        return UNKNOWN, []
    try:
        canonical = ctx.rules.canonical_vendor(vendor)
    except (KeyError, ValueError):
        canonical = None
    if canonical is None:
        return UNKNOWN, [f"vendor {vendor!r} not in the vocabulary"]
    found = cves.cves_for(canonical, model, firmware, ctx.rules)
    ev = [f"{model or '?'} firmware {firmware}"] + [f"in the published range of {c}" for c in found]
    return (FAIL if found else PASS), ev


CHECKS: dict[str, Check] = {
    "cloud_off": _cloud_off,
    "ntp_trusted": _ntp_trusted,
    "ddns_off": _ddns_off,
    "upnp_off": _upnp_off,
    "no_default_admin": _no_default_admin,
    "firmware_not_vulnerable": _firmware_not_vulnerable,
}


def evaluate(rule: AuditRule, settings: Mapping[str, Any], ctx: Context) -> Verdict:
    status, evidence = CHECKS[rule.check](settings, ctx)
    return Verdict(rule.id, status, rule.severity, rule.title, tuple(evidence))


def evaluate_all(settings: Mapping[str, Any], ctx: Context) -> list[Verdict]:
    """Every non-deprecated rule's verdict, in file order."""
    return [evaluate(r, settings, ctx) for r in ctx.policy.rules if r.status != "deprecated"]
