"""The evidence-key vocabulary (rules/schema.json) is what the code emits; rules on other keys are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hikscan.errors import RuleError
from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import load_rules
from hikscan.passive.engine import Engine
from hikscan.protocols import dhip, onvif, sadp, wsdiscovery

ROOT = Path(__file__).resolve().parents[2]
ACTIVE = ROOT / "tests" / "data" / "active"
SCHEMA = json.loads((ROOT / "rules" / "schema.json").read_text())["$defs"]["evidenceKey"]["anyOf"]
FIXED, PATTERN = set(SCHEMA[0]["enum"]), re.compile(SCHEMA[1]["pattern"])
CAPTURES = sorted(p for p in (*(ROOT / "pcaps").glob("*.pcap*"), *(ROOT / "pcaps" / "real").iterdir()))


def known(key: str) -> bool:
    return key in FIXED or bool(PATTERN.match(key))


def emitted_keys() -> set[str]:
    keys: set[str] = set()
    rules, geo, oui = load_rules(), GeoLookup(), OuiTable.load()
    for path in CAPTURES:
        engine = Engine(rules, geo, oui)
        engine.run_files([path])
        engine.finish()
        keys |= {e.key for d in engine.devices() for e in d.evidence}
    for f in ACTIVE.glob("sadp_response_*.xml"):
        keys |= {e.key for e in sadp.evidence(sadp.parse_sadp(f.read_bytes()))}
    keys |= {
        e.key
        for e in dhip.evidence(
            dhip.parse_dhip((ACTIVE / "dahua_dhip_37810_response_universalscanner_selftest.bin").read_bytes())
        )
    }
    for f in ACTIVE.glob("onvif_getdeviceinformation_*.xml"):
        keys |= {e.key for e in onvif.evidence(onvif.parse_device_information(f.read_bytes()))}
    keys |= {
        e.key
        for e in wsdiscovery.evidence(
            wsdiscovery.parse_probe_match(
                (ACTIVE / "onvif_probematch_universalscanner_selftest.xml").read_bytes()
            )
        )
    }
    return keys


def test_every_emitted_key_is_in_the_vocabulary() -> None:
    keys = emitted_keys()
    assert {
        "mac.org",
        "sadp.DeviceSN",
        "rtsp.server",
        "http.user_agent",
    } <= keys  # the sweep saw real evidence
    assert sorted(k for k in keys if not known(k)) == []


def test_a_rule_on_a_key_nothing_emits_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "kind: fingerprints\nrules:\n  - id: acme-motd\n    status: experimental\n    description: x\n"
        "    key: telnet.motd\n    pattern: '^Acme$'\n    sets: {vendor: Hikvision}\n    confidence: 0.5\n"
        "    source: test\n    examples: [{value: Acme, expect: {vendor: Hikvision}}]\n"
    )
    with pytest.raises(RuleError, match="acme-motd: schema"):
        load_rules(tmp_path)
