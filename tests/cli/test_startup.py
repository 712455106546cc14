"""Start-up: `hikscan analyze` imports only what a plain run uses; the rest comes where it is needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# What a plain `analyze` of one capture never needs: the JSON Schema checker and PyYAML (stamped bundled
# rules, no output validation), the progress bar (--progress), the process pool (several captures),
# dnspython (until a DNS payload is parsed), rich (the table and HTML writers).
LAZY = (
    "jsonschema",
    "yaml",
    "rich.progress",
    "rich.console",
    "concurrent.futures.process",
    "dns.message",
    "dns.name",
)

PROBE = """
import json, sys
import hikscan.cli.app, hikscan.cli.analyze
from hikscan.knowledge.rules import load_rules
load_rules()
print(json.dumps(sorted(m for m in {lazy!r} if m in sys.modules)))
"""


def _loaded(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    loaded: list[str] = json.loads(out.strip().splitlines()[-1])
    return loaded


def test_analyze_start_up_leaves_the_heavy_modules_out() -> None:
    assert _loaded(PROBE.format(lazy=LAZY)) == []


def test_the_lazy_modules_come_when_they_are_needed() -> None:
    code = PROBE.format(lazy=LAZY) + (
        "from hikscan.knowledge.rules import load_rules as full\n"
        "full(full_check=True)\n"
        "from hikscan.protocols.dns import parse_dns\n"
        "from hikscan.cli.analyze import ProcessPoolExecutor\n"
        "ProcessPoolExecutor(1).shutdown()\n"
        f"print(json.dumps(sorted(m for m in {LAZY!r} if m in sys.modules)))\n"
    )
    assert _loaded(code) == sorted(set(LAZY) - {"rich.progress", "rich.console"})


def test_the_lazy_writer_registry_names_each_class_by_its_own_name() -> None:
    from hikscan.report.writers import FORMATS, WRITERS

    assert FORMATS == ("table", "json", "jsonl", "csv", "html", "ecs", "cef")
    for fmt in FORMATS:
        assert WRITERS[fmt].name == fmt
    assert "xml" not in WRITERS and len(WRITERS) == len(FORMATS)


# Never loaded by a whole `analyze` run: pydantic (~8 MiB of memory; typer 0.29 imports it on every run,
# so pyproject keeps typer below it).
NEVER = ("pydantic", "pydantic_core")

RUN = """
import json, os, sys
from hikscan.cli.app import main
code = main(["analyze", {capture!r}, "-f", "json", "-o", os.devnull, "--fail-on", "none"])
print(json.dumps([code, sorted(m for m in {never!r} if m in sys.modules)]))
"""


def test_an_analysis_does_not_load_pydantic() -> None:
    capture = str(Path(__file__).resolve().parents[2] / "pcaps" / "incident_fleet_china.pcapng")
    code, loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", RUN.format(capture=capture, never=NEVER)],
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout.strip().splitlines()[-1]
    )  # fmt: skip
    assert code == 0 and loaded == []
