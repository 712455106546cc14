"""mac.org rules against the whole embedded OUI table (hikscan/data/oui.tsv.gz, 34,000 organisations).

Every organisation in the IEEE registry copy goes through every mac.org rule (rules/fingerprints-mac.yaml
and the Hikvision/Dahua ones in rules/fingerprints.yaml). A verdict is allowed only for the organisations
listed below, and each listed one must give exactly its verdict: a word inside another company's name
("Shanghai Dahua Scale Factory", "Arlotto Comnet", "Nestar Communications") must never name a vendor.
"""

from __future__ import annotations

import gzip
import re
from importlib import resources

import pytest
import yaml

from hikscan.knowledge import oui
from hikscan.knowledge.fingerprint import identify, match_value
from hikscan.knowledge.rules import default_rules, rules_dir
from hikscan.report.model import Evidence

# organisation (exactly as the embedded table spells it) -> vendor verdict
VENDOR_ORGS = {
    "ASSMANN Electronic GmbH": "ASSMANN",
    "Aditya Infotech Ltd.": "CP PLUS",
    "Amcrest Technologies": "Amcrest",
    "Arlo Technology": "Arlo",
    "Avigilon Alta": "Avigilon",
    "Axis Communications AB": "Axis",
    "Beijing Xiaomi Electronics Co., Ltd.": "Xiaomi",
    "Beijing Xiaomi Electronics Co.,Ltd": "Xiaomi",
    "Beijing Xiaomi Mobile Software Co., Ltd": "Xiaomi",
    "Blink by Amazon": "Blink",
    "Bosch Security Systems": "Bosch Security",
    "Bosch Security Systems, Inc.": "Bosch Security",
    "Canary Connect, Inc.": "Canary",
    "D-Link (Shanghai) Limited Corp.": "D-Link",
    "D-Link Corporation": "D-Link",
    "D-Link International": "D-Link",
    "D-Link Middle East FZCO": "D-Link",
    "D-Link Systems, Inc.": "D-Link",
    "D-Link （Shanghai）Limited Corp.": "D-Link",
    "Dropcam": "Dropcam",
    "Edimax Technology Co. Ltd.": "Edimax",
    "GeoVision Inc.": "GeoVision",
    "Hangzhou Ezviz Software Co.,Ltd.": "EZVIZ",
    "Hangzhou Hikrobot Technology Co., Ltd.": "Hikrobot",
    "Hangzhou Hikvision Digital Technology Co.,Ltd.": "Hikvision",
    "Hangzhou Huacheng Network Technology Co.,Ltd": "Imou",
    "Hangzhou Microimage Software Co., Ltd": "HIKMICRO",
    "Hanwha Vision VietNam": "Hanwha Vision",
    "Hanwha Vision Vietnam Company Limited": "Hanwha Vision",
    "Huawei Device Co., Ltd.": "Huawei",
    "Huawei Technologies Co., Ltd.": "Huawei",
    "Huawei Technologies Co.,Ltd": "Huawei",
    "Hytera Communications Co.,ltd": "Hytera",
    "Hytera Communications Corporation Limited": "Hytera",
    "Lorex Technology Inc.": "Lorex",
    "Milesight Taiwan": "Milesight",
    "Mobotix AG": "Mobotix",
    "Nest Labs Inc.": "Nest",
    "Prama Hikvision India Private Limited": "Prama Hikvision",
    "Reolink Innovation Limited": "Reolink",
    "Ring LLC": "Ring",
    "Samsung Techwin Co.,Ltd": "Hanwha Vision",
    "Shanghai Imilab Technology Co.Ltd": "Chuangmi",
    "Shanghai Xiaoyi Technology Co., Ltd.": "Yi",
    "Shenzhen Jooan Technology Co., Ltd": "Jooan",
    "Sunell Electronics Co.": "Sunell",
    "TP-Link Systems Inc": "TP-Link Systems",
    "TP-Link Systems Inc.": "TP-Link Systems",
    "Tiandy Technologies Co.,LTD": "Tiandy",
    "Tp-Link Technologies Co.,Ltd.": "TP-Link",
    "Vivotek, Inc.": "Vivotek",
    "Wyze Labs Inc": "Wyze",
    "XIAOMI Electronics,CO.,LTD": "Xiaomi",
    "Xiamen Milesight IoT Co., Ltd.": "Milesight",
    "Xiaomi Communications Co Ltd": "Xiaomi",
    "Xiaomi EV Technology Co., Ltd.": "Xiaomi",
    "Zhejiang Dahua Technology Co., Ltd.": "Dahua",
    "Zhejiang Dahua Technologyco.,Ltd": "Dahua",
    "Zhejiang Dahua Zhilian Co.,Ltd": "Dahua",
    "Zhejiang HuaRay Technology Co.,Ltd": "HuaRay",
    "Zhejiang Uniview Technologies Co., Ltd.": "Uniview",
    "Zhejiang Uniview Technologies Co.,Ltd.": "Uniview",
    "hangzhou huacheng network technology co., ltd": "Imou",
    "zte corporation": "ZTE",
}
# Wi-Fi module and SoC makers: a very weak category hint, never a vendor
IOT_HINT_ORGS = {
    "Ambarella Inc.",
    "Beijing Winner Microelectronics Co.,Ltd.",
    "Beken Corporation",
    "Bouffalo Lab (Nanjing) Co., Ltd.",
    "Espressif Inc.",
    "Espressif Systems (Singapore) Pte. Ltd",
    "FN-LINK TECHNOLOGY Ltd.",
    "Fn-Link Technology Limited",
    "Hisilicon Technologies Co., Ltd",
    "Hong Kong Bouffalo Lab Limited",
    "Hui Zhou Gaoshengda Technology Co.,LTD",
    "Hunan Fn-Link Technology Limited",
    "Hunan Goke Microelectronics Co.,Ltd",
    "Ingenic Semiconductor Co.,Ltd",
    "Realtek Semiconductor Corp.",
    "Sigmastar Technology Ltd.",
    "Texas Instruments",
    "Tuya Smart Inc.",
    "Xiamen Sigmastar Technology Ltd.",
}


def _organisations() -> list[str]:
    blob = resources.files(oui.DATA_PACKAGE).joinpath(oui.DATA_FILE).read_bytes()
    text = gzip.decompress(blob).decode("utf-8")
    return sorted({ln.split("\t")[2] for ln in text.splitlines() if ln and not ln.startswith("#")})


ORGS = _organisations()
MAC_FILE = rules_dir() / "fingerprints-mac.yaml"


def _sweep() -> dict[str, tuple[str | None, set[str]]]:
    """Every organisation matched by any mac.org rule -> (vendor verdict, category hints)."""
    rules = default_rules()
    out = {}
    for org in ORGS:
        matches = match_value("mac.org", org, rules)
        if not matches:
            continue
        verdict = identify([Evidence("mac", "mac.org", org)], rules)
        cats = {str(m.sets["category"]) for m in matches if m.sets.get("category")}
        out[org] = (verdict.vendor, cats)
    return out


SWEEP = _sweep()


def test_table_is_the_full_registry() -> None:
    assert len(ORGS) > 30_000
    assert set(VENDOR_ORGS) | IOT_HINT_ORGS <= set(ORGS)  # every listed name is spelled as the registry does


def test_only_listed_organisations_get_a_verdict() -> None:
    unexpected = sorted(o for o in SWEEP if o not in VENDOR_ORGS and o not in IOT_HINT_ORGS)
    assert unexpected == []
    missing = sorted(o for o in [*VENDOR_ORGS, *IOT_HINT_ORGS] if o not in SWEEP)
    assert missing == []


@pytest.mark.parametrize("org", sorted(VENDOR_ORGS))
def test_vendor_organisation_gets_exactly_its_vendor(org: str) -> None:
    vendor, cats = SWEEP[org]
    assert (vendor, cats) == (VENDOR_ORGS[org], set())


@pytest.mark.parametrize("org", sorted(IOT_HINT_ORGS))
def test_module_maker_is_only_an_iot_hint(org: str) -> None:
    vendor, cats = SWEEP[org]
    assert vendor is None and cats == {"iot"}
    verdict = identify([Evidence("mac", "mac.org", org)])
    assert verdict.family is None and verdict.confidence == 0.0


@pytest.mark.parametrize(
    ("mac", "org"),
    [
        ("40:2c:76:1a:bb:cc", "Shanghai Dahua Scale Factory"),  # MA-M block inside 40:2C:76: weighing scales
        ("f4:b8:5e:ff:2b:1b", "Texas Instruments"),  # the Blink camera of pcaps-real: TI SimpleLink, weak
        ("18:b4:30:00:00:01", "Nest Labs Inc."),  # the non-camera Nest device of pcaps-real nest_log_sink
    ],
)
def test_real_macs(mac: str, org: str) -> None:
    assert oui.lookup(mac) == org
    verdict = identify([Evidence("mac", "mac.org", org)])
    assert verdict.vendor == VENDOR_ORGS.get(org)


def test_real_camera_macs_from_pcaps_real() -> None:
    # camera MACs of shared/data/pcaps-real/GROUND_TRUTH.tsv whose OUI names the maker
    want = {
        "78:df:72:24:69:4d": "Chuangmi",  # Xiaobai/Chuangmi Y2 (Shanghai Imilab OUI)
        "b0:c5:54:25:5b:0e": "D-Link",  # DCS-935L
        "74:da:38:80:79:fc": "Edimax",
        "3c:49:37:03:17:db": "ASSMANN",  # Ednet camera
    }
    for mac, vendor in want.items():
        org = oui.lookup(mac)
        assert org is not None
        assert identify([Evidence("mac", "mac.org", org)]).vendor == vendor, (mac, org)


def _mac_rules() -> list[dict]:
    return yaml.safe_load(MAC_FILE.read_text(encoding="utf-8"))["rules"]


@pytest.mark.parametrize("rule", _mac_rules(), ids=lambda r: r["id"])
def test_mac_rule_is_anchored_and_live(rule: dict) -> None:
    assert rule["key"] == "mac.org"
    assert re.match(r"^(\(\?i\))?\^", rule["pattern"]) and rule["pattern"].endswith("$")
    regex = re.compile(rule["pattern"])
    assert any(regex.fullmatch(o) for o in ORGS), "pattern matches no organisation of the embedded table"
    if "category" in rule["sets"]:  # module makers: a hint, never a vendor, and very weak
        assert set(rule["sets"]) == {"category"} and rule["confidence"] <= 0.15
    else:
        assert set(rule["sets"]) == {"vendor"} and rule["confidence"] <= 0.5
