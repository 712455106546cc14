"""Output formats: one module each, listed here. Adding a format is one module plus its tests.

A writer's module is imported when its format is asked for: the table and HTML writers bring rich and the
charts (~20 ms at start-up), which a JSON run never uses (tests/report/test_writers.py checks that each
name below is its class's `name`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from hikscan.report.writers.base import Writer

# format → (module in this package, class)
_WHERE: dict[str, tuple[str, str]] = {
    "table": ("table", "TableWriter"),
    "json": ("json_doc", "JsonWriter"),
    "jsonl": ("jsonl", "JsonlWriter"),
    "csv": ("csv_rows", "CsvWriter"),
    "html": ("html_page", "HtmlWriter"),
    "ecs": ("ecs", "EcsWriter"),
    "cef": ("cef", "CefWriter"),
}


class _Writers(Mapping[str, type[Writer]]):
    """Format name → writer class, each module imported on first use."""

    def __getitem__(self, name: str) -> type[Writer]:
        module, cls = _WHERE[name]
        writer: type[Writer] = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
        return writer

    def __iter__(self) -> Iterator[str]:
        return iter(_WHERE)

    def __len__(self) -> int:
        return len(_WHERE)


WRITERS: Mapping[str, type[Writer]] = _Writers()
FORMATS = tuple(WRITERS)
