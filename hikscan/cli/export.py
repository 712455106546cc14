"""`hikscan export suricata|zeek-intel`: the rules compiled for the sensors a site already runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hikscan import __version__
from hikscan.errors import UsageError
from hikscan.report.output import open_output


@dataclass
class ExportRequest:
    target: str
    rules_dir: Path | None = None
    output: Path | None = None
    high_risk_owned: bool = False
    high_risk_located: bool = False
    asn_db: Path | None = None
    geoip_db: Path | None = None


def run_export(request: ExportRequest) -> int:
    from hikscan.knowledge.rules import load_rules
    from hikscan.report.exporters import EXPORTERS, ExportOptions
    from hikscan.report.exporters.common import high_risk_located, high_risk_owned

    exporter = EXPORTERS.get(request.target)
    if exporter is None:
        raise UsageError(f"export {request.target!r}: choose one of {', '.join(EXPORTERS)}")
    for db in (request.asn_db, request.geoip_db):
        if db is not None and not db.is_file():
            raise UsageError(f"{db}: no such file")
    rules = load_rules(request.rules_dir)
    options = ExportOptions(
        source_note=f"hikscan {__version__}, rules sha256 {rules.digest} ({len(rules.files)} files)"
    )
    try:
        if request.high_risk_owned:
            options.high_risk += high_risk_owned(rules, request.asn_db)
        if request.high_risk_located:
            options.high_risk += high_risk_located(rules, request.geoip_db)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the address database: {exc}") from None
    text = exporter(rules, options)
    with open_output(request.output, atomic=True) as out:
        out.write(text)
    return 0
