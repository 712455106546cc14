"""`hikscan export zeek-intel`: a Zeek Intel framework file (format per Zeek's Intel and input docs).

Zeek itself is not installable on the test machine (not in Debian bookworm), so the file is checked
against the format Zeek's ASCII input reader expects: a `#fields` header, one tab between fields, no
empty field (`-` instead), indicator types Zeek defines, meta.source naming the hikscan rule id.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import yaml

from hikscan.cli.app import main
from hikscan.knowledge.rules import load_rules

TYPES = {"Intel::DOMAIN", "Intel::ADDR", "Intel::SUBNET"}


def export(tmp: Path, *args: str) -> list[str]:
    out = tmp / "hikscan.intel"
    assert main(["export", "zeek-intel", "-o", str(out), *args]) == 0
    return out.read_text().splitlines()


def test_intel_file_format_and_coverage(tmp_path: Path) -> None:
    lines = export(tmp_path)
    assert lines[0] == "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc"
    rows = [line.split("\t") for line in lines[1:]]
    assert rows and all(len(row) == 4 and all(row) for row in rows)
    for indicator, kind, source, _desc in rows:
        assert kind in TYPES and source.startswith("hikscan:")
        if kind == "Intel::ADDR":
            ipaddress.ip_address(indicator)
        elif kind == "Intel::SUBNET":
            assert ipaddress.ip_network(indicator).prefixlen < ipaddress.ip_network(indicator).max_prefixlen
        else:
            assert indicator == indicator.lower() and "." in indicator
    rules = load_rules()
    exported = {(row[0], row[2]) for row in rows}
    for cloud in rules.clouds:
        for domain in cloud.domains:
            wanted = (domain, f"hikscan:{cloud.id}")
            # deprecated clouds and the clouds of non-CCTV vendors (a plug's own cloud) are not exported
            exportable = cloud.status != "deprecated" and rules.vendor(cloud.vendor).cctv
            assert (wanted in exported) == exportable, wanted
    assert ("apiieu.hik-connect.com", "hikscan:hik-connect") in exported  # an example name below a domain
    assert ("52.5.124.127", "hikscan:hik-connect-p2p-us") in exported


def test_hostile_text_stays_in_its_field(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    doc = {"kind": "clouds", "rules": [
        {"id": "tabby-cloud", "status": "test", "vendor": "Dahua", "service": "a\tb\nc\r#fields\td",
         "cidrs": ["203.0.113.0/28"], "confidence": 0.5, "source": "test",
         "examples": [{"ip": "203.0.113.3"}]},
    ]}  # fmt: skip
    (rules_dir / "c.yaml").write_text(yaml.safe_dump(doc))
    lines = export(tmp_path, "--rules", str(rules_dir))
    mine = [line.split("\t") for line in lines if "tabby-cloud" in line]
    assert mine == [["203.0.113.0/28", "Intel::SUBNET", "hikscan:tabby-cloud", "a b c #fields d (Dahua)"]]
    assert sum(line.startswith("#") for line in lines) == 1
