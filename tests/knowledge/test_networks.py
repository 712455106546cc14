"""rules/networks.yaml: the ownership table, its loader's checks, every ASN against the embedded ASN data."""

from __future__ import annotations

import re
from collections import defaultdict
from importlib import resources
from pathlib import Path

import maxminddb
import pytest
import yaml

from hikscan.errors import RuleError
from hikscan.knowledge.networks import NetworkTable
from hikscan.knowledge.rules import default_rules, load_rules

ASN_DB = Path(resources.files("hikscan.data")) / "asn.mmdb"  # type: ignore[arg-type]
REQUIRED_OWNERS = {
    "net-alibaba-cloud": {45102, 37963, 24429},
    "net-tencent-cloud": {45090, 132203},
    "net-huawei-cloud": {136907, 55990},
    "net-kingsoft-cloud": {59019},
    "net-baidu": {38365, 55967},
    "net-bytedance": {396986, 138699},
    "net-ucloud": {135377},
    "net-china-telecom": {4134, 4809, 23764},
    "net-china-unicom": {4837, 9929, 10099},
    "net-china-mobile": {9808, 58453, 56040},
}


@pytest.fixture(scope="module")
def table() -> NetworkTable:
    return default_rules().networks


@pytest.fixture(scope="module")
def asn_orgs() -> dict[int, set[str]]:
    """Every (ASN → organisation names) pair in the embedded ASN database."""
    orgs: dict[int, set[str]] = defaultdict(set)
    with maxminddb.open_database(str(ASN_DB)) as reader:
        for _net, rec in reader:
            if isinstance(rec, dict):
                orgs[int(rec["autonomous_system_number"])].add(str(rec["autonomous_system_organization"]))
    return orgs


def test_required_owners_and_asns(table: NetworkTable) -> None:
    by_id = {n.id: n for n in table.networks}
    for rid, asns in REQUIRED_OWNERS.items():
        assert asns <= by_id[rid].asns, rid
        assert by_id[rid].owner_country == "CN"
    assert table.asn_count >= 90


def test_every_listed_asn_is_announced_under_the_quoted_name(
    table: NetworkTable, asn_orgs: dict[int, set[str]]
) -> None:
    """Each ASN exists in asn.mmdb, and its organisation there is quoted in the entry's source or
    matched by the entry's own org patterns: the table cannot drift from the data it cites."""
    for net in table.networks:
        for asn in net.asns:
            assert asn in asn_orgs, f"{net.id}: AS{asn} not announced in asn.mmdb"
            for org in asn_orgs[asn]:
                quoted = org in net.source or net.matches_org(org)
                assert quoted, f"{net.id}: AS{asn} {org!r} neither quoted in the source nor matched"


def test_org_patterns_claim_no_foreign_asn(table: NetworkTable, asn_orgs: dict[int, set[str]]) -> None:
    """Every organisation name in asn.mmdb that an entry's patterns claim really is that owner's: the
    matches are listed here by owner, so a loose pattern (e.g. 'Unicom' catching 'UNICOM Systems Inc.')
    fails this test."""
    claimed: dict[str, set[str]] = defaultdict(set)
    for asn, orgs in asn_orgs.items():
        for org in orgs:
            net = table.owner_of(asn, org)
            if net is not None:
                claimed[net.id].add(org)
    owner_words = {
        "net-alibaba-cloud": r"alibaba|taobao|aliyun",
        "net-tencent-cloud": r"tencent",
        "net-huawei-cloud": r"huawei",
        "net-huawei": r"huawei",
        "net-kingsoft-cloud": r"kingsoft",
        "net-baidu": r"baidu",
        "net-bytedance": r"bytedance|volcano engine|byteplus|tiktok pte",
        "net-ucloud": r"ucloud",
        "net-jd-cloud": r"jingdong",
        "net-china-telecom": r"china ?telecom|chinanet|china telecommunications|ctg",
        "net-china-unicom": r"china ?unicom|china169|cncgroup|^unicom \w+ province",
        "net-china-mobile": r"china mobile",
        "net-qiniu": r"qiniu",
        "net-xiaomi": r"xiaomi",
    }
    for rid, orgs in claimed.items():
        stray = sorted(o for o in orgs if not re.search(owner_words[rid], o, re.IGNORECASE))
        assert not stray, f"{rid} claims {stray}"
    # the namesakes stay unclaimed
    for org in (
        "LinkChina Telecom Global Limited.",
        "UNICOM Systems Inc.",
        "Volcano Vision, Inc.",
        "Xiaomin Wu",
    ):
        assert table.owner_of(None, org) is None, org


def test_asn_beats_org_pattern(table: NetworkTable) -> None:
    # AS23724 is listed by China Telecom; an org name that another entry's pattern would take does not matter
    assert table.owner_of(23724, "Tencent something").id == "net-china-telecom"  # type: ignore[union-attr]
    assert table.owner_of(4200000009, "Tencent something").id == "net-tencent-cloud"  # type: ignore[union-attr]
    assert table.owner_of(None, None) is None
    assert table.owner_of(16509, "Amazon.com, Inc.") is None


def _user_dir(tmp_path: Path, rules: list[dict[str, object]]) -> Path:
    (tmp_path / "networks.yaml").write_text(yaml.safe_dump({"kind": "networks", "rules": rules}))
    return tmp_path


def _entry(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "net-example-cloud",
        "status": "test",
        "owner": "Example Cloud",
        "owner_country": "CN",
        "kind": "cloud",
        "asns": [64500],
        "source": "a test",
        "examples": [{"asn": 64500, "org": "Example Cloud Ltd"}],
    }
    base.update(over)
    return base


def test_user_networks_extend_the_defaults(tmp_path: Path) -> None:
    rules = load_rules(_user_dir(tmp_path, [_entry(org_patterns=["^Example Cloud"])]))
    assert rules.networks.owner_of(64500, None).owner == "Example Cloud"  # type: ignore[union-attr]
    assert rules.networks.owner_of(1, "Example Cloud GmbH").id == "net-example-cloud"  # type: ignore[union-attr]
    assert rules.networks.owner_of(45102, None).id == "net-alibaba-cloud"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("over", "complaint"),
    [
        ({"asns": [45102]}, "AS45102 already listed by net-alibaba-cloud"),
        ({"org_patterns": ["(unclosed"]}, "bad org pattern"),
        ({"kind": "isp"}, "schema"),
        ({"owner_country": "China"}, "schema"),
        ({"asns": None, "org_patterns": None}, "schema"),
        ({"examples": [{"asn": 1}]}, "schema"),  # an example needs an ip or an org
    ],
)
def test_bad_user_networks_are_rule_errors(tmp_path: Path, over: dict[str, object], complaint: str) -> None:
    entry = {k: v for k, v in _entry(**over).items() if v is not None}
    with pytest.raises(RuleError) as exc:
        load_rules(_user_dir(tmp_path, [entry]))
    assert complaint in str(exc.value) and "\n" not in str(exc.value)


def test_deprecated_entry_never_answers(tmp_path: Path) -> None:
    rules = load_rules(_user_dir(tmp_path, [_entry(status="deprecated", org_patterns=["^Example Cloud"])]))
    assert rules.networks.owner_of(64500, "Example Cloud Ltd") is None
