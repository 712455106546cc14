"""`hikscan audit` in network namespaces: the scan identifies the lab devices, the audit reads them.

Needs root (ip netns); skipped otherwise. The lab records every HTTP request it receives.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from lab_audit import (
    EXPECTED_STATUS,
    check_read_only,
    check_settings,
    check_verdicts,
    credentials_file,
    read_log,
)
from netns import lab_namespaces

from hikscan.knowledge.audit_policy import load_audit_policy
from hikscan.lab.profiles import LAB_PASSWORD, default_lab

pytestmark = pytest.mark.netns

PROFILES = default_lab(audit=True)
CHECKS = {r.id: r.check for r in load_audit_policy().rules}
CLI = "import sys; from hikscan.cli.app import main; sys.exit(main())"


def test_audit_of_the_lab_reads_judges_and_only_reads(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    creds = credentials_file(tmp_path / "creds.toml")
    out, inv_out = tmp_path / "audit.json", tmp_path / "audit-lockout.json"
    with lab_namespaces(n_addresses=len(PROFILES)) as net:
        net.start_lab("--audit", "--request-log", str(log), "--stream-limit", "20", timeout=60)
        began = time.monotonic()
        proc = net.run_in(
            net.scan_ns,
            [
                net.python,
                "-c",
                CLI,
                "audit",
                f"{net.base}0/24",
                "--credentials",
                str(creds),
                "-f",
                "json",
                "-o",
                str(out),
                "--rate",
                "50",
                "--timeout",
                "2",
                "--interface",
                net.scan_if,
                "--scan-rate",
                "100",
            ],
            timeout=180,
        )
        elapsed = time.monotonic() - began
        assert proc.returncode == 0, proc.stderr[-2000:]
        first_run = read_log(log)
        # the lockout device, twice more, from the inventory the first run wrote
        lockout_ip = next(p.ip for p in PROFILES if p.name == "audit-lockout")
        runs = []
        for _ in range(2):
            before = len(read_log(log))
            again = net.run_in(
                net.scan_ns,
                [
                    net.python,
                    "-c",
                    CLI,
                    "audit",
                    lockout_ip,
                    "--inventory",
                    str(out),
                    "--credentials",
                    str(creds),
                    "-f",
                    "json",
                    "-o",
                    str(inv_out),
                ],
            )
            assert again.returncode == 0, again.stderr[-2000:]
            audit = json.loads(inv_out.read_text())["devices"][0]["audit"]
            runs.append(
                (audit["status"], sum(e["auth"] for e in read_log(log)[before:] if e["ip"] == lockout_ip))
            )
            for text in (again.stdout, again.stderr, inv_out.read_text()):
                assert LAB_PASSWORD not in text
    doc = json.loads(out.read_text())
    assert len(doc["devices"]) >= 12, (proc.stderr[-2000:], [d["ip"] for d in doc["devices"]], doc["stats"])
    by_ip = {d["ip"]: d for d in doc["devices"]}
    for p in PROFILES:
        if p.name in ("web-server", "windows-pc"):
            assert by_ip.get(p.ip, {}).get("audit", {}).get("status", "unsupported") == "unsupported"
            continue
        dev = by_ip[p.ip]
        assert dev["audit"]["status"] == EXPECTED_STATUS[p.name], (p.name, dev["audit"]["reason"])
        if EXPECTED_STATUS[p.name] == "ok":
            check_settings(p, dev["audit"])
            check_verdicts(p, dev["audit"], CHECKS)
    assert any(
        h.startswith("2 of ") and "Hik-Connect enabled; 1 registered" in h
        for h in doc["summary"]["headlines"]
    )
    # read-only: what carried credentials was a known read; everything else a GET or an ONVIF Get*
    check_read_only([e for e in first_run if e["auth"]])
    for e in first_run:
        assert e["method"] == "GET" or (e["method"] == "POST" and e["action"].startswith("Get")), e
    # manners: one attempt for a wrong password; hostile devices cut short
    by_name = {p.name: p.ip for p in PROFILES}
    assert sum(e["auth"] for e in first_run if e["ip"] == by_name["audit-wrong-password"]) == 1
    assert sum(e["auth"] for e in first_run if e["ip"] == by_name["audit-401-forever"]) == 1
    assert by_ip[by_name["audit-endless-xml"]]["audit"]["bytes"] <= 256 * 1024
    assert elapsed < 120
    # lockout: 1st run 1 failure, 2nd run the 2nd failure locks (the device says so), 3rd run sends nothing
    assert runs == [("locked", 1), ("locked", 0)]
    for text in (proc.stdout, proc.stderr, out.read_text(), log.read_text()):
        assert LAB_PASSWORD not in text
