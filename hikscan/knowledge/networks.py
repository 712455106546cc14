"""Who owns a network: rules/networks.yaml as a typed table (ASN, else AS organisation name → owner).

`build_networks()` turns the `kind: networks` rule files into a NetworkTable; `NetworkTable.owner_of()`
answers for one (ASN, organisation) pair as the ASN database gives it. An exact ASN listed by any entry
wins; otherwise the first entry, in file order, one of whose `org_patterns` matches the organisation.
Deprecated entries are loaded (ids stay reserved) but never answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hikscan.errors import RuleError
from hikscan.knowledge.safe_regex import RegexError, RuleRegex, compile_rule_regex

KINDS = ("cloud", "carrier", "cdn", "vendor")


@dataclass(frozen=True, slots=True)
class Network:
    id: str
    status: str
    owner: str
    owner_country: str  # ISO 3166-1 alpha-2 of the owner's headquarters
    kind: str  # cloud, carrier, cdn, vendor
    asns: frozenset[int]
    org_patterns: tuple[RuleRegex, ...]
    source: str
    examples: tuple[Mapping[str, Any], ...]

    def matches_org(self, org: str) -> bool:
        return any(p.search(org) for p in self.org_patterns)


@dataclass(frozen=True)
class NetworkTable:
    networks: tuple[Network, ...] = ()
    _by_asn: Mapping[int, Network] = field(default_factory=dict, repr=False)

    def owner_of(self, asn: int | None, org: str | None) -> Network | None:
        """The network entry for an AS number (exact) or, failing that, its organisation name."""
        if asn is not None:
            hit = self._by_asn.get(asn)
            if hit is not None:
                return hit
        if org:
            for net in self.networks:
                if net.status != "deprecated" and net.matches_org(org):
                    return net
        return None

    def __len__(self) -> int:
        return len(self.networks)

    @property
    def asn_count(self) -> int:
        return len(self._by_asn)


def build_networks(docs: Iterable[tuple[str, Mapping[str, Any]]]) -> NetworkTable:
    """A NetworkTable from (file name, parsed `kind: networks` document) pairs; RuleError on conflicts."""
    networks: list[Network] = []
    by_asn: dict[int, Network] = {}
    for fname, doc in docs:
        for raw in doc["rules"]:
            net = _network(fname, raw)
            networks.append(net)
            if net.status == "deprecated":
                continue
            for asn in sorted(net.asns):
                other = by_asn.get(asn)
                if other is not None:
                    raise RuleError(f"{fname}: rule {net.id}: AS{asn} already listed by {other.id}")
                by_asn[asn] = net
    return NetworkTable(tuple(networks), by_asn)


def _network(fname: str, raw: Mapping[str, Any]) -> Network:
    rid = raw["id"]
    patterns = []
    for text in raw.get("org_patterns", ()):
        try:
            patterns.append(compile_rule_regex(text, ("ignorecase",)))
        except RegexError as exc:
            raise RuleError(f"{fname}: rule {rid}: bad org pattern {text!r}: {exc}") from None
    if raw["kind"] not in KINDS:
        raise RuleError(f"{fname}: rule {rid}: kind {raw['kind']!r} is not one of {', '.join(KINDS)}")
    return Network(
        id=rid,
        status=raw["status"],
        owner=raw["owner"],
        owner_country=raw["owner_country"],
        kind=raw["kind"],
        asns=frozenset(int(a) for a in raw.get("asns", ())),
        org_patterns=tuple(patterns),
        source=raw["source"],
        examples=tuple(raw["examples"]),
    )
