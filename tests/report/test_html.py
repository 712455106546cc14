"""The HTML report, rendered for real in headless Chromium (Debian chromium + chromium-driver, Selenium).

The report is made by the CLI from the bundled scenario captures (analyze) and from a scan of the
loopback lab (scan); Chromium loads the file with networking off and the test reads what a reader sees:
the key numbers, the drawn charts, no console errors. A screenshot is saved under the test's tmp dir.
Skips only when Chromium (or its driver) is not installed; .ci/run installs both.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_siem import check_ecs, ecs_fields

from hikscan.knowledge.rules import load_rules
from hikscan.lab.profiles import default_lab
from hikscan.lab.server import Lab
from hikscan.report.writers import WRITERS

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1400,1800")  # fmt: skip
HOSTILE_NAME = '<script>alert(1)</script>[/]\x1b[31m=HYPERLINK("x")&amp;'

needs_chromium = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)),
    reason="Debian chromium + chromium-driver not installed (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        pytest.skip("chromium not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def hikscan(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hikscan", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def load(browser: Any, path: Path) -> Any:
    browser.get(path.as_uri())
    browser.get_log("browser")  # drop anything from before this page
    browser.refresh()
    return browser


def text_of(browser: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.CSS_SELECTOR, selector).text)


def static_checks(html: str) -> None:
    """Self-contained: nothing that loads (script, link, img, src/href, CSS url/import); a CSP forbids it."""
    lowered = html.lower()
    for construct in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "url(", "@import"):
        assert construct not in lowered, construct
    assert not re.search(r"\s(src|href|srcset|action)=", lowered)
    assert "default-src 'none'" in html


def fetched(browser: Any) -> list[str]:
    """Every resource the page loaded (beyond the page itself), as the browser recorded them."""
    return list(browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"))


@needs_chromium
def test_analyze_report_renders_with_the_numbers_of_the_json(browser: Any, tmp_path: Path) -> None:
    page, doc_path = tmp_path / "report.html", tmp_path / "report.json"
    done = hikscan("analyze", str(ROOT / "pcaps"), "--fail-on", "none",
                   "-f", "html", "-o", str(page), "-f", "json", "-o", str(doc_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    html, doc = page.read_text(), json.loads(doc_path.read_text())
    static_checks(html)
    estate, findings = doc["summary"]["estate"], doc["findings"]
    load(browser, page)
    from selenium.webdriver.common.by import By

    assert text_of(browser, "#estate-headline") == estate["headline"]
    assert re.fullmatch(r"\d+ of \d+ devices are \w+ family", estate["headline"])
    assert text_of(browser, "#kpi-devices .n") == str(len(doc["devices"])) == str(estate["devices"])
    assert text_of(browser, "#kpi-findings .n") == str(len(findings))
    high = sum(f["severity"] == "high" for f in findings)
    assert high > 0 and text_of(browser, "#kpi-high .n") == str(high)
    assert text_of(browser, "#kpi-ndaa .n") == str(estate["ndaa889_devices"])
    # the destination chart: one located bar per country, drawn with a width, counts = distinct servers
    located: dict[str, set[str]] = {}
    for f in findings:
        if not f["device"].get("members"):
            located.setdefault(f["remote"]["country"] or "unknown", set()).add(f["remote"]["ip"])
    bars = browser.find_elements(By.CSS_SELECTOR, "#country-chart rect.bar-located")
    drawn = {b.get_attribute("data-country"): int(b.get_attribute("data-n")) for b in bars}
    assert {c: n for c, n in drawn.items() if n} == {c: len(ips) for c, ips in located.items()}
    assert all(float(b.get_attribute("width")) > 0 for b in bars if b.get_attribute("data-n") != "0")
    chart = browser.find_element(By.ID, "country-chart")
    assert chart.is_displayed() and chart.size["width"] > 300 and chart.size["height"] > 50
    # a timeline per device with external contacts, each contact a visible bar
    devices = {(f.get("capture"), f["device"].get("ip")) for f in findings if not f["device"].get("members")}
    timelines = browser.find_elements(By.CSS_SELECTOR, "svg.timeline")
    assert len(timelines) == len(devices)
    assert all(t.size["height"] > 20 for t in timelines)
    contacts = browser.find_elements(By.CSS_SELECTOR, "svg.timeline rect.contact")
    assert len(contacts) == sum(1 for f in findings if not f["device"].get("members"))
    # findings table: every finding, highest severity first; the metadata names the rule hash
    rows = browser.find_elements(By.CSS_SELECTOR, "#findings table.findings tr")[1:]
    fleet = browser.find_elements(By.CSS_SELECTOR, "#fleet table.findings tr")[1:]
    assert len(rows) + len(fleet) == len(findings)
    assert rows[0].find_element(By.CSS_SELECTOR, "td").text == "high"
    assert doc["meta"]["rules"]["sha256"] in text_of(browser, "#meta")
    assert doc["meta"]["version"] in text_of(browser, "#meta")
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    assert fetched(browser) == []
    assert browser.execute_script("return document.scripts.length") == 0
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]  # no sideways scrolling at 1400 px
    shot = tmp_path / "report.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000


@pytest.fixture(scope="module")
def lab_ips() -> Iterator[list[str]]:
    base = f"127.77.{100 + (os.getpid() + 7) % 150}."
    profiles = default_lab(base=base)
    lab = Lab(profiles)
    stop = threading.Event()
    runner = threading.Thread(target=lab.run, args=(stop,), daemon=True)
    runner.start()
    try:
        assert lab.ready.wait(10)
        yield [p.ip for p in profiles]
    finally:
        stop.set()
        runner.join(5)


@needs_chromium
def test_scan_report_answers_the_estate_question(browser: Any, lab_ips: list[str], tmp_path: Path) -> None:
    page, doc_path, ecs_path = tmp_path / "scan.html", tmp_path / "scan.json", tmp_path / "scan.ecs"
    cef_path = tmp_path / "scan.cef"
    outputs = {"html": page, "json": doc_path, "ecs": ecs_path, "cef": cef_path}
    args = [a for fmt, path in outputs.items() for a in ("-f", fmt, "-o", str(path))]
    done = hikscan("scan", *lab_ips, "--timeout", "1", *args)
    assert done.returncode == 0, done.stderr
    doc = json.loads(doc_path.read_text())
    events = [json.loads(line) for line in ecs_path.read_text().splitlines()]
    for event in events:
        check_ecs(event, ecs_fields())
        assert event["observer"]["type"] == "scanner"
    hosts = [e for e in events if e["event"]["kind"] == "state"]
    assert [e["host"]["ip"] for e in hosts] == [[d["ip"]] for d in doc["devices"]]
    assert cef_path.read_text().count("cat=hikscan/device") == len(doc["devices"])
    estate = doc["summary"]["estate"]
    families = {f["family"]: f["devices"] for f in estate["by_family"]}
    vendors = [d.get("vendor") for d in doc["devices"]]
    # each device's family from the vendor vocabulary (an OEM brand such as CP PLUS rolls up to dahua)
    vocabulary = load_rules().vendors
    expected = Counter(vocabulary[v].family if v else "unknown" for v in vendors)
    assert families == dict(expected) and expected["hikvision"] >= 2
    assert estate["ndaa889_devices"] == expected["hikvision"] + expected["dahua"]
    # the scan's headline counts what answered; the estate's counts families (both are in the report)
    assert re.fullmatch(r"\d+ of \d+ responding hosts \(\d+ addresses probed\) are Hikvision/Dahua family",
                        doc["summary"]["headline"])  # fmt: skip
    assert re.fullmatch(r"\d+ of \d+ devices are \w+ family", estate["headline"])
    subnet = estate["by_subnet"][0]
    assert subnet["subnet"].endswith(".0/24") and subnet["devices"] == len(vendors)
    static_checks(page.read_text())
    load(browser, page)
    from selenium.webdriver.common.by import By

    assert text_of(browser, "#estate-headline") == estate["headline"]
    assert text_of(browser, "#kpi-devices .n") == str(len(doc["devices"]))
    assert text_of(browser, "#kpi-unactivated .n") == str(estate["unactivated"])
    marks = browser.find_elements(By.CSS_SELECTOR, "table.devices .ndaa")
    assert len(marks) == estate["ndaa889_devices"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.devices tr")) == len(doc["devices"]) + 1
    assert not browser.find_elements(By.ID, "findings")  # scan has no findings section
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    browser.save_screenshot(str(tmp_path / "scan.png"))


@needs_chromium
def test_hostile_strings_are_shown_as_text(browser: Any, tmp_path: Path) -> None:
    from test_writers import _device, _finding, _meta

    out = io.StringIO()
    writer = WRITERS["html"](out, "analyze")
    writer.begin(_meta())
    writer.section(HOSTILE_NAME, {"packets": 1, "warnings": [HOSTILE_NAME]})
    writer.finding(_finding(HOSTILE_NAME))
    writer.device(_device(HOSTILE_NAME))
    writer.end({"headline": HOSTILE_NAME, "notes": [HOSTILE_NAME]}, [{"packets": 1}], _meta())
    html = out.getvalue()
    assert "\x1b" not in html and "<script>alert" not in html
    page = tmp_path / "hostile.html"
    page.write_text(html, encoding="utf-8")
    load(browser, page)
    assert browser.execute_script("return document.scripts.length") == 0
    body = text_of(browser, "body")
    shown = HOSTILE_NAME.replace("\x1b", "\\x1b")
    assert shown in body  # the exact text, markup and all, as data
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
