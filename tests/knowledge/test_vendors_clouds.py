"""The vendor vocabulary (owner, owner country, category, NDAA §889) and the camera-cloud endpoints."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from hikscan.errors import RuleError
from hikscan.knowledge.rules import default_rules, load_rules, rules_dir
from hikscan.knowledge.ruleset import CATEGORIES

DATA = Path(__file__).parents[1] / "data"
RAW_VENDORS = yaml.safe_load((rules_dir() / "vendors.yaml").read_text(encoding="utf-8"))["rules"]

CHINESE_OWNED = [
    "Hikvision",
    "Dahua",
    "Uniview",
    "Tiandy",
    "Xiaomi",
    "Chuangmi",
    "Yi",
    "Tuya",
    "Reolink",
    "TP-Link",
    "EZVIZ",
    "Imou",
    "Wansview",
    "Foscam",
    "Eufy",
    "HIKMICRO",
    "Pyronix",
    "Huawei",
]
NOT_CHINESE_OWNED = {
    "Axis": "JP",
    "Bosch Security": "DE",
    "Hanwha Vision": "KR",
    "Avigilon": "US",
    "Mobotix": "JP",
    "Blink": "US",
    "Ring": "US",
    "Arlo": "US",
    "Nest": "US",
    "Dropcam": "US",
    "Wyze": "US",
    "D-Link": "TW",
    "Edimax": "TW",
    "Vivotek": "TW",
    "ASSMANN": "DE",
    "Lorex": "TW",
    "TP-Link Systems": "US",
    "Amcrest": "US",
}


def test_every_cctv_vendor_states_owner_country_and_source() -> None:
    cctv = [v for v in RAW_VENDORS if v["cctv"]]
    assert len(cctv) >= 30
    for v in cctv:
        assert "owner_country" in v, v["name"]  # stated in the file, not left to the default
        assert len(v["source"].strip()) > 20, v["name"]


@pytest.mark.parametrize("name", CHINESE_OWNED)
def test_chinese_owned(name: str) -> None:
    v = default_rules().vendor(name)
    assert v.owner_country == "CN" and v.chinese_owned


@pytest.mark.parametrize(("name", "country"), sorted(NOT_CHINESE_OWNED.items()))
def test_not_chinese_owned(name: str, country: str) -> None:
    v = default_rules().vendor(name)
    assert v.owner_country == country and not v.chinese_owned


@pytest.mark.parametrize(
    ("alias", "family"),
    [
        ("HiLook", "hikvision"),
        ("LTS", "hikvision"),
        ("annke", "hikvision"),
        ("TruVision", "hikvision"),
        ("Prama Hikvision", "hikvision"),
        ("ezviz", "hikvision"),
        ("HIKMICRO", "hikvision"),
        ("Amcrest", "dahua"),
        ("Lorex", "dahua"),
        ("CP PLUS", "dahua"),
        ("Imou", "dahua"),
        ("Lechange", "dahua"),
        ("Imilab", "xiaomi"),
        ("xiaobai", "xiaomi"),
        ("Kami Vision", "yi"),
        ("Tapo", "tp-link"),
    ],
)
def test_oem_brands_roll_up_to_their_maker(alias: str, family: str) -> None:
    rs = default_rules()
    v = rs.vendor(alias)  # aliases resolve case-insensitively
    assert v.family == family
    assert rs.family_root(family).family == family


def test_ndaa889_covers_the_five_companies_their_subsidiaries_and_oem_labels() -> None:
    rs = default_rules()
    covered = {"hikvision", "dahua", "huawei", "zte", "hytera"}
    for v in rs.vendors.values():
        assert v.ndaa889 == (v.family in covered), v.name
    assert not rs.vendor("Uniview").ndaa889  # Chinese-owned, but not named in §889


def test_categories_are_from_the_vocabulary_and_only_for_single_purpose_vendors() -> None:
    rs = default_rules()
    for v in rs.vendors.values():
        assert v.category is None or v.category in CATEGORIES
    assert rs.vendor("Blink").category == "camera" and rs.vendor("Blink").cctv
    for mixed in ("Xiaomi", "TP-Link", "Wyze", "Nest", "D-Link", "Tuya"):
        assert rs.vendor(mixed).category is None and not rs.vendor(mixed).cctv


def _vendor_dir(tmp_path: Path, vendor: dict) -> Path:
    (tmp_path / "vendors.yaml").write_text(yaml.safe_dump({"kind": "vendors", "rules": [vendor]}))
    return tmp_path


ACME = {"name": "Acme Cams", "family": "acme-cams", "country": "GB", "cctv": True, "source": "test fixture"}


def test_new_vendor_fields_default(tmp_path: Path) -> None:
    v = load_rules(_vendor_dir(tmp_path, ACME)).vendor("acme cams")
    assert (v.owner_country, v.owner, v.category, v.ndaa889) == ("GB", None, None, False)
    assert load_rules(_vendor_dir(tmp_path, ACME)).family_root("acme-cams").name == "Acme Cams"


def test_new_vendor_fields_load(tmp_path: Path) -> None:
    raw = {
        **ACME,
        "owner": "Example Holdings",
        "owner_country": "CN",
        "category": "doorbell/intercom",
        "ndaa889": True,
        "aliases": ["ACME"],
    }
    v = load_rules(_vendor_dir(tmp_path, raw)).vendor("acme")
    assert (v.owner, v.owner_country, v.category, v.ndaa889, v.chinese_owned) == (
        "Example Holdings",
        "CN",
        "doorbell/intercom",
        True,
        True,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("owner_country", "China"), ("category", "cctv"), ("ndaa889", "yes"), ("owner", ""), ("colour", "red")],
)
def test_bad_vendor_field_is_rejected(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(RuleError, match=f"vendors.yaml: rule Acme Cams: schema: .* at rules/0(/{field})?"):
        load_rules(_vendor_dir(tmp_path, {**ACME, field: value}))


def test_alias_clash_is_case_insensitive(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="already used by Chuangmi"):
        load_rules(_vendor_dir(tmp_path, {**ACME, "aliases": ["IMILAB"]}))


# ------------------------------------------------------------------ clouds


@pytest.mark.parametrize(
    ("name", "rule", "category", "implies_vendor"),
    [
        # names real cameras of shared/data/pcaps-real asked for (GROUND_TRUTH.tsv / PROVENANCE.tsv)
        ("business.smartcamera.api.io.mi.com", "xiaomi-smartcamera-api", "camera", True),
        ("xiaomi8.p2psy2.io.mi.com.", "xiaomi-camera-p2p", "camera", True),
        ("VS-cam.u011.immedia-semi.com", "blink-cloud", "camera", True),
        ("signal.mydlink.com", "dlink-mydlink", None, True),
        # the negatives: a TP-Link plug and a Nest device that is not a camera
        ("devs.tplinkcloud.com", "tplink-cloud", None, True),
        ("weave-logsink.nest.com", "nest-cloud", None, True),
        ("czfe105.front01.iad01.production.nest.com", "nest-cloud", None, True),
    ],
)
def test_real_names_resolve(name: str, rule: str, category: str | None, implies_vendor: bool) -> None:
    cloud = default_rules().cloud_for_name(name)
    assert cloud is not None and cloud.id == rule
    assert (cloud.implies_category, cloud.implies_vendor) == (category, implies_vendor)
    assert cloud.for_devices


@pytest.mark.parametrize("name", ["api.io.mi.com", "ot.io.mi.com", "de.api.io.mi.com", "p2psy2.io.mi.com"])
def test_generic_xiaomi_names_are_not_camera_clouds(name: str) -> None:
    assert default_rules().cloud_for_name(name) is None  # phones use these too


def test_client_software_endpoints_are_marked() -> None:
    rs = default_rules()
    clouds = {c.id: c for c in rs.clouds}
    for rid in (
        "hik-connect",
        "ezviz-cloud",
        "dahua-easy4ip",
        "dahua-p2p-cloud",
        "imou-cloud",
        "hikvision-hikcentral-connect",
        "xiaomi-smartcamera-api",
        "blink-oauth",
    ):
        assert clouds[rid].for_clients, rid
    assert clouds["blink-oauth"].used_by == ("client",) and not clouds["blink-oauth"].for_devices
    assert clouds["hik-connect-device-registration"].used_by == ("device",)


def test_platform_clouds_name_no_brand() -> None:
    clouds = {c.id: c for c in default_rules().clouds}
    for rid in ("tuya-cloud", "tutk-kalay", "ajcloud-camera-cloud"):
        assert not clouds[rid].implies_vendor, rid
    assert clouds["tutk-kalay"].implies_category == "camera"
    assert clouds["tuya-cloud"].implies_category is None


def test_every_cloud_has_an_owner_country() -> None:
    rs = default_rules()
    for c in rs.clouds:
        assert c.owner_country and len(c.owner_country) == 2, c.id
    assert {c.owner_country for c in rs.clouds if c.vendor in ("Hikvision", "EZVIZ", "Dahua", "Imou")} == {
        "CN"
    }
    assert {c.id: c.owner_country for c in rs.clouds}["tutk-kalay"] == "TW"


def _tsv_rows() -> list[dict[str, str]]:
    with (DATA / "clouds" / "cctv_cloud_endpoints.tsv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_shared_endpoint_list_is_covered() -> None:
    """Every indicator of shared/data/passive/cctv_cloud_endpoints.tsv resolves to its vendor family."""
    rs = default_rules()
    rows = _tsv_rows()
    assert len(rows) == 35
    for row in rows:
        family = "dahua" if "dahua" in row["vendor/service"].lower() else "hikvision"
        for indicator in row["# indicator"].split(" / "):
            ip = row["type"] == "ip"
            cloud = rs.cloud_for_ip(indicator) if ip else rs.cloud_for_name(indicator)
            assert cloud is not None, indicator
            assert rs.vendor(cloud.vendor).family == family, (indicator, cloud.id)


def _cloud_dir(tmp_path: Path, **extra: object) -> Path:
    rule = {
        "id": "acme-relay",
        "status": "test",
        "vendor": "Hikvision",
        "service": "Acme relay",
        "confidence": 0.5,
        "source": "test fixture",
        **extra,
    }
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump({"kind": "clouds", "rules": [rule]}))
    return tmp_path


def test_cloud_field_defaults(tmp_path: Path) -> None:
    rs = load_rules(
        _cloud_dir(tmp_path, domains=["relay.acme.example"], examples=[{"name": "relay.acme.example"}])
    )
    cloud = rs.cloud_for_name("x.relay.acme.example")
    assert cloud is not None and cloud.id == "acme-relay"
    assert (cloud.owner_country, cloud.used_by, cloud.implies_category, cloud.implies_vendor) == (
        "CN",
        ("device",),
        None,
        False,
    )  # owner country from the vendor's


def test_name_pattern_wins_over_suffix_and_is_a_full_match(tmp_path: Path) -> None:
    # a camera-only pattern inside a domain that another rule (tplink-cloud) already claims
    rs = load_rules(
        _cloud_dir(
            tmp_path,
            name_patterns=[r"^cam[0-9]+\.tplinkcloud\.com$"],
            implies_category="camera",
            examples=[{"name": "cam7.tplinkcloud.com"}],
        )
    )
    assert rs.cloud_for_name("CAM7.tplinkcloud.com.").id == "acme-relay"
    assert rs.cloud_for_name("xcam7.tplinkcloud.com").id == "tplink-cloud"
    assert rs.cloud_for_name("cam7.tplinkcloud.com.evil.example") is None


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        ({"name_patterns": ["^cam[.tplinkcloud\\.com$"]}, "bad name pattern"),
        ({"name_patterns": ["cam7\\.tplinkcloud\\.com"]}, "schema"),  # not anchored
        ({"domains": ["relay.acme.example"], "used_by": ["phone"]}, "schema"),
        ({"domains": ["relay.acme.example"], "implies_category": "cctv"}, "schema"),
        ({"domains": ["relay.acme.example"], "owner_country": "cn"}, "schema"),
    ],
)
def test_bad_cloud_fields_are_rejected(tmp_path: Path, extra: dict, complaint: str) -> None:
    with pytest.raises(RuleError, match=f"clouds.yaml: rule acme-relay: {complaint}"):
        load_rules(_cloud_dir(tmp_path, examples=[{"name": "relay.acme.example"}], **extra))
