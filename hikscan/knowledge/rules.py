"""Load the detection rules in `rules/` (the package `hikscan.knowledge.rules`) into frozen dataclasses.

Every file has a top-level `kind:` and is validated against `rules/schema.json` (draft 2020-12).
A user directory given to `load_rules(path)` is loaded *in addition to* the default set: its
vendors, fingerprints, clouds, signatures and CVE ranges extend the defaults (ids must stay unique
across both), and a `kind: policy` file there replaces the default policy. Pass
`include_default=False` to use the user directory alone. Any problem raises RuleError naming the
file and the rule id.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hikscan.errors import RuleError
from hikscan.knowledge.policy import Baseline, Beacon, Fleet, Policy, PolicyRule, Storm
from hikscan.knowledge.ruleset import (
    CloudEndpoint,
    CveRule,
    FingerprintRule,
    IpNet,
    RuleSet,
    Signature,
    Vendor,
    norm_name,
)

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

MAX_RULE_FILE = 4 * 1024 * 1024
_FLAGS = {"ignorecase": re.IGNORECASE, "multiline": re.MULTILINE, "dotall": re.DOTALL}
_TRANSPORTS = {"tcp": 6, "udp": 17}

# ------------------------------------------------------------------------------------ loading


@functools.lru_cache(maxsize=1)
def rules_dir() -> Path:
    """Where the default rule files live: the top-level `rules/`, installed as `hikscan/ruledata/`.

    An installed wheel has them next to this module; an editable install or a checkout at the
    repository root (the package-dir mapping of a data-only package is not importable as files).
    """
    package = Path(__file__).resolve().parent.parent
    for base in (package / "ruledata", package.parent / "rules"):
        if (base / "schema.json").is_file():
            return base
    raise RuleError(
        f"default rules not found (looked in {package / 'ruledata'} and {package.parent / 'rules'})"
    )


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=1)
def _schema_validator() -> jsonschema.Draft202012Validator:
    text = (rules_dir() / "schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _default_files() -> list[tuple[str, str]]:
    return [(f"rules/{Path(f).name}", text) for f, text in _dir_files(rules_dir())]


def _dir_files(path: Path) -> list[tuple[str, str]]:
    if path.is_file():
        paths = [path]
    elif path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
    else:
        raise RuleError(f"{path}: no such rule file or directory")
    out = []
    for p in paths:
        with p.open("rb") as fh:
            data = fh.read(MAX_RULE_FILE + 1)
        if len(data) > MAX_RULE_FILE:
            raise RuleError(f"{p}: rule file larger than {MAX_RULE_FILE} bytes")
        try:
            out.append((str(p), data.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise RuleError(f"{p}: not UTF-8 text ({exc})") from None
    return out


def _parse(fname: str, text: str) -> dict[str, Any]:
    try:
        doc = yaml.load(text, Loader=_YAML_LOADER)  # a safe loader (libyaml when present)
    except yaml.YAMLError as exc:
        raise RuleError(f"{fname}: invalid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(doc, dict):
        raise RuleError(f"{fname}: a rule file must be a mapping with a top-level 'kind'")
    errors = sorted(_schema_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = _rule_label(doc, list(err.absolute_path))
        loc = "/".join(str(p) for p in err.absolute_path) or "(top)"
        raise RuleError(f"{fname}: {where}schema: {err.message} at {loc}")
    return doc


def _rule_label(doc: dict[str, Any], path: list[Any]) -> str:
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        rule = doc["rules"][path[1]]
        if isinstance(rule, dict):
            return f"rule {rule.get('id') or rule.get('name') or path[1]!s}: "
        return f"rule #{path[1]}: "
    return ""


class _Builder:
    """Collects rule files of every kind, checks cross-references, then builds a RuleSet."""

    def __init__(self) -> None:
        self.docs: list[tuple[str, dict[str, Any]]] = []
        self.vendors: dict[str, Vendor] = {}
        self.alias: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.digest = hashlib.sha256()

    def add(self, fname: str, text: str, replace_policy: bool) -> None:
        self.digest.update(f"{len(fname)}:{fname}{len(text)}:".encode() + text.encode())
        doc = _parse(fname, text)
        if doc["kind"] == "policy" and replace_policy:
            self.docs = [(f, d) for f, d in self.docs if d["kind"] != "policy"]
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
            if not any(v.name.casefold() == fam for v in self.vendors.values()):
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
        flags = 0
        for f in raw.get("flags", ()):
            flags |= _FLAGS[f]
        try:
            regex = re.compile(raw["pattern"], flags)
        except re.error as exc:
            raise RuleError(f"{fname}: rule {rid}: bad regex: {exc}") from None
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
        return CloudEndpoint(
            id=rid,
            status=raw["status"],
            vendor=self._vendor_name(fname, rid, raw["vendor"]),
            service=raw["service"],
            domains=tuple(norm_name(d) for d in raw.get("domains", ())),
            cidrs=tuple(_net(fname, rid, c) for c in raw.get("cidrs", ())),
            ports=tuple(raw.get("ports", ())),
            confidence=float(raw["confidence"]),
            source=raw["source"],
            examples=tuple(raw["examples"]),
        )

    def _signature(self, fname: str, raw: dict[str, Any]) -> Signature:
        rid = raw["id"]
        markers = tuple((m["offset"], bytes.fromhex(m["hex"])) for m in raw["markers"])
        need = max(o + len(b) for o, b in markers)
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
        )

    def _cve(self, fname: str, raw: dict[str, Any]) -> CveRule:
        from hikscan.knowledge.cves import parse_firmware  # cves imports rules: keep the cycle lazy

        rid = raw["id"]
        for bound in ("version_min", "version_max"):
            if bound in raw and parse_firmware(raw[bound]) is None:
                raise RuleError(f"{fname}: rule {rid}: cannot parse {bound} {raw[bound]!r}")
        try:
            model = re.compile(raw["model"]) if raw.get("model") else None
            dates = {
                k: date.fromisoformat(raw[k]) if k in raw else None for k in ("build_from", "build_before")
            }
        except (re.error, ValueError) as exc:
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
                applies_to=raw.get("applies_to", "any"),
            )
        allow = doc.get("allow") or {}
        return Policy(
            home_country=doc["home_country"],
            high_risk_countries=frozenset(doc["high_risk_countries"]),
            internal_cidrs=tuple(_net(fname, "internal_cidrs", c) for c in doc["internal_cidrs"]),
            allow_cidrs=tuple(_net(fname, "allow", c) for c in allow.get("cidrs", ())),
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


def _net(fname: str, rid: str, text: str) -> IpNet:
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
    for c in rs.clouds:
        for d in c.domains:
            if d in domains:
                raise RuleError(f"clouds: rule {c.id}: domain {d} already listed by {domains[d].id}")
            domains[d] = c
    sig_by_proto: dict[int, list[Signature]] = {6: [], 17: []}
    for s in rs.signatures:
        for proto in (6, 17) if s.proto is None else (s.proto,):
            sig_by_proto[proto].append(s)
    return replace(
        rs,
        _by_key={k: tuple(v) for k, v in by_key.items()},
        _by_ns={k: tuple(v) for k, v in by_ns.items()},
        _domains=domains,
        _sig_by_proto={k: tuple(v) for k, v in sig_by_proto.items()},
    )


def load_rules(path: str | Path | None = None, *, include_default: bool = True) -> RuleSet:
    """The default rules, plus (or, with include_default=False, only) the YAML files under `path`."""
    if path is None and include_default:
        return default_rules()
    builder = _Builder()
    if include_default:
        for fname, text in _default_files():
            builder.add(fname, text, replace_policy=False)
    if path is not None:
        for fname, text in _dir_files(Path(path)):
            builder.add(fname, text, replace_policy=True)
    return builder.build()


@functools.lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    builder = _Builder()
    for fname, text in _default_files():
        builder.add(fname, text, replace_policy=False)
    return builder.build()
