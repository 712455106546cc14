"""Test data shared by several test files: real ClientHellos made in memory, and mutated seeds."""

from __future__ import annotations

import contextlib
import ssl
import struct

from hypothesis import strategies as st


def client_hello(server_hostname: str | None) -> bytes:
    """The first flight of a real OpenSSL client, produced in memory (no socket, no network)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


@st.composite
def mutated(
    draw: st.DrawFn,
    seeds: list[bytes],
    *,
    random_one_in: int = 10,
    max_random: int = 512,
    max_edits: int = 4,
    max_delete: int = 16,
    length_lies: tuple[int, ...] = (),
) -> bytes:
    """A seed put through a few edits (truncation, bit flips, insertions, deletions, splices and, given
    `length_lies`, 32/16-bit fields overwritten with lying lengths), or now and then plain random bytes."""
    if draw(st.integers(0, random_one_in - 1)) == 0:
        return draw(st.binary(max_size=max_random))
    ops = ["truncate", "flip", "insert", "delete", "splice"] + (["u32", "u16"] if length_lies else [])
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, max_edits))):
        op = draw(st.sampled_from(ops))
        pos = draw(st.integers(0, len(data)))
        if op == "truncate":
            del data[pos:]
        elif op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, max_delete))]
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            data[pos:] = other[draw(st.integers(0, len(other))) :]
        elif op == "u32" and pos + 4 <= len(data):
            value = draw(st.sampled_from(length_lies) | st.integers(0, 0xFFFFFFFF))
            data[pos : pos + 4] = struct.pack(draw(st.sampled_from(["<I", ">I"])), value)
        elif op == "u16" and pos + 2 <= len(data):
            data[pos : pos + 2] = struct.pack("!H", draw(st.sampled_from((0, 1, 7, 8, 20, 0xFFFF))))
    return bytes(data)
