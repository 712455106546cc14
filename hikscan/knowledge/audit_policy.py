"""`kind: audit` (rules/audit.yaml): the rules `hikscan audit` judges each device's settings by."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hikscan.errors import RuleError
from hikscan.knowledge.rules import default_files, dir_files, parse_file, parse_net
from hikscan.knowledge.ruleset import IpNet, norm_name


@dataclass(frozen=True, slots=True)
class AuditRule:
    """One audit verdict: a built-in `check` with its severity, provenance and examples."""

    id: str
    status: str
    severity: str
    check: str
    title: str
    description: str
    source: str
    examples: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    """`kind: audit` (rules/audit.yaml): the audit rules and the data their checks use."""

    rules: tuple[AuditRule, ...]
    national_domains: tuple[str, ...]
    extra_cidrs: tuple[IpNet, ...]
    default_names: frozenset[str]
    admin_levels: frozenset[str]
    max_admins: int
    file: str


_AUDIT_KIND = re.compile(r"(?m)^kind:\s*['\"]?audit['\"]?\s*(?:#.*)?$")


def load_audit_policy(path: str | Path | None = None) -> AuditPolicy:
    """The audit policy: a `kind: audit` file under `path` if there is one, else rules/audit.yaml.

    Validated by the same schema as every rule file; RuleError on any problem.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    if path is not None:
        found = [(f, parse_file(f, t)) for f, t in dir_files(Path(path)) if _AUDIT_KIND.search(t)]
    if not found:
        found = [(f, parse_file(f, t)) for f, t in default_files() if _AUDIT_KIND.search(t)]
    if len(found) != 1:
        raise RuleError(f"rules: expected exactly one audit policy file, found {len(found)}")
    fname, doc = found[0]
    seen: set[str] = set()
    rules = []
    for raw in doc["rules"]:
        if raw["id"] in seen:
            raise RuleError(f"{fname}: rule {raw['id']}: duplicate id")
        seen.add(raw["id"])
        rules.append(AuditRule(
            id=raw["id"], status=raw["status"], severity=raw["severity"], check=raw["check"],
            title=raw["title"], description=raw["description"], source=raw["source"],
            examples=tuple(raw["examples"]),
        ))  # fmt: skip
    accounts = doc["accounts"]
    return AuditPolicy(
        rules=tuple(rules),
        national_domains=tuple(norm_name(d) for d in doc["ntp"]["national_domains"]),
        extra_cidrs=tuple(parse_net(fname, "ntp.extra_cidrs", c) for c in doc["ntp"].get("extra_cidrs", ())),
        default_names=frozenset(n.casefold() for n in accounts["default_names"]),
        admin_levels=frozenset(n.casefold() for n in accounts["admin_levels"]),
        max_admins=int(accounts["max_admins"]),
        file=fname,
    )
