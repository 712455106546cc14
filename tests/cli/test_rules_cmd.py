"""`hikscan rules list | check | test-value` as a responder uses them: output and exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from hikscan.cli import app as cli
from hikscan.cli.rules import rules_app
from hikscan.knowledge.rules import default_rules

ACTIVE = Path(__file__).resolve().parents[1] / "data" / "active"
TSV = Path("/work/shared/data/passive/cctv_cloud_endpoints.tsv")


@pytest.fixture(autouse=True)
def _rules_mounted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run through hikscan.cli.app.main; until cli.py mounts `rules`, mount it on a stand-in root app
    exactly as the lead will (`app.add_typer(rules_app, name="rules")`)."""
    if not any(g.name == "rules" for g in cli.app.registered_groups):
        app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        app.callback()(lambda: None)
        app.add_typer(rules_app, name="rules")
        monkeypatch.setattr(cli, "app", app)
    yield


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["rules", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _write(directory: Path, kind: str, rules: list[dict[str, Any]]) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / f"{kind}.yaml").write_text(
        yaml.safe_dump({"kind": kind, "rules": rules}, allow_unicode=True)
    )
    return directory


def _openapi_cloud() -> dict[str, Any]:
    """A responder's rule for a real endpoint (cctv_cloud_endpoints.tsv line `open.hik-connect.com`)
    that the defaults only cover through the generic hik-connect.com suffix."""
    row = "open.hik-connect.com\tdomain\tHik-Connect OpenAPI\t443/tcp"
    if TSV.is_file():
        row = next(line for line in TSV.read_text(encoding="utf-8").splitlines() if line.startswith("open."))
    domain, _, service, port = row.split("\t")[:4]
    return {
        "id": "hik-connect-openapi",
        "status": "experimental",
        "vendor": "HikVision",  # an alias: the loader canonicalises it
        "service": service,
        "domains": [domain],
        "ports": [port],
        "confidence": 0.8,
        "source": "cctv_cloud_endpoints.tsv - open.hik-connect.com (partner/OpenAPI)",
        "examples": [{"name": f"API.{domain}."}, {"name": "apiieu.hik-connect.com", "expect": None}],
    }


def test_check_default_rules_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check")
    n = sum(
        len(r.examples)
        for rs in [default_rules()]
        for r in (
            *rs.fingerprints,
            *rs.clouds,
            *rs.signatures,
            *rs.cves,
            *rs.policy.rules.values(),
            *rs.networks.networks,
        )
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == f"{n} examples, {n} passed, 0 failed"
    assert "FAIL" not in out


def test_check_good_user_cloud_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = _write(tmp_path / "my-rules", "clouds", [_openapi_cloud()])
    code, out, _ = run(capsys, "check", "--rules", str(mine), "--only-user")
    assert code == 0
    assert out.splitlines()[-1] == "2 examples, 2 passed, 0 failed"
    assert f"{len(default_rules().clouds) + 1} clouds" in out.splitlines()[0]  # the defaults plus this one
    code, out, _ = run(capsys, "check", "--rules", str(mine), "--only-user", "-v")
    assert "ok   cloud:hik-connect-openapi#1: counter-example 'apiieu.hik-connect.com' -> hik-connect" in out
    code, out, _ = run(capsys, "check", "--rules", str(mine))
    assert code == 0 and re.search(r"^(\d+) examples, \1 passed, 0 failed$", out, re.M)


def test_check_failing_example_exits_1_naming_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = _openapi_cloud()
    rule["examples"].append({"name": "open.hik-connect.com.evil.example"})  # not a suffix match
    mine = _write(tmp_path / "my-rules", "clouds", [rule])
    code, out, err = run(capsys, "check", "--rules", str(mine))
    assert (code, err) == (1, "")
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert fails == [
        "FAIL cloud:hik-connect-openapi#2: 'open.hik-connect.com.evil.example' resolved to None, "
        "expected hik-connect-openapi"
    ]
    assert out.splitlines()[-1].endswith(" passed, 1 failed")


def test_check_fingerprint_overruled_by_default_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = {
        "id": "acme-webs",
        "status": "experimental",
        "description": "Acme OEM NVR web server",
        "key": "http.server",
        "pattern": "^(?:DNVRS|Acme)-Webs$",
        "sets": {"vendor": "Dahua"},
        "confidence": 0.6,
        "source": "site survey (test)",
        "examples": [
            {"value": "Acme-Webs", "expect": {"vendor": "Dahua"}},
            {"value": "DNVRS-Webs", "expect": {"vendor": "Dahua"}},
        ],
    }
    mine = _write(tmp_path / "my-rules", "fingerprints", [rule])
    code, out, _ = run(capsys, "check", "--rules", str(mine), "--only-user")
    assert code == 1
    # the default Hikvision rule outranks it for this banner: the engine would report Hikvision
    overruled = "'DNVRS-Webs': the engine reports vendor = 'Hikvision', expected 'Dahua'"
    assert f"FAIL fingerprint:acme-webs#1: {overruled}" in out
    assert "FAIL fingerprint:acme-webs#0" not in out  # Acme-Webs: only this rule matches, Dahua it is
    assert out.splitlines()[-1] == "2 examples, 1 passed, 1 failed"


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (lambda r: r.update(status="beta"), "rule hik-connect-openapi: schema: 'beta' is not one of"),
        (lambda r: r.update(examples=[]), "rule hik-connect-openapi: schema:"),
        (lambda r: r.update(vendor="HikVsion"), "rule hik-connect-openapi: unknown vendor 'HikVsion'"),
        (lambda r: r.update(id="hik-connect"), "rule hik-connect: duplicate id"),
    ],
)
def test_check_broken_rules_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any, complaint: str
) -> None:
    rule = _openapi_cloud()
    edit(rule)
    mine = _write(tmp_path / "my-rules", "clouds", [rule])
    code, out, err = run(capsys, "check", "--rules", str(mine))
    assert (code, out) == (2, "")
    assert err.startswith("hikscan: error: ") and err.count("\n") == 1
    assert complaint in err and "clouds.yaml" in err


def test_check_bad_yaml_and_missing_dir_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "my-rules"
    mine.mkdir()
    (mine / "clouds.yaml").write_text("kind: clouds\nrules:\n  - id: [unclosed\n")
    code, _, err = run(capsys, "check", "--rules", str(mine))
    assert code == 2 and err.count("\n") == 1 and "invalid YAML" in err
    code, _, err = run(capsys, "check", "--rules", str(tmp_path / "absent"))
    assert code == 2 and "no such rule file or directory" in err
    code, _, err = run(capsys, "check", "--only-user")
    assert code == 2 and err == "hikscan: error: --only-user needs --rules DIR\n"


def test_list_shows_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    rules = default_rules()
    assert code == 0
    for rid in (
        rules.fingerprints[0].id,
        rules.clouds[-1].id,
        rules.cves[0].id,
        "cctv-fleet-new-destination",
    ):
        assert re.search(rf"│ {re.escape(rid)} +│", out), rid
    mine = _write(tmp_path / "my-rules", "clouds", [_openapi_cloud()])
    code, out, _ = run(capsys, "list", "--rules", str(mine), "--kind", "clouds", "--format", "json")
    rows = json.loads(out)
    assert {r["kind"] for r in rows} == {"cloud"} and len(rows) == len(rules.clouds) + 1
    mine_row = next(r for r in rows if r["id"] == "hik-connect-openapi")
    assert mine_row["vendor"] == "Hikvision" and mine_row["service"] == "Hik-Connect OpenAPI"
    assert mine_row["status"] == "experimental" and mine_row["examples"] == 2


def test_list_unknown_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "list", "--kind", "camera")
    assert (code, out) == (2, "") and err.startswith("hikscan: error:") and "'camera' is not one of" in err


@pytest.mark.parametrize(
    ("key", "value", "rule", "sets"),
    [
        ("http.server", "DNVRS-Webs", "hikvision-http-server-webs", "vendor=Hikvision family=hikvision"),
        ("http.server", "Hikvision-Webs", "hikvision-http-server-webs", "vendor=Hikvision family=hikvision"),
    ],
)
def test_test_value_real_banner(
    capsys: pytest.CaptureFixture[str], key: str, value: str, rule: str, sets: str
) -> None:
    code, out, _ = run(capsys, "test-value", key, value)
    assert code == 0
    assert re.search(rf"│ 1 │ {rule} +│ {sets} +│ 0\.6 ", out), out
    assert out.splitlines()[-1].endswith(f": {rule}")


def test_test_value_real_sadp_field(capsys: pytest.CaptureFixture[str]) -> None:
    reply = (ACTIVE / "sadp_response_2_DS-2CD2385G1-I.xml").read_text(encoding="utf-8")
    firmware = re.search(r"<SoftwareVersion>([^<]*)<", reply)
    assert firmware is not None
    code, out, _ = run(capsys, "test-value", "sadp.SoftwareVersion", firmware.group(1))
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("│")]
    assert "sadp-software-version" in lines[0] and "firmware=V5.6.2build 190701" in lines[0]
    assert "sadp-any-reply" in lines[1] and "family=hikvision" in lines[1]  # the `sadp.*` rule, second


def test_test_value_no_match_and_unknown_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "test-value", "http.server", "nginx/1.24.0")
    assert code == 1 and "no match among" in out
    code, out, _ = run(capsys, "test-value", "http.servr", "DNVRS-Webs")
    assert code == 1 and "no fingerprint rule uses key 'http.servr'" in out and "http.server" in out


def test_test_value_sees_user_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rule = {
        "id": "acme-nvr-title",
        "status": "experimental",
        "description": "Acme-branded Hikvision NVR web UI title",
        "key": "http.title",
        "pattern": "^Acme (NVR-[0-9]+)$",
        "sets": {"family": "hikvision", "model": "{1}"},
        "confidence": 0.5,
        "source": "site survey (test)",
        "examples": [{"value": "Acme NVR-7608", "expect": {"model": "NVR-7608"}}],
    }
    mine = _write(tmp_path / "my-rules", "fingerprints", [rule])
    code, out, _ = run(capsys, "test-value", "http.title", "Acme NVR-7608", "--rules", str(mine))
    assert code == 0 and re.search(r"│ 1 │ acme-nvr-title +│ family=hikvision model=NVR-7608 ", out)
