#!/usr/bin/env python3
"""Write the tiny synthetic user databases tests/test_geo.py opens (needs `pip install mmdb-writer netaddr`).

They stand in for a user's own GeoLite2 files (MaxMind's are not redistributable here): the same
database_type names and record layouts, a handful of made-up records, a fixed build_epoch.
"""

from pathlib import Path

from mmdb_writer import MmdbU32, MMDBWriter
from netaddr import IPSet

HERE = Path(__file__).parent
EPOCH = 1767225600  # 2026-01-01


class Writer(MMDBWriter):
    def _build_meta(self) -> dict[str, object]:
        return {**super()._build_meta(), "build_epoch": EPOCH}


def city() -> None:
    w = Writer(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-City",
        languages=["en"],
        description="hikscan test fixture, GeoLite2-City layout",
    )
    w.insert_network(
        IPSet(["81.2.69.0/24"]),
        {
            "city": {"names": {"en": "Nowhere"}},
            "country": {"iso_code": "NL"},  # the embedded DB says GB
            "registered_country": {"iso_code": "NL"},
        },
    )
    # no `country`, only `registered_country` (as MaxMind files have for some anycast ranges)
    w.insert_network(IPSet(["116.62.0.0/16"]), {"registered_country": {"iso_code": "CN"}})
    w.insert_network(IPSet(["2400:cb00::/32"]), {"country": {"iso_code": "AU"}})
    w.to_db_file(str(HERE / "user-GeoLite2-City.mmdb"))


def asn_v4_only() -> None:
    w = Writer(
        ip_version=4,
        database_type="GeoLite2-ASN",
        languages=["en"],
        description="hikscan test fixture, GeoLite2-ASN layout, IPv4 only",
    )
    w.insert_network(
        IPSet(["116.62.0.0/16"]),
        {"autonomous_system_number": MmdbU32(64500), "autonomous_system_organization": "Example AS"},
    )
    w.to_db_file(str(HERE / "user-GeoLite2-ASN-v4.mmdb"))


if __name__ == "__main__":
    city()
    asn_v4_only()
