"""Load the detection rules in `rules/` (the package `hikscan.knowledge.rules`) into frozen dataclasses.

Every file has a top-level `kind:` and is validated against `rules/schema.json` (draft 2020-12).
A user directory given to `load_rules(path)` is loaded *in addition to* the default set: its
vendors, fingerprints, clouds, signatures, CVE ranges and networks extend the defaults (ids must stay unique
across both), and a `kind: policy` file there replaces the default policy. Pass
`include_default=False` to use the user directory alone. Any problem raises RuleError naming the
file and the rule id.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from hikscan.errors import RuleError
from hikscan.knowledge.networks import build_networks
from hikscan.knowledge.policy import Baseline, Beacon, Fleet, Policy, PolicyRule, Storm
from hikscan.knowledge.rulefiles import checked_documents, default_files, dir_files, parse_file, rules_dir
from hikscan.knowledge.ruleset import (
    CloudEndpoint,
    CveRule,
    FingerprintRule,
    IpNet,
    RuleSet,
    Signature,
    Vendor,
    family_id,
    norm_name,
)
from hikscan.knowledge.safe_regex import RegexError, compile_rule_regex

__all__ = [
    "CloudEndpoint",
    "CveRule",
    "FingerprintRule",
    "Fleet",
    "Policy",
    "PolicyRule",
    "RuleSet",
    "Signature",
    "Vendor",
    "default_rules",
    "load_rules",
    "rules_dir",
]

_TRANSPORTS = {"tcp": 6, "udp": 17}

# ------------------------------------------------------------------------------------ loading


class _Builder:
    """Collects rule files of every kind, checks cross-references, then builds a RuleSet."""

    def __init__(self) -> None:
        self.docs: list[tuple[str, dict[str, Any]]] = []
        self.vendors: dict[str, Vendor] = {}
        self.alias: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.digest = hashlib.sha256()

    def add(self, fname: str, text: str, replace_policy: bool, doc: dict[str, Any] | None = None) -> None:
        """One rule file; `doc`: its document as stamped (rulefiles.checked_documents), not read again."""
        self.digest.update(f"{len(fname)}:{fname}{len(text)}:".encode() + text.encode())
        if doc is None:
            doc = parse_file(fname, text)
        if doc["kind"] in ("policy", "audit") and replace_policy:  # a user's file replaces the default
            self.docs = [(f, d) for f, d in self.docs if d["kind"] != doc["kind"]]
        self.docs.append((fname, doc))

    def _claim_id(self, fname: str, rid: str) -> None:
        if rid in self.ids:
            raise RuleError(f"{fname}: rule {rid}: duplicate id (also in {self.ids[rid]})")
        self.ids[rid] = fname

    def _vendor_name(self, fname: str, rid: str, name: str) -> str:
        canon = self.alias.get(name.strip().casefold())
        if canon is None:
            raise RuleError(f"{fname}: rule {rid}: unknown vendor {name!r} (add it to vendors.yaml)")
        return canon

    def build(self) -> RuleSet:
        docs = self.docs
        for fname, doc in docs:
            if doc["kind"] == "vendors":
                for v in doc["rules"]:
                    self._add_vendor(fname, v)
        for fname, doc in docs:
            if doc["kind"] == "vendors":
                for v in doc["rules"]:
                    if v.get("oem_of"):
                        self._vendor_name(fname, v["name"], v["oem_of"])
        families = {v.family for v in self.vendors.values()}
        for fam in families:
            if not any(family_id(v.name) == fam for v in self.vendors.values()):
                raise RuleError(f"vendors: family {fam!r} has no root vendor named like it")
        fps: list[FingerprintRule] = []
        clouds: list[CloudEndpoint] = []
        sigs: list[Signature] = []
        cves: list[CveRule] = []
        policies: list[Policy] = []
        for fname, doc in docs:
            kind = doc["kind"]
            if kind == "policy":
                policies.append(self._policy(fname, doc))
            for raw in doc["rules"] if kind != "vendors" and kind != "policy" else ():
                self._claim_id(fname, raw["id"])
                if kind == "fingerprints":
                    fps.append(self._fingerprint(fname, raw, len(fps), families))
                elif kind == "clouds":
                    clouds.append(self._cloud(fname, raw))
                elif kind == "signatures":
                    sigs.append(self._signature(fname, raw))
                elif kind == "cves":
                    cves.append(self._cve(fname, raw))
        if len(policies) != 1:
            raise RuleError(f"rules: expected exactly one policy file, found {len(policies)}")
        networks = build_networks((f, d) for f, d in docs if d["kind"] == "networks")
        return _index(
            RuleSet(
                vendors=dict(self.vendors),
                fingerprints=tuple(fps),
                clouds=tuple(clouds),
                signatures=tuple(sigs),
                cves=tuple(cves),
                policy=policies[0],
                files=tuple(f for f, _ in docs),
                digest=self.digest.hexdigest(),
                networks=networks,
                _alias=dict(self.alias),
            )
        )

    def _add_vendor(self, fname: str, raw: dict[str, Any]) -> None:
        name = raw["name"]
        vendor = Vendor(
            name=name,
            aliases=tuple(raw.get("aliases", ())),
            family=raw["family"],
            country=raw["country"],
            cctv=raw["cctv"],
            oem_of=raw.get("oem_of"),
            source=raw["source"],
            owner=raw.get("owner"),
            owner_country=raw.get("owner_country", raw["country"]),
            category=raw.get("category"),
            ndaa889=raw.get("ndaa889", False),
        )
        for label in (name, *vendor.aliases):
            key = label.casefold()
            if key in self.alias and self.alias[key] != name:
                raise RuleError(
                    f"{fname}: vendor {name}: name or alias {label!r} already used by {self.alias[key]}"
                )
            if key in self.alias and label == name:
                raise RuleError(f"{fname}: vendor {name}: duplicate vendor")
            self.alias[key] = name
        self.vendors[name] = vendor

    def _fingerprint(
        self, fname: str, raw: dict[str, Any], order: int, families: set[str]
    ) -> FingerprintRule:
        rid = raw["id"]
        try:
            regex = compile_rule_regex(raw["pattern"], raw.get("flags", ()))
        except RegexError as exc:
            raise RuleError(f"{fname}: rule {rid}: {exc}") from None
        sets = dict(raw["sets"])
        vendor = sets.get("vendor")
        if isinstance(vendor, str) and "{" not in vendor:
            sets["vendor"] = self._vendor_name(fname, rid, vendor)
        fam = sets.get("family")
        if fam is not None and fam not in families:
            raise RuleError(f"{fname}: rule {rid}: unknown family {fam!r}")
        for value in sets.values():
            for ref in re.findall(r"\{(\w+)\}", value) if isinstance(value, str) else ():
                bad = ref.isdigit() and int(ref) > regex.groups
                if bad or (not ref.isdigit() and ref not in regex.groupindex):
                    raise RuleError(f"{fname}: rule {rid}: sets refers to missing group {{{ref}}}")
        for ex in raw["examples"]:
            exp = ex["expect"].get("vendor")
            if isinstance(exp, str):
                self._vendor_name(fname, rid, exp)
        return FingerprintRule(
            id=rid,
            status=raw["status"],
            description=raw["description"],
            key=raw["key"],
            regex=regex,
            sets=sets,
            confidence=float(raw["confidence"]),
            source=raw["source"],
            examples=tuple(raw["examples"]),
            order=order,
        )

    def _cloud(self, fname: str, raw: dict[str, Any]) -> CloudEndpoint:
        rid = raw["id"]
        vendor = self._vendor_name(fname, rid, raw["vendor"])
        patterns = []
        for text in raw.get("name_patterns", ()):
            try:
                patterns.append(compile_rule_regex(text))
            except RegexError as exc:
                raise RuleError(f"{fname}: rule {rid}: bad name pattern {text!r}: {exc}") from None
        return CloudEndpoint(
            id=rid,
            status=raw["status"],
            vendor=vendor,
            service=raw["service"],
            domains=tuple(norm_name(d) for d in raw.get("domains", ())),
            cidrs=tuple(parse_net(fname, rid, c) for c in raw.get("cidrs", ())),
            ports=tuple(raw.get("ports", ())),
            confidence=float(raw["confidence"]),
            source=raw["source"],
            examples=tuple(raw["examples"]),
            owner_country=raw.get("owner_country", self.vendors[vendor].owner_country),
            used_by=tuple(raw.get("used_by", ("device",))),
            implies_category=raw.get("implies_category"),
            implies_vendor=bool(raw.get("implies_vendor", False)),
            name_patterns=tuple(patterns),
        )

    def _signature(self, fname: str, raw: dict[str, Any]) -> Signature:
        rid = raw["id"]
        markers = tuple((m["offset"], bytes.fromhex(m["hex"])) for m in raw["markers"])
        need = max(o + len(b) for o, b in markers)
        length = raw.get("length_at")
        if length is not None:
            need = max(need, length["offset"] + length["size"])
        return Signature(
            id=rid,
            status=raw["status"],
            vendor=self._vendor_name(fname, rid, raw["vendor"]),
            service=raw["service"],
            proto=_TRANSPORTS.get(raw["transport"]),
            ports=frozenset(raw.get("ports", ())),
            min_length=max(need, raw.get("min_length", 0)),
            markers=markers,
            confidence=float(raw["confidence"]),
            source=raw["source"],
            examples=tuple(raw["examples"]),
            protocol=raw.get("protocol"),
            device_side=raw.get("device_side"),
            length_at=(length["offset"], length["size"], length.get("adjust", 0)) if length else None,
            trailer=bytes.fromhex(raw.get("trailer", "")),
        )

    def _cve(self, fname: str, raw: dict[str, Any]) -> CveRule:
        from hikscan.knowledge.cves import parse_firmware  # cves imports rules: keep the cycle lazy

        rid = raw["id"]
        for bound in ("version_min", "version_max"):
            if bound in raw and parse_firmware(raw[bound]) is None:
                raise RuleError(f"{fname}: rule {rid}: cannot parse {bound} {raw[bound]!r}")
        try:
            model = compile_rule_regex(raw["model"]) if raw.get("model") else None
            dates = {
                k: date.fromisoformat(raw[k]) if k in raw else None for k in ("build_from", "build_before")
            }
        except ValueError as exc:  # RegexError is one
            raise RuleError(f"{fname}: rule {rid}: {exc}") from None
        return CveRule(
            id=rid,
            status=raw["status"],
            cve=raw["cve"],
            vendor=self._vendor_name(fname, rid, raw["vendor"]),
            description=raw["description"],
            model=model,
            version_min=raw.get("version_min"),
            version_max=raw.get("version_max"),
            build_from=dates.get("build_from"),
            build_before=dates.get("build_before"),
            source=raw["source"],
            examples=tuple(raw["examples"]),
        )

    def _policy(self, fname: str, doc: dict[str, Any]) -> Policy:
        rules: dict[str, PolicyRule] = {}
        for raw in doc["rules"]:
            self._claim_id(fname, raw["id"])
            rules[raw["id"]] = PolicyRule(
                id=raw["id"],
                status=raw["status"],
                severity=raw["severity"],
                description=raw["description"],
                source=raw["source"],
                examples=tuple(raw["examples"]),
                detector=raw["detector"],
                when=dict(raw.get("when") or {}),
                severity_high_risk=raw.get("severity_high_risk"),
                applies_to=raw.get("applies_to", "any"),
            )
        allow = doc.get("allow") or {}
        return Policy(
            home_country=doc["home_country"],
            high_risk_countries=frozenset(doc["high_risk_countries"]),
            internal_cidrs=tuple(parse_net(fname, "internal_cidrs", c) for c in doc["internal_cidrs"]),
            allow_cidrs=tuple(parse_net(fname, "allow", c) for c in allow.get("cidrs", ())),
            allow_domains=tuple(norm_name(d) for d in allow.get("domains", ())),
            fleet=Fleet(**doc["fleet"]),
            rules=rules,
            **_behaviour(doc),
        )


def _behaviour(doc: dict[str, Any]) -> dict[str, Any]:
    """The behaviour threshold blocks of a policy file (beacon, storm, baseline); defaults when absent."""
    out: dict[str, Any] = {}
    if "beacon" in doc:
        raw = dict(doc["beacon"])
        raw["ignore_ports"] = frozenset(raw.get("ignore_ports", ()))
        out["beacon"] = Beacon(**raw)
    if "storm" in doc:
        out["storm"] = Storm(**doc["storm"])
    if "baseline" in doc:
        out["baseline"] = Baseline(**doc["baseline"])
    return out


def parse_net(fname: str, rid: str, text: str) -> IpNet:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise RuleError(f"{fname}: rule {rid}: bad CIDR {text!r}: {exc}") from None


def _index(rs: RuleSet) -> RuleSet:
    by_key: dict[str, list[FingerprintRule]] = {}
    by_ns: dict[str, list[FingerprintRule]] = {}
    for r in rs.fingerprints:
        if r.key.endswith(".*"):
            by_ns.setdefault(r.namespace, []).append(r)
        else:
            by_key.setdefault(r.key, []).append(r)
    domains: dict[str, CloudEndpoint] = {}
    patterns = tuple((rx, c) for c in rs.clouds if c.status != "deprecated" for rx in c.name_patterns)
    for c in rs.clouds:
        if c.status == "deprecated":  # loaded (ids stay reserved) but never used: every rule kind alike
            continue
        for d in c.domains:
            if d in domains:
                raise RuleError(f"clouds: rule {c.id}: domain {d} already listed by {domains[d].id}")
            domains[d] = c
    sig_by_proto: dict[int, list[Signature]] = {6: [], 17: []}
    for s in rs.signatures:
        if s.status == "deprecated":
            continue
        for proto in (6, 17) if s.proto is None else (s.proto,):
            sig_by_proto[proto].append(s)
    return replace(
        rs,
        _by_key={k: tuple(v) for k, v in by_key.items()},
        _by_ns={k: tuple(v) for k, v in by_ns.items()},
        _domains=domains,
        _name_patterns=patterns,
        _sig_by_proto={k: tuple(v) for k, v in sig_by_proto.items()},
    )


def load_rules(
    path: str | Path | None = None, *, include_default: bool = True, full_check: bool = False
) -> RuleSet:
    """The default rules, plus (or, with include_default=False, only) the YAML files under `path`.

    Files under `path` always go through every check (rulefiles.parse_file); the default files skip the
    alias refusal and the schema only while they are the stamped ones (rulefiles module doc), and never
    with `full_check` (`hikscan rules check`)."""
    if path is None and include_default and not full_check:
        return default_rules()
    builder = _Builder()
    if include_default:
        _add_defaults(builder, full_check)
    if path is not None:
        for fname, text in dir_files(Path(path)):
            builder.add(fname, text, replace_policy=True)
    return builder.build()


@functools.lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    builder = _Builder()
    _add_defaults(builder, full_check=False)
    return builder.build()


def _add_defaults(builder: _Builder, full_check: bool) -> None:
    files = default_files()
    documents = None if full_check else checked_documents(files)
    for fname, text in files:
        doc = documents[fname] if documents is not None else None
        builder.add(fname, text, replace_policy=False, doc=doc)
