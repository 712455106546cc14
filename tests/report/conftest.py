"""Fixtures of the report tests: an engine that has read the bench's many-findings capture."""

from __future__ import annotations

from pathlib import Path

import pytest
from script_module import load_script

from hikscan.knowledge.geo import GeoLookup
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import load_rules
from hikscan.passive.engine import Engine


def many_findings_capture(path: Path) -> None:
    """Cameras talking to many remotes in high-risk and other countries (the bench's own generator)."""
    load_script("make_bench_pcap").write_capture(path, 20_000, 3, "many-findings")


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("many") / "many.pcap"
    many_findings_capture(path)
    eng = Engine(load_rules(), GeoLookup(), OuiTable.load())
    eng.run_files([path])
    eng.finish()
    return eng
