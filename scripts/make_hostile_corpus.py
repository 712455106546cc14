"""Write the hostile-input corpus (issue 9): tests/corpus/hostile/ and its expected.yaml.

Each case is an input an attacker on the segment, or a bad rule file, can hand hikscan: a YAML
anchors bomb, a catastrophic-backtracking rule and the banner that triggers it, a lookaround rule,
compression bombs (gzip, xz, bzip2, zstd), cut and corrupt compressed captures, a tcpdump ring
directory with a broken member and a stray file, a pcapng with 70,000 interface blocks, DNS answers
of ~60 KiB each. Everything is built byte by byte here (no clock, no unseeded randomness): two runs
give the same bytes, and tests/test_hostile_corpus.py checks the committed files against a fresh
generation. The expected outcome follows from how each case was built, never from running hikscan.

The big cases (a 5,000,000-interface pcapng, a port scan, many huge DNS answers) are too large to
commit: `big_cases(outdir)` writes them for the memory tests.

    python scripts/make_hostile_corpus.py [OUTDIR]          # default tests/corpus/hostile
    python scripts/make_hostile_corpus.py --big OUTDIR      # also the big cases
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
import zstandard

from hikscan.lab import capwrite

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_corpus import (  # a sibling script, not a package
    CAMERA,
    CLIENT,
    PC_MAC,
    RESOLVER,
    TS,
    epb,
    idb,
    pcap,
    pcap_header,
    shb,
    tcp4,
    udp4,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "corpus" / "hostile"
REMOTE = bytes([203, 0, 113, 7])  # TEST-NET-3
PORT_SCAN_PACKETS = 300_000  # the attack run's was 1M (140 MB); 300k shows the growth in a test's time


# -- rule files ------------------------------------------------------------------------------------
def anchors_bomb() -> bytes:
    """Billion laughs in YAML: 9 levels of 10 aliases each, 10^9 strings (~GBs) if composed."""
    lines = ["kind: fingerprints", "a: &a [" + ",".join(['"lol"'] * 10) + "]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 10)}]")
    lines.append("rules: *i")
    return ("\n".join(lines) + "\n").encode()


def fingerprint_rule(rid: str, pattern: str, example: str) -> bytes:
    doc = {
        "kind": "fingerprints",
        "rules": [
            {
                "id": rid,
                "status": "experimental",
                "description": "a user rule written without thought for backtracking",
                "key": "http.server",
                "pattern": pattern,
                "sets": {"vendor": "Hikvision"},
                "confidence": 0.5,
                "source": "tests/corpus/hostile: issue 9",
                "examples": [{"value": example, "expect": {"vendor": "Hikvision"}}],
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False).encode()


def http_banner(server: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nServer: " + server + b"\r\nContent-Length: 0\r\n\r\n"


def banner_capture() -> bytes:
    """A camera answering HTTP with `Server: a…a!` (41 bytes: exponential for `^(a+)+$` in `re`)."""
    frames = [
        tcp4(CAMERA, CLIENT, 80, 50000 + i, http_banner(b"a" * 40 + b"!" if i else b"aaaa")) for i in range(3)
    ]
    return pcap(frames)


# -- compressed captures ---------------------------------------------------------------------------
def zeros_capture(n: int) -> Iterator[bytes]:
    """A pcap header then n zero bytes: n/16 valid empty records (caplen 0), the cheapest bomb."""
    yield pcap_header()
    chunk = b"\0" * 2**20
    left = n
    while left > 0:
        yield chunk[: min(left, len(chunk))]
        left -= len(chunk)


def compress(kind: str, parts: Iterator[bytes]) -> bytes:
    if kind == "gzip":
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
            for part in parts:
                gz.write(part)
        return buf.getvalue()
    comp: Any
    if kind == "xz":
        comp = lzma.LZMACompressor(format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=6)
    elif kind == "bzip2":
        comp = bz2.BZ2Compressor(9)
    else:
        comp = zstandard.ZstdCompressor(level=19).compressobj()
    return b"".join(comp.compress(p) for p in parts) + comp.flush()


def ring_frames(n: int, first: int) -> list[bytes]:
    """DNS answers from the resolver, distinct per file (the id changes): real-looking ring content."""
    out = []
    for i in range(n):
        msg = struct.pack("!HHHHHH", first + i, 0x8180, 1, 1, 0, 0)
        msg += b"\x03cam\x07example\x00\x00\x01\x00\x01"
        msg += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + REMOTE
        out.append(udp4(RESOLVER, CLIENT, 53, 40000 + i, msg, smac=PC_MAC))
    return out


# -- pcapng ----------------------------------------------------------------------------------------
def many_idbs(n: int) -> bytes:
    """One section: an interface, a packet, then n more interface blocks and a last packet."""
    frame = udp4(CAMERA, CLIENT, 1, 2, b"x")
    return shb() + idb(1) + epb(0, 0, frame) + idb(1) * n + epb(0, 1, frame)


# -- DNS -------------------------------------------------------------------------------------------
def huge_dns_answer(i: int, size: int = 60_000) -> bytes:
    """A response of ~size bytes: one A answer, then one private-type record of distinct filler."""
    name = b"\x03big\x07example\x00"
    msg = name + b"\x00\x01\x00\x01"
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([203, 0, 113, i % 250 + 1])
    filler = ((b"%08d" % i) * (size // 8))[: size - 100]  # differs per message
    private = b"\xc0\x0c\xff\x00\x00\x01\x00\x00\x00\x3c" + struct.pack("!H", len(filler)) + filler
    head = struct.pack("!HHHHHH", i & 0xFFFF, 0x8180, 1, 2, 0, 0)
    return head + msg + answer + private


def dns_capture(n: int, size: int = 60_000) -> Iterator[bytes]:
    yield pcap_header()
    for i in range(n):
        frame = udp4(RESOLVER, CLIENT, 53, 40000 + i % 20000, huge_dns_answer(i, size), smac=PC_MAC)
        yield capwrite.pcap_record(TS + i, 0, frame)


def port_scan(n: int) -> Iterator[bytes]:
    """A camera SYN-scanning n (address, port) pairs in an Alibaba range in China (47.96.0.0/16): every
    65,535 ports of one address, then the next address. One flow and one (device, remote) pair each."""
    yield pcap_header()
    syn = tcp4(CAMERA, REMOTE, 40000, 1, b"")
    ip_at, tcp_at = 14 + 16, 14 + 20
    for i in range(n):
        frame = bytearray(syn)
        frame[ip_at : ip_at + 4] = bytes([47, 96, i // 65535 >> 8 & 0xFF, 1 + (i // 65535 & 0xFF) % 254])
        frame[tcp_at + 2 : tcp_at + 4] = struct.pack("!H", 1 + i % 65535)
        frame[tcp_at + 13] = 0x02  # SYN
        yield capwrite.pcap_record(TS + i // 1000, i % 1000 * 1000, bytes(frame))


# -- the cases -------------------------------------------------------------------------------------
Files = dict[str, bytes]


def files() -> tuple[Files, dict[str, dict[str, Any]]]:
    out: Files = {}
    expect: dict[str, dict[str, Any]] = {}

    def case(name: str, **e: Any) -> None:
        expect[name] = e

    out["anchors_bomb/bomb.yaml"] = anchors_bomb()
    case(
        "anchors_bomb",
        description=f"a {len(anchors_bomb())}-byte rules file of YAML aliases (10^9 strings if expanded)",
        command=["rules", "check", "--rules", "{case}"],
        exit=2,
        error="anchors and aliases",
    )
    out["backtracking_rule/rules.yaml"] = fingerprint_rule("user-catastrophic", "^(a+)+$", "aaaa")
    out["banner_41.pcap"] = banner_capture()
    case(
        "backtracking_rule",
        description="a user rule ^(a+)+$ and a camera whose Server banner is 40 a's and a '!'",
        command=["analyze", "{dir}/banner_41.pcap", "--rules", "{case}", "-f", "json", "--fail-on", "none"],
        exit=0,
        packets=3,
        device={"ip": "192.168.1.64", "vendor": "Hikvision"},
    )
    out["lookaround_rule/rules.yaml"] = fingerprint_rule("user-lookahead", "^(?=.*Webs)Hik", "Hik-Webs")
    case(
        "lookaround_rule",
        description="a user rule with lookahead, which needs a backtracking engine",
        command=["rules", "check", "--rules", "{case}"],
        exit=2,
        error="linear-time engine",
    )
    bomb_bytes = {"gzip": 40 * 2**20, "xz": 256 * 2**20, "bzip2": 256 * 2**20, "zstd": 256 * 2**20}
    for kind, suffix in (("gzip", "gz"), ("xz", "xz"), ("bzip2", "bz2"), ("zstd", "zst")):
        name = f"bomb_{kind}.pcap.{suffix}"
        out[name] = compress(kind, zeros_capture(bomb_bytes[kind]))
        case(
            name,
            description=f"{kind}: a pcap header then {bomb_bytes[kind] >> 20} MiB of zeros (empty records)",
            command=["analyze", "{case}", "-f", "json", "--fail-on", "none"],
            exit=2,
            error="decompression bomb",
        )
    real = pcap(ring_frames(40, 0))
    out["cut.pcap.gz"] = compress("gzip", iter([real]))[:-200]
    case(
        "cut.pcap.gz",
        description="a gzip capture cut 200 bytes before its end",
        command=["analyze", "{case}", "-f", "json", "--fail-on", "none"],
        exit=0,
        truncated=True,
        warning="corrupt or cut",
        packets_max=40,
    )
    xz = bytearray(compress("xz", iter([real])))
    xz[len(xz) // 2] ^= 0xFF
    out["corrupt.pcap.xz"] = bytes(xz)
    case(
        "corrupt.pcap.xz",
        description="an xz capture with one byte flipped in the middle",
        command=["analyze", "{case}", "-f", "json", "--fail-on", "none"],
        exit=0,
        truncated=True,
        warning="corrupt or cut",
        packets_max=40,
    )
    out["text.gz"] = compress("gzip", iter([b"not a capture\n" * 10]))
    case(
        "text.gz",
        description="gzip of a text file, given by name",
        command=["analyze", "{case}", "-f", "json"],
        exit=2,
        error="gzip-compressed",
    )
    # tcpdump -C/-W output: trace.pcap, trace.pcap1 …, a zero-padded ring, a compressed old file.
    ring = {
        "trace.pcap": ring_frames(3, 0),
        "trace.pcap1": ring_frames(4, 10),
        "trace.pcap2": ring_frames(5, 20),
        "trace.pcap10": ring_frames(6, 30),
        "ring.pcap00": ring_frames(2, 40),
    }
    for name, frames in ring.items():
        out[f"ring/{name}"] = pcap(frames)
    out["ring/old.pcap3.gz"] = compress("gzip", iter([pcap(ring_frames(7, 50))]))
    out["ring/notes.txt"] = b"rotated by tcpdump -C 1 -W 20\n"
    total = sum(map(len, ring.values())) + 7
    case(
        "ring",
        description="tcpdump ring and rotated files (pcap1, pcap10, pcap00, .gz) and a stray text file",
        command=["analyze", "{case}", "-f", "json", "--fail-on", "none", "--merge"],
        exit=0,
        packets=total,
        captures=6,
        warning="notes.txt",
    )
    for name, frames in ring.items():
        out[f"ring_broken/{name}"] = pcap(frames)
    out["ring_broken/trace.pcap4"] = b"\xff" * 40
    case(
        "ring_broken",
        description="the ring with one member that is not a capture: named, the rest reported, exit 2",
        command=["analyze", "{case}", "-f", "json", "--fail-on", "none"],
        exit=2,
        error="trace.pcap4",
        captures=5,
        packets=sum(map(len, ring.values())),
    )
    out["many_interfaces.pcapng.gz"] = compress("gzip", iter([many_idbs(70_000)]))
    case(
        "many_interfaces.pcapng.gz",
        description="one pcapng section with 70,002 interface blocks (the limit is 65,536)",
        command=["analyze", "{case}", "-f", "json", "--fail-on", "none"],
        exit=0,
        packets=1,
        truncated=True,
        warning="interfaces",
    )
    out["dns_huge.pcap.gz"] = compress("gzip", dns_capture(40))
    case(
        "dns_huge.pcap.gz",
        description="40 distinct DNS answers of ~60 KiB each (one A record and TXT filler)",
        command=["analyze", "{case}", "-f", "json", "--fail-on", "none"],
        exit=0,
        packets=40,
    )
    return out, expect


def big_cases(outdir: Path) -> dict[str, Path]:
    """Write the cases too big to commit; returns name → path."""
    outdir.mkdir(parents=True, exist_ok=True)
    made = {}
    path = outdir / "idb_5m.pcapng"
    path.write_bytes(many_idbs(5_000_000))
    made["idb_5m"] = path
    for name, parts in (("port_scan", port_scan(PORT_SCAN_PACKETS)), ("dns_huge", dns_capture(3000))):
        path = outdir / f"{name}.pcap"
        with path.open("wb") as fh:
            for part in parts:
                fh.write(part)
        made[name] = path
    return made


def write(outdir: Path) -> list[Path]:
    data, expect = files()
    written = []
    for name, blob in sorted(data.items()):
        path = outdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
        written.append(path)
    head = "# Generated by scripts/make_hostile_corpus.py: do not edit; run the script and commit both.\n"
    (outdir / "expected.yaml").write_text(head + yaml.safe_dump({"cases": expect}, sort_keys=True))
    return [*written, outdir / "expected.yaml"]


def main(argv: list[str] | None = None, echo: Callable[[str], object] = print) -> int:
    args = sys.argv[1:] if argv is None else argv
    big = "--big" in args
    rest = [a for a in args if a != "--big"]
    outdir = Path(rest[0]) if rest else OUT
    for path in write(outdir):
        echo(f"{path} {path.stat().st_size}")
    if big:
        for path in big_cases(outdir / "big").values():
            echo(f"{path} {path.stat().st_size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
