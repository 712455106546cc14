"""The engine and pipeline tests run with both hot loops: the C record loop (hikscan/passive/_fastloop.c,
when it is built) and the Python one (HIKSCAN_PURE_PYTHON=1)."""

from __future__ import annotations

import pytest

from hikscan.passive import pipeline

BOTH_LOOPS = {"test_engine", "test_pipeline"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__.rpartition(".")[2] in BOTH_LOOPS:
        loops = ["c", "python"] if pipeline._fastloop is not None else ["python"]
        metafunc.parametrize("hot_loop", loops, indirect=True)


@pytest.fixture(autouse=True)
def hot_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The loop a test runs with ("c" or "python"), or the default one when it is not parametrised."""
    kind = getattr(request, "param", None)
    if kind is not None:
        monkeypatch.setenv("HIKSCAN_PURE_PYTHON", "1" if kind == "python" else "0")
    return kind or pipeline.hot_loop()
