"""The wheel carries everything the tool needs at run time: rules, databases, OUI table, lab templates."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_the_data(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
         str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = tmp_path.glob("hikscan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = {p.name for p in (ROOT / "rules").glob("*.yaml")} | {"schema.json"}
    assert {f"hikscan/ruledata/{name}" for name in rules} <= names
    assert {
        f"hikscan/data/{name}" for name in ("country.mmdb", "asn.mmdb", "geodb.json", "oui.tsv.gz", "NOTICE")
    } <= names
    templates = {p.name for p in (ROOT / "hikscan" / "lab" / "templates").iterdir()}
    assert {f"hikscan/lab/templates/{name}" for name in templates} <= names
    assert not [n for n in names if n.startswith(("tests/", "pcaps/", ".venv"))]
