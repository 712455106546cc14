"""Hikvision "command port" (TCP 8000, the private SDK protocol): the 16-byte reply to a bad request.

What nmap's service probes record (re-expressed, not copied): after nmap connects and sends
nothing (its NULL probe) the device answers 16 bytes `00 00 00 10 00 00 00 1e 00 00 00 1e 00 00 00 00`,
and after an SMB negotiate it answers `00 00 00 10 00 00 00 0d 00 00 00 0d 00 00 00 00`. Read as
big-endian u32 words: the frame length (16), a status code, the same status code again, and zero.
The default probe here is nmap's NULL probe — connect, send nothing, read at most 16 bytes — since
it changes nothing on the device; the SMB variant is available for devices that wait for a request.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hikscan.errors import MalformedInput
from hikscan.report.model import Evidence

PORT = 8000
REPLY_LEN = 16
_WORDS = struct.Struct("!IIII")
KNOWN_CODES = {0x1E: "no request (NULL probe)", 0x0D: "unrecognised request"}


def build_probe(kind: str = "null") -> bytes:
    """Bytes to send after connecting: b"" for the NULL probe (the default), or for kind="smb" a
    minimal SMB1 NEGOTIATE (NetBIOS session header + SMB header + dialect "NT LM 0.12"),
    built from the SMB specification, which the command service rejects with status 0x0d."""
    if kind == "null":
        return b""
    if kind != "smb":
        raise ValueError(f"unknown probe kind {kind!r}")
    dialects = b"\x02NT LM 0.12\x00"
    smb = (
        b"\xffSMB"  # protocol id
        + b"\x72"  # command: NEGOTIATE
        + bytes(4)  # status
        + b"\x18"  # flags: canonical paths, case-insensitive
        + struct.pack("<H", 0xC853)  # flags2: unicode, NT status, long names, extended security
        + bytes(12)  # pid high, signature, reserved
        + struct.pack("<HHHH", 0, 0xFEFF, 0, 0)  # tid, pid, uid, mid
        + b"\x00"  # word count
        + struct.pack("<H", len(dialects))
        + dialects
    )
    return struct.pack("!I", len(smb)) + smb  # NetBIOS session message, type 0


@dataclass(frozen=True, slots=True)
class Sdk8000Reply:
    hex: str
    length: int
    code: int
    code_repeat: int
    trailer: int

    @property
    def is_hikvision_shape(self) -> bool:
        """The shape nmap attributes to Hikvision: length 16, code repeated, zero trailer."""
        return self.length == REPLY_LEN and self.code == self.code_repeat and self.trailer == 0

    @property
    def meaning(self) -> str | None:
        return KNOWN_CODES.get(self.code)


def parse_sdk8000(data: bytes | memoryview) -> Sdk8000Reply:
    """Parse the first 16 bytes a command port sent; they must begin 00 00 00 10."""
    if len(data) < REPLY_LEN:
        raise MalformedInput(f"port 8000 reply: {len(data)} bytes, need {REPLY_LEN}")
    head = bytes(data[:REPLY_LEN])
    length, code, repeat, trailer = _WORDS.unpack(head)
    if length != REPLY_LEN:
        raise MalformedInput(f"port 8000 reply: length word {length:#x}, expected 0x10")
    return Sdk8000Reply(hex=head.hex(), length=length, code=code, code_repeat=repeat, trailer=trailer)


def evidence(reply: Sdk8000Reply, source: str = "sdk8000") -> list[Evidence]:
    """`sdk8000.reply` = hex of the 16 bytes."""
    return [Evidence(source, "sdk8000.reply", reply.hex, raw=reply.meaning)]
