"""Everything hikscan knows about one external address, computed once per remote and cached.

`Enricher.info(ip)` asks every country database (hikscan.knowledge.geo: DB-IP, the RIR-based database, or
a user's file in DB-IP's place), the ASN database, and the ownership table (rules/networks.yaml), and
picks the country the policy uses (`policy.located_country`: a high-risk opinion beats the others, else
the primary). `describe_remote()` is the one place that writes a remote as the reports show it:
"Alibaba Cloud (CN-owned) · US", or "China Telecom (CN-owned) · CN (DB-IP US, RIR CN)" when the
databases disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.networks import NetworkTable
from hikscan.knowledge.policy import Policy, located_country

DEFAULT_CACHE = 65536  # remotes; each entry is a few hundred bytes


@dataclass(frozen=True, slots=True)
class RemoteInfo:
    ip: str
    country: str | None = None  # the country the policy uses (the riskier opinion)
    located: tuple[tuple[str, str], ...] = ()  # (database, country) per database that answered
    asn: int | None = None
    org: str | None = None
    owner: str | None = None  # e.g. "Alibaba Cloud" (rules/networks.yaml)
    owner_country: str | None = None  # where the owner is headquartered, e.g. "CN"
    owner_kind: str | None = None  # cloud, carrier, cdn, vendor
    network_id: str | None = None  # the networks.yaml entry that named the owner

    @property
    def disagree(self) -> bool:
        """True when the country databases give different countries."""
        return len({c for _db, c in self.located}) > 1

    def label(self) -> str:
        return describe_remote(self.owner, self.owner_country, self.country, self.located)

    def evidence(self) -> list[str]:
        """Lines for a finding's evidence: who owns the network, and each database's opinion."""
        lines = []
        if self.owner is not None:
            asn = f"AS{self.asn} " if self.asn is not None else ""
            lines.append(
                f"network owner {self.owner} ({self.owner_country}, {self.owner_kind}) from "
                f"{asn}{self.org or ''}".rstrip()
                + f" [networks.yaml {self.network_id}]"
            )
        if self.disagree:
            opinions = ", ".join(f"{db} {c}" for db, c in self.located)
            lines.append(f"databases disagree on the location ({opinions}); the policy uses {self.country}")
        return lines


def describe_remote(
    owner: str | None,
    owner_country: str | None,
    country: str | None,
    located: Sequence[tuple[str, str]] = (),
) -> str:
    """A remote as table and JSON writers show it: "Alibaba Cloud (CN-owned) · US"; "US" without an owner;
    every database's opinion in brackets when they disagree; "?" for an unknown location."""
    where = country or "?"
    if len({c for _db, c in located}) > 1:
        where += " (" + ", ".join(f"{db} {c}" for db, c in located) + ")"
    if owner is None:
        return where
    whose = f" ({owner_country}-owned)" if owner_country else ""
    return f"{owner}{whose} · {where}"


class Enricher:
    """RemoteInfo per address: the databases and the ownership table consulted once, results cached."""

    def __init__(
        self,
        geo: GeoLookup,
        networks: NetworkTable,
        policy: Policy,
        home_country: str | None = None,
        cache_size: int = DEFAULT_CACHE,
    ) -> None:
        self.geo = geo
        self.networks = networks
        self.high_risk = policy.high_risk_countries
        self.home_country = (home_country or policy.home_country).upper()
        self._cached = lru_cache(maxsize=cache_size)(self._info)

    def info(self, ip: str) -> RemoteInfo:
        return self._cached(ip)

    def _info(self, ip: str) -> RemoteInfo:
        geo = self.geo.lookup(ip)
        net = self.networks.owner_of(geo.asn, geo.org)
        return RemoteInfo(
            ip=ip,
            country=located_country(geo.located, self.high_risk, self.home_country),
            located=geo.located,
            asn=geo.asn,
            org=geo.org,
            owner=net.owner if net is not None else None,
            owner_country=net.owner_country if net is not None else None,
            owner_kind=net.kind if net is not None else None,
            network_id=net.id if net is not None else None,
        )
