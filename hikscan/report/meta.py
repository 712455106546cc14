"""What every report says about itself: tool, schema, rule set, databases, inputs, times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hikscan import __version__
from hikscan.knowledge.rules import RuleSet

SCHEMA_VERSION = "2.0"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def report_meta(
    command: str, inputs: list[str], rules: RuleSet, databases: list[str], **settings: Any
) -> dict[str, Any]:
    """The `meta` record of a report; `finished` is filled in when the report ends."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "hikscan",
        "version": __version__,
        "command": command,
        "inputs": inputs,
        "rules": {"sha256": rules.digest, "files": len(rules.files), "count": rule_count(rules)},
        "databases": databases,
        "settings": {k: v for k, v in settings.items() if v is not None},
        "started": now_iso(),
        "finished": None,
    }


def rule_count(rules: RuleSet) -> int:
    return (
        len(rules.fingerprints)
        + len(rules.clouds)
        + len(rules.signatures)
        + len(rules.cves)
        + len(rules.policy.rules)
    )
