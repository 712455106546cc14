"""`hikscan rules list | check | test-value`: let a responder add and check a rule without code.

Exit codes of `check`: 0 every example passes, 1 an example fails, 2 the rules do not load (schema,
YAML, regex, vendor or id errors: one line `hikscan: error: …`). `test-value` exits 1 when no rule
matches, like grep. Mounted by hikscan/cli/app.py as `app.add_typer(rules_app, name="rules")`.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hikscan.errors import RuleError

if TYPE_CHECKING:
    from hikscan.knowledge.rules import RuleSet

# The rule engine, the checker and rich are imported by the commands that use them: `hikscan` mounts this
# app for every command, and `hikscan analyze` needs none of them (tests/cli/test_startup.py).

EXIT_FAILED = 1
EXIT_ERROR = 2
KIND_NAMES = ("vendor", "fingerprint", "cloud", "signature", "cve", "policy")

rules_app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    help="List the detection rules, check their examples, try a value against the fingerprints.",
)


@rules_app.callback(invoke_without_command=True)
def _rules(ctx: typer.Context) -> None:
    # `hikscan rules` alone: the help on stdout and exit 2 (no empty "error:" line from a no-args error)
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit(EXIT_ERROR)


RulesDir = Annotated[
    Path | None,
    typer.Option("--rules", help="Your rules directory (or file), loaded in addition to the defaults."),
]


class ListFormat(StrEnum):
    table = "table"
    json = "json"


def _fail(message: str) -> typer.Exit:
    """One line on stderr; the caller raises the returned Exit(2)."""
    print(f"hikscan: error: {message}", file=sys.stderr)
    return typer.Exit(EXIT_ERROR)


def _load(path: Path | None, full_check: bool = False) -> RuleSet:
    from hikscan.knowledge.rules import load_rules

    try:
        return load_rules(path, full_check=full_check)
    except RuleError as exc:
        raise _fail(str(exc).replace("\n", " ")) from None


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _kind(value: str | None) -> str | None:
    """Accept `fingerprint` or the file kind `fingerprints` (and `cves`, `clouds`, …)."""
    if value is None:
        return None
    name = value.strip().lower()
    name = name[:-1] if name.endswith("s") and name[:-1] in KIND_NAMES else name
    if name not in KIND_NAMES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(KIND_NAMES)}", param_hint="--kind")
    return name


def rule_rows(rules: RuleSet) -> list[dict[str, Any]]:
    """One row per rule: id, kind, status, vendor, service (or what it sets), description."""
    rows: list[dict[str, Any]] = []
    for v in rules.vendors.values():
        oem = f", OEM of {v.oem_of}" if v.oem_of else ""
        what = f"{v.country}, {'CCTV' if v.cctv else 'not CCTV'}{oem}; aliases: {', '.join(v.aliases) or '-'}"
        rows.append(_row(v.name, "vendor", "-", v.name, f"family {v.family}", what, 0))
    for f in rules.fingerprints:
        sets = " ".join(f"{k}={v}" for k, v in f.sets.items())
        vendor = f.sets.get("vendor")
        rows.append(
            _row(
                f.id,
                "fingerprint",
                f.status,
                vendor if isinstance(vendor, str) else "",
                f"{f.key}: {sets}",
                f.description,
                len(f.examples),
            )
        )
    for c in rules.clouds:
        where = ", ".join([*c.domains, *(p.pattern for p in c.name_patterns), *(str(n) for n in c.cidrs)])
        rows.append(_row(c.id, "cloud", c.status, c.vendor, c.service, where, len(c.examples)))
    for s in rules.signatures:
        proto = {6: "tcp", 17: "udp"}.get(s.proto or 0, "any")
        ports = ",".join(str(p) for p in sorted(s.ports)) or "any port"
        rows.append(
            _row(s.id, "signature", s.status, s.vendor, s.service, f"{proto} {ports}", len(s.examples))
        )
    for r in rules.cves:
        rows.append(_row(r.id, "cve", r.status, r.vendor, r.cve, r.description, len(r.examples)))
    for p in rules.policy.rules.values():
        rows.append(
            _row(p.id, "policy", p.status, "", f"severity {p.severity}", p.description, len(p.examples))
        )
    return rows


def _row(
    rid: str, kind: str, status: str, vendor: str, service: str, description: str, examples: int
) -> dict[str, Any]:
    return {
        "id": rid,
        "kind": kind,
        "status": status,
        "vendor": vendor,
        "service": service,
        "description": description,
        "examples": examples,
    }


@rules_app.command("list")
def list_rules(
    rules_dir: RulesDir = None,
    kind: Annotated[
        str | None, typer.Option("--kind", "-k", help=f"Only this kind: {', '.join(KIND_NAMES)}.")
    ] = None,
    output_format: Annotated[
        ListFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ListFormat.table,
) -> None:
    """List the rules: id, kind, status, vendor/service and description."""
    from rich.markup import escape
    from rich.table import Table

    from hikscan.report.writers.table import console_for

    wanted = _kind(kind)
    rows = [r for r in rule_rows(_load(rules_dir)) if wanted is None or r["kind"] == wanted]
    if output_format is ListFormat.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{len(rows)} rules", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("vendor / service")
    table.add_column("description")
    for r in rows:
        who = " / ".join(x for x in (r["vendor"], r["service"]) if x)
        # escape: name patterns and regexes hold [..] that rich would read as markup
        table.add_row(*(escape(str(x)) for x in (r["id"], r["kind"], r["status"], who, r["description"])))
    console_for(sys.stdout).print(table)


@rules_app.command("check")
def check(
    rules_dir: RulesDir = None,
    only_user: Annotated[
        bool, typer.Option("--only-user", help="Run only the examples of rules from --rules.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show passing examples too.")] = False,
) -> None:
    """Validate and load the rules, run every example (exit 1: an example fails, 2: rules do not load)."""
    from hikscan.knowledge.rulecheck import check_examples, summary, user_rule_ids

    if only_user and rules_dir is None:
        raise _fail("--only-user needs --rules DIR")
    rules = _load(rules_dir, full_check=True)  # every file through the schema, the stamped defaults too
    results = check_examples(rules, only=user_rule_ids(rules) if only_user else None)
    print(f"rules: {rules.describe()}")
    for r in results:
        if not r.ok:
            print(f"FAIL {r.case_id}: {_one_line(r.message)}")
        elif verbose:
            print(f"ok   {r.case_id}: {_one_line(r.message)}")
    print(summary(results))
    if any(not r.ok for r in results):
        raise typer.Exit(EXIT_FAILED)


@rules_app.command("test-value")
def test_value(
    key: Annotated[str, typer.Argument(help="Evidence key, e.g. http.server, sadp.DeviceType, mac.org.")],
    value: Annotated[str, typer.Argument(help="The evidence value, e.g. DNVRS-Webs.")],
    rules_dir: RulesDir = None,
) -> None:
    """Which fingerprint rules match an evidence value, in order, and what they set (exit 1: none)."""
    from rich.table import Table

    from hikscan.knowledge.fingerprint import match_value
    from hikscan.report.writers.table import console_for

    rules = _load(rules_dir)
    candidates = rules.fingerprints_for(key)
    if not candidates:
        keys = sorted({f.key for f in rules.fingerprints})
        print(f"no fingerprint rule uses key {key!r}; keys with rules: {', '.join(keys)}")
        raise typer.Exit(EXIT_FAILED)
    matches = match_value(key, value, rules)
    if not matches:
        print(f"{key} = {value!r}: no match among {len(candidates)} rules for this key")
        raise typer.Exit(EXIT_FAILED)
    table = Table(
        title=f"{key} = {value!r}: {len(matches)} of {len(candidates)} rules match", title_justify="left"
    )
    for column in ("#", "rule", "sets", "confidence", "status"):
        table.add_column(column, no_wrap=column != "sets")
    status = {f.id: f.status for f in candidates}
    for i, m in enumerate(matches, 1):
        sets = dict(m.sets)
        vendor = sets.get("vendor")
        if "family" not in sets and isinstance(vendor, str):
            sets["family"] = rules.vendor(vendor).family
        shown = " ".join(f"{k}={v}" for k, v in sets.items())
        table.add_row(str(i), m.rule_id, shown, f"{m.confidence:g}", status[m.rule_id])
    console_for(sys.stdout).print(table)
    print(f"first match (the one its examples are checked against): {matches[0].rule_id}")
