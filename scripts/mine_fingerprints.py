#!/usr/bin/env python3
"""Mine CCTV-vendor fingerprints from public suites into hikscan rules, systematically.

Reads (nothing is downloaded; every source is a local file):
- nmap-service-probes from Debian's `nmap-common` (/usr/share/nmap/nmap-service-probes; NPSL, so
  facts are re-expressed: the Server header, realm, page title and product name each match line
  names, never its probe regex);
- nmap's favicon list (/usr/share/nmap/nselib/data/favicon-db: favicon MD5 -> product);
- recog XML (BSD-2): the project's shared extract (shared/data/active/recog_*.xml.txt) and any
  `recog_<file>.xml` fragments in the gitignored cache `.cache/mine/` (copied from rapid7/recog
  with the search tool's read_file; each starts with a comment naming file and commit);
- `*.tsv` extracts in the same cache (key, value, product name, source per line), e.g. the CCTV
  entries of nuclei's favicon-detect.yaml (MIT) and a sample of its other entries;
- CURATED facts below: values seen in public code and device tests, each with its source.

Writes:
- rules/fingerprints-mined.yaml: one rule per (vendor or family, evidence key), the pattern an
  alternation of the facts, every literal fact an example, the sources (file and line) kept;
- tests/data/mined/positives.tsv: every CCTV-vendor example (key, value, vendor, family, source),
  also those that the hand-written rules already identify (they are not duplicated as rules);
- tests/data/mined/negatives.tsv: every non-CCTV product, Server header, realm, title and favicon
  value in the same suites (the negative sweep: none may get a vendor verdict).
Then prints per family and per key how many examples were mined and how many the engine
identifies, and how many negatives get a vendor (must be 0).

    python scripts/mine_fingerprints.py [--nmap PATH] [--favicon-db PATH] [--shared DIR] [--check]
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT_RULES = ROOT / "rules" / "fingerprints-mined.yaml"
OUT_DIR = ROOT / "tests" / "data" / "mined"
CACHE = ROOT / ".cache" / "mine"
NMAP_PROBES = Path("/usr/share/nmap/nmap-service-probes")
FAVICON_DB = Path("/usr/share/nmap/nselib/data/favicon-db")

# Vendor recognition in product names and descriptions: (regex, vendor, context regex or None).
# A context regex must also match (same text) for vendors whose name is also a bigger company's
# or a common word: an Axis print server is not a camera; Bosch makes heating controllers.
CAMERA = (
    r"(?i)camera|webcam|video|dvr|nvr|xvr|divar|dinion|videojet|vip ?x|autodome|flexidome|recorder|cctv|ipc"
)
VENDORS: list[tuple[str, str, str | None]] = [
    (r"(?i)\bprama\b", "Prama Hikvision", None),
    (r"(?i)\bhikmicro\b", "HIKMICRO", None),
    (r"(?i)\bezviz\b", "EZVIZ", None),
    (r"(?i)\bhilook\b", "HiLook", None),
    (r"(?i)\b(?:interlogix|truvision)\b", "Interlogix", None),
    (r"(?i)\bannke\b", "Annke", None),
    (r"\bLTS\b", "LTS", CAMERA),
    (r"(?i)\bhik ?vision\b", "Hikvision", None),
    (r"(?i)\bamcrest\b", "Amcrest", None),
    (r"(?i)\blorex\b", "Lorex", None),
    (r"(?i)\bcp[ _-]?plus\b", "CP PLUS", None),
    (r"(?i)\b(?:imou|lechange)\b", "Imou", None),
    (r"(?i)\bdahua\b", "Dahua", None),
    (r"(?i)\buniview\b", "Uniview", None),
    (r"(?i)\btiandy\b", "Tiandy", None),
    (r"(?i)\baxis\b", "Axis", CAMERA),
    (r"(?i)\b(?:hanwha|wisenet|samsung techwin)\b", "Hanwha Vision", None),
    (r"(?i)\bbosch\b", "Bosch Security", CAMERA),
    # VCS VideoJet: Bosch's encoder line (VCS AG, bought by Bosch)
    (r"(?i)\bvideojet\b", "Bosch Security", None),
    # nmap's own match for this product has the Dahua page framing of lines 10323-10324 and 10034
    # (uppercase CONNECTION/CONTENT-LENGTH, BOM, XHTML Strict, title WEB SERVICE): Dahua firmware.
    (r"ADT Home Security web management", "Dahua", None),
    (r"(?i)\bvivotek\b", "Vivotek", None),
    (r"(?i)\bmobotix\b", "Mobotix", None),
]
# Evidence each suite states, by key, and how much one match of it says.
CONFIDENCE = {
    "http.server": 0.6,
    "rtsp.server": 0.6,
    "http.realm": 0.6,
    "rtsp.realm": 0.6,
    "http.title": 0.4,
    "nmap.product": 0.6,
    "http.favicon_md5": 0.5,
    "http.favicon_mmh3": 0.5,
    "tls.subject": 0.7,
}
IGNORECASE_KEYS = {"http.title"}

# Values from public code and device tests (each with where it was seen). Dahua firmware (and its
# OEM builds: Amcrest, Lorex, "Private") challenges with Digest realm "Login to <serial>" on its
# web server and RTSP server alike; newer builds use a 32-hex-digit realm.
CURATED: list[tuple[str, str, str, str]] = [
    (
        "http.realm",
        "Login to 3L08942PAA8AECE",
        "Dahua",
        "public Node.js client of Dahua cgi-bin/configManager.cgi (digest challenge)",
    ),
    (
        "http.realm",
        "Login to 4D04J1TPA00042",
        "Dahua",
        "public TypeScript DahuaDevice test (challenge next to magicBox serialNumber 4D04J1TPA00042)",
    ),
    (
        "http.realm",
        "Login to 75fb9cb5fa02c1363cb51defd537db68",
        "Dahua",
        "public Dart client of Dahua accessControl.cgi (newer firmware: 32-hex realm)",
    ),
    (
        "http.realm",
        "Login to 11839e10161ff4ebab8e3260b8779f14",
        "Dahua",
        "public C++ ONVIF client comment, /onvif/device_service digest challenge",
    ),
    (
        "rtsp.realm",
        "Login to 7K02D8APAZ1C3F9",
        "Dahua",
        "public Go RTSP library test, rtsp://…/cam/realmonitor (Dahua stream path)",
    ),
    (
        "rtsp.realm",
        "Login to 6C01E93PAG69A7D",
        "Dahua",
        "serial of the real DHIP reply dahua_dhip_response_IPC-HDW1431T1-S4.json in the RTSP realm form",
    ),
    (
        "rtsp.realm",
        "Login to Amcrest",
        "Amcrest",
        "public Python Amcrest two-way-audio client (RTSP digest comment)",
    ),
]
# The generalisation the curated values support: serial-shaped or 32-hex realms after "Login to ".
# An upper-case serial with at least one digit and one letter (RE2 has no lookahead, so "contains a digit
# and a letter" is spelt as the two orders), or 32 hex digits.
DAHUA_REALM = r"^Login to (?:[0-9A-Z]*(?:\d[0-9A-Z]*[A-Z]|[A-Z][0-9A-Z]*\d)[0-9A-Z]*|[0-9a-f]{32})$"
DAHUA_REALM_NEGATIVES = ["Login to use!", "Login to Myriad Utility URL", "Login to your account"]


@dataclass
class Fact:
    key: str
    value: str  # a literal value, or a regex when `regex` is set
    vendor: str | None  # None: not a vocabulary vendor (negative)
    source: str
    regex: bool = False


@dataclass
class Mined:
    positives: list[Fact] = field(default_factory=list)
    negatives: list[Fact] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def classify(text: str) -> str | None:
    for pattern, vendor, context in VENDORS:
        if re.search(pattern, text) and (context is None or re.search(context, text)):
            return vendor
    return None


# ------------------------------------------------------------------------- nmap-service-probes
_FIELD = re.compile(r"(?:^|\s)(p|v|i|h|o|d|cpe:)([/|])(.*?)\2a?")
_SERVER = re.compile(r"Server: ((?:[^\\\r\n]|\\[^rn])+?)\\r\\n")
_REALM = re.compile(r'realm=\\?"((?:[^"\\]|\\[^"])+?)\\?"')
_TITLE = re.compile(r"(?i)<title>((?:(?!</title>).){1,120}?)</title>")
_META = set("[](){}*+?|^$.\\")


def _unescape(fragment: str) -> str | None:
    """The literal a regex fragment matches (\\xHH bytes decoded as UTF-8), or None for a pattern."""
    out = bytearray()
    i = 0
    while i < len(fragment):
        c = fragment[i]
        if c == "\\":
            nxt = fragment[i + 1 : i + 2]
            if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", fragment[i + 2 : i + 4]):
                out.append(int(fragment[i + 2 : i + 4], 16))
                i += 4
                continue
            if not nxt or nxt.isalnum():
                return None  # \d, \w, \r: not a literal
            out += nxt.encode("utf-8")
            i += 2
            continue
        if c in _META:
            return None
        out += c.encode("utf-8")
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return out.decode("latin-1")


def parse_match(line: str) -> tuple[str, str, str, dict[str, str]] | None:
    """(service, pattern, flags, version fields) of one `match`/`softmatch` line."""
    m = re.match(r"^(?:soft)?match (\S+) m(.)", line)
    if m is None:
        return None
    delim = m.group(2)
    end = line.find(delim, m.end())
    if end < 0:
        return None
    pattern = line[m.end() : end]
    rest = line[end + 1 :]
    flags = re.match(r"[si]*", rest).group(0)  # type: ignore[union-attr]
    fields: dict[str, str] = {}
    for fm in _FIELD.finditer(rest[len(flags) :]):
        fields.setdefault(fm.group(1), fm.group(3))
    return m.group(1), pattern, flags, fields


def mine_nmap(path: Path, mined: Mined) -> None:
    version = _debian_version("nmap-common")
    for lineno, line in enumerate(path.read_text("latin-1").splitlines(), 1):
        parsed = parse_match(line)
        if parsed is None:
            continue
        service, pattern, _, fields = parsed
        product = fields.get("p", "")
        text = " ".join(fields.get(k, "") for k in ("p", "i", "d", "cpe:"))
        vendor = classify(text)
        src = f"nmap-service-probes ({version}) line {lineno}"
        facts: list[tuple[str, str]] = []
        proto = "rtsp" if service.startswith("rtsp") else "http" if "http" in service else None
        if proto:
            facts += [(f"{proto}.server", s) for s in _SERVER.findall(pattern)]
            facts += [(f"{proto}.realm", r) for r in _REALM.findall(pattern)]
        if proto == "http":
            facts += [("http.title", t) for t in _TITLE.findall(pattern)]
        for key, fragment in facts:
            literal = _unescape(fragment)
            if literal is not None and literal.strip():
                _add(mined, Fact(key, literal.strip(), vendor, src))
            elif vendor is not None:
                mined.dropped.append(f"{src}: {key} regex {fragment!r} (no real example)")
        if product:
            if "$" not in product:
                _add(mined, Fact("nmap.product", product, vendor, src))
            elif vendor is not None:
                _add(mined, Fact("nmap.product", _template_regex(product), vendor, src, regex=True))


def _template_regex(product: str) -> str:
    parts = re.split(r"\$\d", product)
    return r"\S+".join(re.escape(p) for p in parts)


def _add(mined: Mined, fact: Fact) -> None:
    (mined.positives if fact.vendor else mined.negatives).append(fact)


def _debian_version(package: str) -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return "Debian nmap-common"
    return f"Debian {package} {out.stdout.strip()}" if out.returncode == 0 else f"Debian {package}"


# ------------------------------------------------------------------------- favicons
def mine_favicon_db(path: Path, mined: Mined) -> None:
    for lineno, line in enumerate(path.read_text("latin-1").splitlines(), 1):
        m = re.match(r"^([0-9A-Fa-f]{32}):\s*(.+?)\s*$", line)
        if m is None:
            continue  # comments, including commented-out guesses ("#…: DVR? maybe")
        _add(
            mined,
            Fact(
                "http.favicon_md5",
                m.group(1).lower(),
                classify(m.group(2)),
                f"nmap nselib/data/favicon-db line {lineno} ({m.group(2)})",
            ),
        )


def mine_cache_tsv(cache: Path, mined: Mined) -> None:
    """`nuclei_*.tsv` / `favicons_*.tsv` extracts: key, value, name, source per line."""
    for path in sorted(cache.glob("*.tsv")):
        with path.open(encoding="utf-8") as fh:
            for row in csv.reader(fh, delimiter="\t"):
                if len(row) < 4 or row[0].startswith("#"):
                    continue
                key, value, name, source = row[:4]
                _add(mined, Fact(key, value, classify(name), f"{source} ({name})"))


# ------------------------------------------------------------------------- recog
_RECOG_KEYS = {
    "http_servers": "http.server",
    "rtsp_servers": "rtsp.server",
    "favicons": "http.favicon_md5",
    "x509_subjects": "tls.subject",
    "html_title": "http.title",
    "http_wwwauth": "http.realm",
}


def mine_recog(paths: list[Path], mined: Mined) -> None:
    """recog `<fingerprint>` entries: the examples are the facts; params name the vendor."""
    for path in paths:
        text = path.read_text("utf-8")
        section = None
        head = re.search(r"@?\s*HEAD\s+([0-9a-f]{7,40})|commit ([0-9a-f]{7,40})", text)
        rev = (head.group(1) or head.group(2))[:8] if head else "unknown revision"
        for chunk in re.split(r"(?m)^(?=## xml/|<fingerprint )", text):
            sec = re.match(r"## xml/(\w+)\.xml", chunk)
            if sec:
                section = sec.group(1)
                continue
            if section is None and path.name.startswith("recog_"):
                section = path.stem.removeprefix("recog_")
            key = _RECOG_KEYS.get(section or "")
            if key is None or not chunk.startswith("<fingerprint"):
                continue
            params = " ".join(
                re.findall(r'name="(?:hw|os|service)\.(?:vendor|product|device)" value="([^"]*)"', chunk)
            )
            desc = " ".join(re.findall(r"<description>(.*?)</description>", chunk, re.S))
            vendor = classify(f"{params} {desc}")
            for example in re.findall(r"<example[^>]*>(.*?)</example>", chunk, re.S):
                value = _xml_text(example)
                if key == "http.realm":
                    m = re.search(r'realm="([^"]*)"', value)
                    if m is None:
                        continue
                    value = m.group(1)
                if key == "http.favicon_md5":
                    value = value.lower()
                _add(mined, Fact(key, value, vendor, f"rapid7/recog xml/{section}.xml @{rev} (BSD-2)"))


def _xml_text(text: str) -> str:
    return text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


# ------------------------------------------------------------------------- rules
# Values a suite ties to one vendor but that other products also send (they would overreach).
GENERIC = {
    "device",
    "/",
    "network camera",
    "protected object",
    "login",
    "index",
    "web server",
    "webs",
    "welcome",
    "document error: unauthorized",
    "401 unauthorized",
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _load_base_rules():  # type: ignore[no-untyped-def]
    """The rule set without the mined file (what the hand-written rules already know)."""
    import shutil
    import tempfile

    from hikscan.knowledge.rules import load_rules

    tmp = Path(tempfile.mkdtemp(prefix="hikscan-mine-"))
    for p in (ROOT / "rules").iterdir():
        if p.suffix in (".yaml", ".json") and p.name != OUT_RULES.name:
            shutil.copy(p, tmp / p.name)
    try:
        return load_rules(tmp, include_default=False)
    finally:
        shutil.rmtree(tmp)


def build_rules(mined: Mined, base) -> tuple[list[dict], list[Fact]]:  # type: ignore[no-untyped-def]
    """Rules for what the hand-written rules do not already identify; the regression table."""
    from hikscan.knowledge.fingerprint import identify
    from hikscan.report.model import Evidence

    negative_values = {(f.key, f.value.casefold()) for f in mined.negatives}
    table: list[Fact] = []
    groups: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    seen: set[tuple[str, str, str]] = set()
    for fact in mined.positives:
        family = base.vendors[base.canonical_vendor(fact.vendor)].family
        if (fact.key, fact.value, fact.vendor) in seen:
            continue
        seen.add((fact.key, fact.value, fact.vendor))  # type: ignore[arg-type]
        if fact.regex:
            groups[(fact.vendor, fact.key)].append(fact)  # type: ignore[index]
            continue
        if fact.value.casefold() in GENERIC or len(fact.value) < 4:
            mined.dropped.append(f"{fact.source}: {fact.key} {fact.value!r} is generic (kept out)")
            continue
        if (fact.key, fact.value.casefold()) in negative_values:
            mined.dropped.append(f"{fact.source}: {fact.key} {fact.value!r} also names other products")
            continue
        table.append(fact)
        got = identify([Evidence("mine", fact.key, fact.value)], base)
        if got.family == family:
            continue  # the hand-written rules already know it
        if got.family is not None:
            mined.dropped.append(
                f"{fact.source}: {fact.key} {fact.value!r} -> {got.family}, suite says {family}"
            )
            table.pop()
            continue
        groups[(fact.vendor, fact.key)].append(fact)  # type: ignore[index]
    by_key: dict[str, list[str]] = defaultdict(list)
    for f in mined.negatives:
        by_key[f.key].append(f.value)
    known = {r.sets.get("vendor") for r in base.fingerprints_for("nmap.product")}
    for vendor in sorted({name for _, name, _c in VENDORS} - known):
        groups.setdefault((vendor, "nmap.product"), [])
    rules = [
        _rule(vendor, key, facts, by_key if vendor not in known else {})
        for (vendor, key), facts in sorted(groups.items())
    ]
    rules = [r for r in rules if r is not None]
    rules += _dahua_realm_rules(table)
    return rules, table


def _scoped(regex: str) -> str:
    return f"(?i:{regex[4:]})" if regex.startswith("(?i)") else regex


def name_pattern(vendor: str) -> str:
    """The VENDORS entries of `vendor` as one regex: the name, and its context word in either order
    (rule regexes run in RE2, which has no lookahead)."""
    alts = []
    for regex, name, context in VENDORS:
        if name == vendor and "ADT" not in regex:
            word = _scoped(regex)
            if context:
                ctx = _scoped(context)
                alts.append(f"^.*(?:{word}.*{ctx}|{ctx}.*{word})")
            else:
                alts.append(f"^.*{word}")
    return "|".join(alts)


def name_hit(vendor: str, value: str) -> bool:
    """The value names the vendor's word but lacks the context (a good counter-example)."""
    return any(
        name == vendor and context and re.search(regex, value) and not re.search(context, value)
        for regex, name, context in VENDORS
    )


def _rule(vendor: str, key: str, facts: list[Fact], negatives: dict[str, list[str]]) -> dict | None:
    literals = sorted({f.value for f in facts if not f.regex}, key=lambda v: (-len(v), v))
    if not literals:
        return None  # regex-only facts have no real example to prove the rule
    alts = [re.escape(v) for v in literals] + sorted({f.value for f in facts if f.regex})
    tail = r"(?:\s|$)" if key == "nmap.product" else "$"
    sources = sorted({f.source for f in facts})
    pattern = "^(?:" + "|".join(alts) + ")" + tail
    counter: list[str] = []
    if (
        key == "nmap.product" and negatives
    ):  # generalise: the vendor's name (with camera context where needed)
        pattern += "|" + name_pattern(vendor)
        sources.append("vendor names as recognised by this script's VENDORS table")
        counter = [v for v in negatives.get(key, []) if name_hit(vendor, v)][:3]
    rule: dict = {
        "id": f"mined-{_slug(vendor)}-{key.replace('.', '-').replace('_', '-')}",
        "status": "test",
        "description": f"{vendor} {key} values named by public fingerprint suites (mined)",
        "key": key,
        "pattern": pattern,
        "sets": {"vendor": vendor},
        "confidence": CONFIDENCE.get(key, 0.5),
        "source": "; ".join(sources)[:900] + (" (facts re-expressed)" if "nmap" in " ".join(sources) else ""),
        "examples": [{"value": v, "expect": {"vendor": vendor}} for v in literals]
        + [{"value": v, "expect": {"vendor": None}} for v in counter],
    }
    if key in IGNORECASE_KEYS:
        rule["flags"] = ["ignorecase"]
    return rule


def _dahua_realm_rules(table: list[Fact]) -> list[dict]:
    rules = []
    for key in ("http.realm", "rtsp.realm"):
        examples = [
            {"value": v, "expect": {"family": "dahua"}}
            for k, v, vendor, _ in CURATED
            if k == key and vendor == "Dahua"
        ]
        examples += [{"value": v, "expect": {"vendor": None}} for v in DAHUA_REALM_NEGATIVES]
        rules.append(
            {
                "id": f"mined-dahua-login-to-serial-{key.split('.')[0]}",
                "status": "test",
                "description": 'Dahua firmware (own brand and OEM/"Private" builds) digest realm '
                '"Login to <serial>" (serial-shaped, or 32 hex digits on newer builds)',
                "key": key,
                "pattern": DAHUA_REALM,
                "sets": {"family": "dahua"},
                "confidence": 0.6,
                "source": 'nmap-service-probes "Lorex IP camera rtspd" (realm "Login to <host id>", facts) '
                + "; ".join(sorted({s for k, _, v, s in CURATED if v == "Dahua"})),
                "examples": examples,
            }
        )
    for k, v, vendor, src in CURATED:
        table.append(Fact(k, v, vendor, src))
    return rules


def curated_facts() -> list[Fact]:
    return [Fact(k, v, vendor, src) for k, v, vendor, src in CURATED if vendor != "Dahua"]


# ------------------------------------------------------------------------- output and report
def write_outputs(rules: list[dict], table: list[Fact], mined: Mined) -> None:
    header = (
        "# GENERATED by scripts/mine_fingerprints.py: do not edit by hand, rerun the script.\n"
        "# CCTV-vendor facts re-expressed from public fingerprint suites (nmap-service-probes from\n"
        "# Debian nmap-common, nmap's favicon-db, rapid7/recog, nuclei favicon-detect) and curated\n"
        "# values from public code; each rule keeps its sources. Hand-written rules (fingerprints.yaml)\n"
        "# that already identify a value are not repeated here.\n"
    )
    doc = {"kind": "fingerprints", "rules": rules}
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    OUT_RULES.write_text(header + text, encoding="utf-8")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with (OUT_DIR / "positives.tsv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["key", "value", "vendor", "source"])
        for f in sorted(table, key=lambda f: (f.vendor or "", f.key, f.value)):
            w.writerow([f.key, f.value, f.vendor, f.source])
    seen: set[tuple[str, str]] = set()
    with (OUT_DIR / "negatives.tsv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["key", "value", "source"])
        for f in sorted(mined.negatives, key=lambda f: (f.key, f.value)):
            if (f.key, f.value) in seen or "\t" in f.value or "\n" in f.value:
                continue
            seen.add((f.key, f.value))
            w.writerow([f.key, f.value, f.source])


def identification_report(rules) -> tuple[list[str], int]:  # type: ignore[no-untyped-def]
    """Lines "family key: identified/mined" from the committed tables, and negatives given a vendor."""
    from hikscan.cli.identify import identify_values

    with (OUT_DIR / "positives.tsv").open(encoding="utf-8") as fh:
        pos = [r for r in csv.DictReader(fh, delimiter="\t")]
    with (OUT_DIR / "negatives.tsv").open(encoding="utf-8") as fh:
        neg = [r for r in csv.DictReader(fh, delimiter="\t")]
    got = identify_values([(r["key"], r["value"]) for r in pos], rules)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r, v in zip(pos, got, strict=True):
        family = rules.vendor(r["vendor"]).family
        c = counts[(family, r["key"])]
        c[0] += 1
        c[1] += v["family"] == family
    lines = [f"{fam:10} {key:18} {ok:4}/{n:<4} identified" for (fam, key), (n, ok) in sorted(counts.items())]
    named = [
        r
        for r, v in zip(neg, identify_values([(r["key"], r["value"]) for r in neg], rules), strict=True)
        if v["vendor"]
    ]
    lines.append(f"negatives: {len(neg)} values, {len(named)} given a vendor")
    lines += [f"  overreach: {r['key']} {r['value']!r} ({r['source']})" for r in named[:20]]
    return lines, len(named)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nmap", type=Path, default=NMAP_PROBES)
    ap.add_argument("--favicon-db", type=Path, default=FAVICON_DB)
    ap.add_argument("--shared", type=Path, default=None, help="shared/data/active (the recog extract)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    mined = Mined()
    if not args.nmap.is_file():
        print(f"mine: {args.nmap} missing: apt-get install nmap (Debian nmap-common)", file=sys.stderr)
        return 2
    mine_nmap(args.nmap, mined)
    if args.favicon_db.is_file():
        mine_favicon_db(args.favicon_db, mined)
    shared = args.shared or next(
        (
            p
            for p in (ROOT.parent / "shared" / "data" / "active", Path("/work/shared/data/active"))
            if p.is_dir()
        ),
        None,
    )
    recog = sorted(shared.glob("recog_*.txt")) if shared else []
    recog += sorted(CACHE.glob("recog_*.xml")) if CACHE.is_dir() else []
    mine_recog(recog, mined)
    if CACHE.is_dir():
        mine_cache_tsv(CACHE, mined)
    mined.positives += curated_facts()
    base = _load_base_rules()
    rules, table = build_rules(mined, base)
    write_outputs(rules, table, mined)
    print(
        f"mine: {len(rules)} rules, {len(table)} positive examples, {len(mined.negatives)} negatives, "
        f"{len(mined.dropped)} facts kept out",
        file=sys.stderr,
    )
    for why in mined.dropped:
        print(f"  kept out: {why}", file=sys.stderr)
    from hikscan.knowledge.rulecheck import check_examples

    rules_now = _reload()
    failed = [r for r in check_examples(rules_now) if not r.ok]
    for r in failed:
        print(f"  FAIL {r.case_id}: {r.message}", file=sys.stderr)
    lines, overreach = identification_report(rules_now)
    print("\n".join(lines))
    return 1 if failed or overreach else 0


def _reload():  # type: ignore[no-untyped-def]
    from hikscan.knowledge.rules import default_rules

    default_rules.cache_clear()
    return default_rules()


if __name__ == "__main__":
    sys.exit(main())
