"""Output formats: one module each, listed here. Adding a format is one module plus its tests."""

from __future__ import annotations

from hikscan.report.writers.base import Writer
from hikscan.report.writers.cef import CefWriter
from hikscan.report.writers.csv_rows import CsvWriter
from hikscan.report.writers.ecs import EcsWriter
from hikscan.report.writers.html_page import HtmlWriter
from hikscan.report.writers.json_doc import JsonWriter
from hikscan.report.writers.jsonl import JsonlWriter
from hikscan.report.writers.table import TableWriter

WRITERS: dict[str, type[Writer]] = {
    w.name: w for w in (TableWriter, JsonWriter, JsonlWriter, CsvWriter, HtmlWriter, EcsWriter, CefWriter)
}
FORMATS = tuple(WRITERS)
