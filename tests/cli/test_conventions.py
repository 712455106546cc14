"""Command-line conventions: several reports per run, ISO 3166 home country, readable help printed once,
shell completion, a man page that matches the CLI, and metadata in every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hikscan.cli.country import iso_country
from hikscan.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
INCIDENT = ROOT / "pcaps" / "incident_fleet_china.pcapng"
UK_ONLY = ROOT / "pcaps" / "uk_only_cameras.pcap"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    command = [sys.executable, "-m", "hikscan", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, env=full_env)


def test_several_formats_in_one_run(tmp_path: Path) -> None:
    outs = {fmt: tmp_path / f"r.{fmt}" for fmt in ("json", "html", "jsonl", "ecs", "cef", "csv")}
    args = [a for fmt, p in outs.items() for a in ("-f", fmt, "-o", str(p))]
    done = run("analyze", str(INCIDENT), "--fail-on", "none", *args)
    assert done.returncode == 0, done.stderr
    doc = json.loads(outs["json"].read_text())
    n = len(doc["findings"])
    assert n > 0
    lines = [json.loads(x) for x in outs["jsonl"].read_text().splitlines()]
    assert sum(x["type"] == "finding" for x in lines) == n
    ecs = [json.loads(x) for x in outs["ecs"].read_text().splitlines()]
    assert sum(x["event"]["kind"] == "alert" for x in ecs) == n
    assert outs["cef"].read_text().count("cat=hikscan/finding") == n
    assert outs["html"].read_text().count("<tr><td class='sev-") == n


@pytest.mark.parametrize(
    "args, message",
    [
        (["-f", "json", "-f", "html", "-o", "a.json"], "give one -o per -f"),
        (["-f", "json", "-f", "html"], "need one --output each"),
        (["-f", "json", "-o", "same.out", "-f", "csv", "-o", "same.out"], "given twice"),
        (["-f", "json", "-o", "a.json", "--syslog"], "use it with -f cef"),
    ],
)
def test_mismatched_formats_and_outputs_are_usage_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    args = [str(tmp_path / a) if a.endswith((".json", ".out")) else a for a in args]
    done = run("analyze", str(INCIDENT), *args)
    assert done.returncode == 2 and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_home_country_is_iso_3166(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    done = run("analyze", str(UK_ONLY), "--home-country", "UK", "-f", "json", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "UK is not an ISO 3166 code; using GB" in done.stderr
    doc = json.loads(out.read_text())
    assert doc["meta"]["settings"]["home_country"] == "GB"
    assert not [f for f in doc["findings"] if f["remote"].get("country") == "GB"]  # home is home
    for bad in ("XX", "Britain", "G1", "ZZZ"):
        done = run("analyze", str(UK_ONLY), "--home-country", bad)
        assert done.returncode == 2, bad
        assert "not an ISO 3166 two-letter country code" in done.stderr and done.stderr.count("\n") == 1


def test_iso_country_table() -> None:
    assert iso_country("gb") == ("GB", None)
    assert iso_country("IE") == ("IE", None)
    assert iso_country("GBR")[0] == "GB" and iso_country("EL")[0] == "GR"
    with pytest.raises(UsageError):
        iso_country("EU")  # reserved, not a country


def test_bare_command_prints_help_once() -> None:
    done = run()
    assert done.returncode == 2
    assert (done.stdout + done.stderr).count("Usage: hikscan") == 1


@pytest.mark.parametrize("command", ["analyze", "scan", "watch", "rules", "rules list"])
def test_help_has_no_python_type_names(command: str) -> None:
    done = run(*command.split(), "--help")
    assert done.returncode == 0
    for word in ("<bool>", "<str>", "<path>", "<list[", "<float>", "<int>", "Path]"):
        assert word not in done.stdout, (command, word)


def test_shell_completion_completes_commands_and_formats() -> None:
    done = run("--show-completion", "bash", env={"SHELL": "/bin/bash"})
    assert done.returncode == 0 and "_HIKSCAN_COMPLETE" in done.stdout
    env = {"_HIKSCAN_COMPLETE": "complete_bash", "COMP_WORDS": "hikscan ana", "COMP_CWORD": "1"}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from hikscan.cli.app import main; sys.exit(main())"],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )  # fmt: skip
    assert "analyze" in done.stdout
    env = {**env, "COMP_WORDS": "hikscan analyze -f e", "COMP_CWORD": "3"}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from hikscan.cli.app import main; sys.exit(main())"],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )  # fmt: skip
    assert "ecs" in done.stdout


def test_man_page_is_generated_from_the_cli(tmp_path: Path) -> None:
    fresh = tmp_path / "hikscan.1"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_man.py"), str(fresh)], check=True, timeout=60
    )
    committed = (ROOT / "docs" / "hikscan.1").read_text()
    assert fresh.read_text() == committed, "docs/hikscan.1 is stale: run `make man`"
    for text in (".SS hikscan analyze", ".SS hikscan scan", "\\-\\-home\\-country", "\\-\\-syslog", "ecs"):
        assert text in committed
