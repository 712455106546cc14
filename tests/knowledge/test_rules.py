"""Schema validation and lint of every rule file; the loader rejects broken rules (mutation tests)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import jsonschema
import pytest
import yaml

from hikscan.errors import RuleError
from hikscan.knowledge.cves import cves_for, parse_firmware
from hikscan.knowledge.rules import default_rules, load_rules, rules_dir
from hikscan.knowledge.ruleset import STATUSES

RULE_FILES = sorted(rules_dir().glob("*.yaml"))
DATA = Path(__file__).parents[1] / "data"


def _schema() -> dict:
    return json.loads((rules_dir() / "schema.json").read_text())


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(_schema())


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_file_validates(path: Path) -> None:
    jsonschema.Draft202012Validator(_schema()).validate(yaml.safe_load(path.read_text()))


def test_every_kind_is_present_and_only_fingerprints_are_split() -> None:
    kinds = {p.name: yaml.safe_load(p.read_text())["kind"] for p in RULE_FILES}
    every = sorted(set(kinds.values()))
    assert every == ["audit", "clouds", "cves", "fingerprints", "networks", "policy", "signatures", "vendors"]
    # fingerprints may come in several files (fingerprints-mac.yaml holds the mac.org rules); others once
    assert sorted(k for k in kinds.values() if k != "fingerprints") == [
        k for k in every if k != "fingerprints"
    ]
    assert kinds["fingerprints-mac.yaml"] == "fingerprints"


def test_lint_ids_status_source_examples() -> None:
    rs = default_rules()
    every = [
        *rs.fingerprints,
        *rs.clouds,
        *rs.signatures,
        *rs.cves,
        *rs.policy.rules.values(),
        *rs.networks.networks,
    ]
    ids = [r.id for r in every]
    assert len(ids) == len(set(ids))
    for r in every:
        assert r.status in STATUSES
        assert r.source.strip() and r.examples, r.id
    # every vendor a rule names is canonical, and every family has its root vendor
    for v in rs.vendors.values():
        assert rs.family_root(v.family).family == v.family
        assert v.oem_of is None or v.oem_of in rs.vendors


def test_vendor_vocabulary_resolves_aliases() -> None:
    rs = default_rules()
    assert rs.vendor("HIKVISION").name == "Hikvision"
    assert rs.vendor("hikvision").name == "Hikvision"
    assert rs.vendor("Hangzhou Hikvision Digital Technology Co.,Ltd.").name == "Hikvision"
    assert rs.vendor("CP_PLUS").family == "dahua"
    assert rs.vendor("truVision").oem_of == "Hikvision"
    assert rs.vendor("Axis").country == "SE" and rs.vendor("Axis").cctv
    assert not rs.vendor("Hikrobot").cctv
    with pytest.raises(KeyError):
        rs.vendor("Hikvsion")


def test_every_real_oui_organisation_maps_to_its_family() -> None:
    """Each IEEE organisation in the real OUI extract resolves through the mac.org rules."""
    from hikscan.knowledge.fingerprint import identify
    from hikscan.report.model import Evidence

    rs = default_rules()
    rows = [
        line.split("\t")
        for line in (DATA / "oui" / "oui_hik_dahua_ezviz.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(rows) > 100
    for _prefix, org, _src in rows:
        verdict = identify([Evidence("mac", "mac.org", org)], rs)
        assert verdict.family in ("hikvision", "dahua"), org
        dahua_org = any(w in org.lower() for w in ("dahua", "huacheng", "huaray"))
        assert dahua_org == (verdict.family == "dahua"), org


# ------------------------------------------------------------------ mutation tests


@pytest.fixture
def rule_copy(tmp_path: Path) -> Path:
    for p in RULE_FILES:
        shutil.copy(p, tmp_path / p.name)
    return tmp_path


def _edit(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(path.read_text())
    edit(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


def test_copy_of_default_rules_loads(rule_copy: Path) -> None:
    rs = load_rules(rule_copy, include_default=False)
    assert len(rs.fingerprints) == len(default_rules().fingerprints)


def test_rule_without_examples_is_rejected(rule_copy: Path) -> None:
    _edit(rule_copy / "fingerprints.yaml", lambda d: d["rules"][0].update(examples=[]))
    with pytest.raises(RuleError, match=r"fingerprints\.yaml: rule hikvision-http-server-webs: schema"):
        load_rules(rule_copy, include_default=False)


def test_rule_missing_examples_key_is_rejected(rule_copy: Path) -> None:
    _edit(rule_copy / "clouds.yaml", lambda d: d["rules"][1].pop("examples"))
    with pytest.raises(RuleError, match=r"clouds\.yaml: rule hik-connect: .*examples"):
        load_rules(rule_copy, include_default=False)


def test_duplicate_id_is_rejected(rule_copy: Path) -> None:
    _edit(rule_copy / "fingerprints.yaml", lambda d: d["rules"][1].update(id=d["rules"][0]["id"]))
    with pytest.raises(RuleError, match="rule hikvision-http-server-webs: duplicate id"):
        load_rules(rule_copy, include_default=False)


def test_duplicate_id_across_kinds_is_rejected(rule_copy: Path) -> None:
    _edit(rule_copy / "clouds.yaml", lambda d: d["rules"][0].update(id="hikvision-http-server-webs"))
    with pytest.raises(RuleError, match="duplicate id"):
        load_rules(rule_copy, include_default=False)


@pytest.mark.parametrize("name", ["HikVsion", "Hikvision Inc"])
def test_unknown_vendor_is_rejected(rule_copy: Path, name: str) -> None:
    _edit(rule_copy / "fingerprints.yaml", lambda d: d["rules"][0]["sets"].update(vendor=name))
    msg = rf"fingerprints\.yaml: rule hikvision-http-server-webs: unknown vendor '{name}'"
    with pytest.raises(RuleError, match=msg):
        load_rules(rule_copy, include_default=False)


def test_unknown_vendor_in_cloud_is_rejected(rule_copy: Path) -> None:
    _edit(rule_copy / "clouds.yaml", lambda d: d["rules"][0].update(vendor="HIKVISON"))
    with pytest.raises(RuleError, match=r"hik-connect-device-registration: unknown vendor"):
        load_rules(rule_copy, include_default=False)


def test_bad_regex_is_rejected(rule_copy: Path) -> None:
    _edit(rule_copy / "fingerprints.yaml", lambda d: d["rules"][2].update(pattern="(unclosed"))
    with pytest.raises(RuleError, match="rule hikvision-http-location-login: bad regex"):
        load_rules(rule_copy, include_default=False)


def test_missing_capture_group_is_rejected(rule_copy: Path) -> None:
    _edit(rule_copy / "fingerprints.yaml", lambda d: d["rules"][0]["sets"].update(model="{2}"))
    with pytest.raises(RuleError, match="missing group"):
        load_rules(rule_copy, include_default=False)


def test_bad_yaml_is_rejected(rule_copy: Path) -> None:
    (rule_copy / "clouds.yaml").write_text("kind: clouds\nrules: [\n  - id: x\n")
    with pytest.raises(RuleError, match=r"clouds\.yaml: invalid YAML"):
        load_rules(rule_copy, include_default=False)


def test_bad_status_and_confidence_are_rejected(rule_copy: Path) -> None:
    _edit(rule_copy / "signatures.yaml", lambda d: d["rules"][0].update(status="beta"))
    with pytest.raises(RuleError, match="rule hik-p2p-v3: schema"):
        load_rules(rule_copy, include_default=False)
    shutil.copy(rules_dir() / "signatures.yaml", rule_copy / "signatures.yaml")
    _edit(rule_copy / "fingerprints.yaml", lambda d: d["rules"][0].update(confidence=1.5))
    with pytest.raises(RuleError, match="schema"):
        load_rules(rule_copy, include_default=False)


def test_policy_rule_without_detector_is_rejected(rule_copy: Path) -> None:
    _edit(rule_copy / "policy.yaml", lambda d: d["rules"][0].pop("detector"))
    with pytest.raises(RuleError, match=r"policy\.yaml: rule cctv-to-high-risk-country: schema"):
        load_rules(rule_copy, include_default=False)


def test_deprecated_policy_rule_is_never_used(rule_copy: Path) -> None:
    """A deprecated destination rule gives way to the next one in file order (here: vendor cloud)."""
    _edit(rule_copy / "policy.yaml", lambda d: d["rules"][0].update(status="deprecated"))
    rules = load_rules(rule_copy, include_default=False)
    cloud = next(c for c in rules.clouds if c.id == "hik-connect")
    assert rules.policy.classify(True, "CN", None) == ("cctv-to-overseas", "low")
    assert rules.policy.classify(True, "CN", cloud) == ("cctv-to-vendor-cloud", "medium")


# ------------------------------------------------------------------ user directories


def test_user_dir_extends_defaults(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text(
        """kind: fingerprints
rules:
  - id: local-hikvision-title
    status: experimental
    description: Our estate's rebranded NVR page title
    key: http.title
    pattern: '^Acme NVR$'
    sets: {vendor: HIKVISION}
    confidence: 0.5
    source: seen on our own NVRs (site survey 2024)
    examples:
      - {value: Acme NVR, expect: {vendor: Hikvision}}
"""
    )
    rs = load_rules(tmp_path)
    assert len(rs.fingerprints) == len(default_rules().fingerprints) + 1
    assert rs.fingerprints[-1].sets["vendor"] == "Hikvision"  # alias canonicalised at load


def test_user_dir_id_clash_with_default_is_rejected(tmp_path: Path) -> None:
    text = (rules_dir() / "clouds.yaml").read_text()
    (tmp_path / "clouds.yaml").write_text(text)
    with pytest.raises(RuleError, match="duplicate id"):
        load_rules(tmp_path)


def test_user_policy_replaces_default(tmp_path: Path) -> None:
    doc = yaml.safe_load((rules_dir() / "policy.yaml").read_text())
    doc["home_country"] = "IT"
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(doc))
    assert load_rules(tmp_path).policy.home_country == "IT"


def test_missing_user_dir_is_a_rule_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="no such"):
        load_rules(tmp_path / "nope")


# ------------------------------------------------------------------ clouds, signatures, policy


def test_cloud_suffix_match_on_label_boundaries() -> None:
    rs = default_rules()
    assert rs.cloud_for_name("apiieu.hik-connect.com").id == "hik-connect"
    assert rs.cloud_for_name("litedev.hik-connect.com.").id == "hik-connect-device-registration"
    assert rs.cloud_for_name("evilhik-connect.com") is None
    assert rs.cloud_for_name("hik-connect.com.attacker.example") is None
    assert rs.cloud_for_name("com") is None
    assert rs.cloud_for_ip("52.5.124.127").id == "hik-connect-p2p-us"
    assert rs.cloud_for_ip("192.168.1.64") is None
    assert rs.cloud_for_ip("not an ip") is None


def test_signature_respects_transport_port_and_length() -> None:
    rs = default_rules()
    dhget = b"DHGET /probe/p2psrv HTTP/1.1\r\n"
    assert rs.signature_for(17, 8800, dhget).id == "dahua-p2p-dhget"
    assert rs.signature_for(6, 8800, dhget) is None
    assert rs.signature_for(17, 80, dhget) is None
    assert rs.signature_for(17, 6000, b"\xe2") is None
    hik = memoryview(bytes.fromhex("e2000b020000000062340c5a"))
    assert rs.signature_for(17, 6000, hik).id == "hik-p2p-v3"
    cloud = rs.cloud_for_signature("dahua-p2p-dhget")
    assert cloud.vendor == "Dahua" and cloud.ports == ("8800/udp",)


def test_policy_table_and_home_country_override() -> None:
    pol = default_rules().policy
    hik = default_rules().cloud_for_name("apiieu.hik-connect.com")
    assert pol.classify(True, "CN", None) == ("cctv-to-high-risk-country", "high")
    assert pol.classify(True, "IE", hik) == ("cctv-to-vendor-cloud", "medium")
    assert pol.classify(True, "FR", None) == ("cctv-to-overseas", "low")
    assert pol.classify(True, "GB", None) is None
    assert pol.classify(True, "FR", None, home_country="FR") is None
    assert pol.with_home_country("fr").classify(True, "GB", None) == ("cctv-to-overseas", "low")
    assert pol.classify(False, "CN", None) == ("host-to-high-risk-country", "info")
    # a workstation or phone reaching a CCTV vendor cloud runs the vendor's client software
    assert pol.classify(False, "FR", hik) == ("client-to-vendor-cloud", "low")
    assert pol.classify(False, "FR", hik, owner_country="CN") == ("client-to-vendor-cloud", "medium")
    assert pol.classify(False, "FR", hik, cloud_is_cctv=False) is None
    assert pol.fleet_alert(140) == ("cctv-fleet-new-destination", "high")
    assert pol.fleet.window_seconds == 3600


def test_policy_internal_and_allow() -> None:
    pol = default_rules().policy
    internal = (
        "10.1.2.3",
        "192.168.1.64",
        "100.64.0.1",
        "169.254.1.1",
        "239.255.255.250",
        "fe80::1",
        "fd00::1",
    )
    for ip in internal:
        assert pol.is_internal(ip), ip
    for ip in ("8.8.8.8", "52.5.124.127", "2001:4860::8888", "garbage"):
        assert not pol.is_internal(ip), ip
    assert not pol.allowed("8.8.8.8", "ntp.example")


def test_policy_allow_list(tmp_path: Path) -> None:
    doc = yaml.safe_load((rules_dir() / "policy.yaml").read_text())
    doc["allow"] = {"cidrs": ["203.0.113.0/24"], "domains": ["vms.example.org"]}
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(doc))
    pol = load_rules(tmp_path).policy
    assert pol.allowed("203.0.113.9", None)
    assert pol.allowed(None, "eu.vms.example.org")
    assert not pol.allowed("198.51.100.1", "evilvms.example.org")


# ------------------------------------------------------------------ firmware versions and CVEs


@pytest.mark.parametrize(
    ("text", "numbers", "build"),
    [
        ("V5.4.0 build 160530", (5, 4, 0), date(2016, 5, 30)),
        ("V5.5.6build 180326", (5, 5, 6), date(2018, 3, 26)),
        ("V1.0, build 180613", (1, 0), date(2018, 6, 13)),
        ("V2.800.0000000.16.R, Build Date: 2021-07-20", (2, 800, 0, 16), date(2021, 7, 20)),
        ("2.811.0000013.0.R, Build Date 2023-12-20", (2, 811, 13, 0), date(2023, 12, 20)),
        ("2.420.Dahua 00.14.R, build: 2016-06-18", (2, 420), date(2016, 6, 18)),
        ("2.800.0000000.13.R", (2, 800, 0, 13), None),
    ],
)
def test_parse_firmware(text: str, numbers: tuple[int, ...], build: date | None) -> None:
    fw = parse_firmware(text)
    assert fw is not None and fw.numbers == numbers and fw.build == build


@pytest.mark.parametrize("text", [None, "", "unknown", "build 999999", "V5.4.0 build 161399"])
def test_parse_firmware_rejects_or_drops_bad_dates(text: str | None) -> None:
    fw = parse_firmware(text)
    assert fw is None or fw.build is None


def test_cves_for_vendor_families() -> None:
    rs = default_rules()
    assert cves_for("Hikvision", "DS-2CD2032F-I", "V5.3.0 build 151016", rs) == ["CVE-2017-7921"]
    both = ["CVE-2017-7921", "CVE-2021-36260"]
    assert cves_for("Hikvision", "DS-2CD2032F-I", "V5.4.0 build 160530", rs) == both
    # an OEM of the same family with Hikvision firmware is flagged the same way
    assert "CVE-2017-7921" in cves_for("Interlogix", "DS-2CD2032F-I", "V5.3.0 build 151016", rs)
    assert cves_for("Axis", "DS-2CD2032F-I", "V5.3.0 build 151016", rs) == []
    assert cves_for("Hikvision", None, None, rs) == []
    assert cves_for(None, "DS-2CD2032F-I", "V5.3.0 build 151016", rs) == []
    assert cves_for("Dahua", "IPC-HDW1431T1-S4", "2.800.0000000.13.R", rs) == []  # no build date: unknown


@pytest.mark.parametrize(
    ("fname", "rid"), [("clouds.yaml", "hik-connect-device-registration"), ("signatures.yaml", "hik-p2p-v3")]
)
def test_deprecated_clouds_and_signatures_are_never_used(rule_copy: Path, fname: str, rid: str) -> None:
    before = load_rules(rule_copy, include_default=False)
    _edit(
        rule_copy / fname,
        lambda d: next(r for r in d["rules"] if r["id"] == rid).update(status="deprecated"),
    )
    after = load_rules(rule_copy, include_default=False)
    if fname == "clouds.yaml":
        assert before.cloud_for_name("litedev.hik-connect.com").id == rid  # type: ignore[union-attr]
        hit = after.cloud_for_name("litedev.hik-connect.com")
        assert hit is None or hit.id != rid
    else:
        sig = next(s for s in before.signatures if s.id == rid)
        payload = bytes.fromhex(sig.examples[0]["hex"])
        port = min(sig.ports) if sig.ports else 0
        assert before.signature_for(sig.proto or 17, port, payload).id == rid  # type: ignore[union-attr]
        hit = after.signature_for(sig.proto or 17, port, payload)
        assert hit is None or hit.id != rid


def test_rules_for_is_computed_once_and_replace_starts_afresh() -> None:
    policy = load_rules().policy
    for detector in ("destination", "beacon", "storm", "fleet", "nothing"):
        want = [r for r in policy.rules.values() if r.detector == detector and r.status != "deprecated"]
        assert policy.rules_for(detector) == want == policy.rules_for(detector)
        assert policy.emits(detector) == bool(want)
    got = policy.rules_for("beacon")
    got.clear()  # a caller's copy: the memo is not touched
    assert policy.rules_for("beacon")
    quiet = replace(policy, rules={k: r for k, r in policy.rules.items() if r.detector != "beacon"})
    assert quiet.rules_for("beacon") == [] and not quiet.emits("beacon")
    assert policy.emits("beacon")


def test_cves_for_answers_from_its_memo_as_it_computed() -> None:
    """cves_for remembers (vendor, model, firmware) → CVEs per rule set: every rule example, asked for every
    vendor, answers the same on a fresh rule set, a second time, and on another fresh rule set."""
    from hikscan.knowledge.cves import rule_applies

    first, second = load_rules(full_check=True), load_rules(full_check=True)  # fresh: empty memos
    cases = [
        (vendor, ex.get("model"), ex.get("firmware"))
        for rule in first.cves
        for ex in rule.examples
        for vendor in ("Hikvision", "Dahua", "HiLook", "Axis")
    ]
    assert len(cases) > 40
    expected = [
        sorted({r.cve for r in first.cves if r.status != "deprecated" and rule_applies(r, *case, first)})
        for case in cases
    ]
    assert [cves_for(*case, first) for case in cases] == expected
    assert [cves_for(*case, first) for case in cases] == expected  # from the memo
    assert [cves_for(*case, second) for case in reversed(cases)] == expected[::-1]
    assert any(expected) and first.memo("cves.cves_for")
    answer = cves_for(*cases[0], first)
    answer.append("mutated by a caller")
    assert cves_for(*cases[0], first) == expected[0]
