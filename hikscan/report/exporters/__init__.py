"""Exporters: the rules compiled for sensors that already run at line rate (Suricata, Zeek Intel).

Each exporter is one module with `export(rules, options) -> str`; EXPORTERS maps the CLI name to it.
Deprecated rules are never exported; every exported rule names the hikscan rule id it came from.
"""

from __future__ import annotations

from collections.abc import Callable

from hikscan.knowledge.rules import RuleSet
from hikscan.report.exporters import suricata, zeek_intel
from hikscan.report.exporters.common import ExportOptions

Exporter = Callable[[RuleSet, ExportOptions], str]

EXPORTERS: dict[str, Exporter] = {
    "suricata": suricata.export,
    "zeek-intel": zeek_intel.export,
}

__all__ = ["EXPORTERS", "ExportOptions", "Exporter"]
