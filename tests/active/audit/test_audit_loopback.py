"""`hikscan audit` end to end against the lab on 127.77.11.x (unicast only, no namespace needed).

The lab logs every HTTP request it receives; the CLI runs as a subprocess so its stdout, stderr
and output file can be searched for the password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
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

from hikscan.knowledge.audit_policy import load_audit_policy
from hikscan.lab.profiles import LAB_PASSWORD, ONVIF, default_lab
from hikscan.lab.server import Lab

BASE = "127.77.11."
PROFILES = default_lab(base=BASE, audit=True)
BY_IP = {p.ip: p for p in PROFILES}
CHECKS = {r.id: r.check for r in load_audit_policy().rules}
HIKSCAN = [sys.executable, "-c", "import sys; from hikscan.cli.app import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Path]]:
    if os.geteuid() != 0:
        pytest.skip("the lab binds the devices' real ports (80, 554, …): needs root")
    log = tmp_path_factory.mktemp("lab") / "requests.jsonl"
    lab = Lab(PROFILES, allow_root_netns=True, request_log=str(log), stream_limit=15)
    stop = threading.Event()
    thread = threading.Thread(target=lab.run, args=(stop,), daemon=True)
    thread.start()
    if not lab.ready.wait(15):
        pytest.skip("lab did not start (addresses in use by another run?)")
    yield lab, log
    stop.set()
    thread.join(10)


def inventory(path: Path, names: set[str] | None = None) -> Path:
    """What a scan reports about the lab devices (vendor by firmware family, ONVIF evidence)."""
    records = []
    for p in PROFILES:
        if names is not None and p.name not in names:
            continue
        family = p.kind.split("-")[0]
        vendor = {"hikvision": "Hikvision", "dahua": "Dahua", "axis": "Axis"}.get(family)
        evidence = (
            [{"source": "onvif", "key": "onvif.Model", "value": p.model}] if ONVIF in p.services else []
        )
        records.append({"ip": p.ip, "vendor": vendor, "model": p.model, "evidence": evidence})
    path.write_text(json.dumps({"devices": records, "summary": {}}))
    return path


def hikscan(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*HIKSCAN, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def test_audit_reads_every_setting_and_judges_it(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, log = lab
    start = len(read_log(log))
    creds = credentials_file(tmp_path / "creds.toml")
    out = tmp_path / "audit.json"
    began = time.monotonic()
    proc = hikscan(
        "audit",
        "--inventory",
        str(inventory(tmp_path / "inv.json")),
        "--credentials",
        str(creds),
        "--format",
        "json",
        "-o",
        str(out),
        "--rate",
        "50",
        "--timeout",
        "2",
    )
    elapsed = time.monotonic() - began
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    by_ip = {d["ip"]: d for d in doc["devices"]}
    for ip, p in BY_IP.items():
        dev = by_ip[ip]
        if p.name in ("web-server", "windows-pc"):
            assert dev["audit"]["status"] == "unsupported"
            continue
        assert dev["audit"]["status"] == EXPECTED_STATUS[p.name], (p.name, dev["audit"]["reason"])
        if p.name in {"hik-cam-1", "hik-cam-2", "hik-nvr", "dahua-cam", "axis-cam"}:
            check_settings(p, dev["audit"])
            check_verdicts(p, dev["audit"], CHECKS)
    # the inventory record gains what the device said about itself
    assert by_ip[BASE + "10"]["cloud_enabled"] is True and by_ip[BASE + "11"]["cloud_enabled"] is False
    headline = next(h for h in doc["summary"]["headlines"] if "Hikvision" in h)
    hik = [p for p in PROFILES if p.kind.startswith("hikvision")]
    on = [
        p
        for p in hik
        if p.audit
        and p.audit.cloud_enabled
        and not p.audit.behaviour
        and p.name in EXPECTED_STATUS
        and EXPECTED_STATUS[p.name] == "ok"
    ]
    registered = [p for p in on if p.audit and p.audit.cloud_registered]
    assert headline.startswith(
        f"{len(on)} of {len(hik)} Hikvision devices have Hik-Connect enabled; {len(registered)} registered"
    ), headline
    entries = read_log(log)[start:]
    check_read_only(entries)
    # one credential attempt for a wrong password, none repeated; hostile devices bounded
    wrong = [e for e in entries if e["ip"] == BASE + "20"]
    assert sum(e["auth"] for e in wrong) == 1 and len(wrong) == 2
    forever = [e for e in entries if e["ip"] == BASE + "22"]
    assert sum(e["auth"] for e in forever) == 1 and len(forever) == 2
    endless = by_ip[BASE + "23"]["audit"]
    assert endless["bytes"] <= 256 * 1024 and endless["requests"] <= 3
    assert elapsed < 30
    for text in (proc.stdout, proc.stderr, out.read_text(), log.read_text()):
        assert LAB_PASSWORD not in text
    assert "LABVCODE" not in out.read_text() and "LABDDNSPASS" not in out.read_text()


def test_table_output_and_the_password_never_printed(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    creds = credentials_file(tmp_path / "creds.toml")
    inv = inventory(tmp_path / "inv.json", {"hik-cam-1", "hik-nvr", "dahua-cam", "audit-wrong-password"})
    proc = hikscan(
        "audit", "--inventory", str(inv), "--fail-on", "high", env={"HIKSCAN_CREDENTIALS": str(creds)}
    )
    assert proc.returncode == 1, proc.stderr  # high-severity failures (cloud, UPnP, firmware)
    assert "2 of 3 Hikvision devices have Hik-Connect enabled; 1 registered" in proc.stdout
    assert "audit-cloud-registration-off" in proc.stdout and "litedev.hik-connect.com" in proc.stdout
    assert "credentials rejected" in proc.stdout
    assert LAB_PASSWORD not in proc.stdout + proc.stderr


def test_lockout_is_respected_across_runs(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, log = lab
    creds = credentials_file(tmp_path / "creds.toml")
    inv = inventory(tmp_path / "inv.json", {"audit-lockout"})
    ip = BASE + "21"
    server._auth.pop(ip, None)  # a fresh failure count, whatever ran before
    statuses, attempts = [], []
    for _ in range(3):
        before = len(read_log(log))
        proc = hikscan("audit", "--inventory", str(inv), "--credentials", str(creds), "-f", "json")
        assert proc.returncode == 0, proc.stderr
        statuses.append(json.loads(proc.stdout)["devices"][0]["audit"])
        attempts.append(sum(e["auth"] for e in read_log(log)[before:] if e["ip"] == ip))
    # the device locks on the 2nd failure and says so in that reply; the 3rd run sends no credential
    assert [s["status"] for s in statuses] == ["auth_failed", "locked", "locked"]
    assert attempts == [1, 1, 0]
    assert statuses[2]["retry_after"] and statuses[2]["retry_after"] > 500


def test_readable_credentials_file_is_refused_before_any_traffic(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, log = lab
    creds = credentials_file(tmp_path / "creds.toml")
    creds.chmod(0o644)
    before = len(read_log(log))
    proc = hikscan("audit", "--inventory", str(inventory(tmp_path / "inv.json")), "--credentials", str(creds))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "chmod 600" in proc.stderr and "Traceback" not in proc.stderr
    assert len(read_log(log)) == before
    assert LAB_PASSWORD not in proc.stdout + proc.stderr


def test_no_password_option_exists() -> None:
    proc = hikscan("audit", "--password", "x", "127.0.0.1")
    assert proc.returncode == 2 and "No such option" in proc.stderr
