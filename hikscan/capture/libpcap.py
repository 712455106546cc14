"""A thin ctypes binding to the system's libpcap: only what live capture needs, nothing compiled.

Why libpcap through ctypes: on Linux libpcap captures through an AF_PACKET TPACKET_V3 ring (mmap'd
blocks the kernel fills and hands over whole), puts back the VLAN tags the kernel strips, compiles
tcpdump's filter language to BPF and attaches it in the kernel, and reads the kernel's drop counter
(PACKET_STATISTICS) for pcap_stats. Debian's libpcap0.8 is maintained and already pulled in by
tcpdump and tshark; a ctypes binding needs no compiler or headers at install time, and one call per
frame costs about what a compiled binding's callback into Python costs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_ubyte, c_uint, c_uint32, c_void_p

from hikscan.errors import UsageError

ERRBUF_SIZE = 256
#: The names the shared library goes by (Debian ships libpcap.so.0.8; -dev adds libpcap.so).
LIBRARY_NAMES = ("libpcap.so.0.8", "libpcap.so.1", "libpcap.so")


class PktHdr(ctypes.Structure):
    _fields_ = [("tv_sec", c_long), ("tv_usec", c_long), ("caplen", c_uint32), ("len", c_uint32)]


class PcapStat(ctypes.Structure):
    _fields_ = [("ps_recv", c_uint), ("ps_drop", c_uint), ("ps_ifdrop", c_uint)]


class BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", c_uint), ("bf_insns", c_void_p)]


_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "pcap_create": (c_void_p, [c_char_p, c_char_p]),
    "pcap_open_dead": (c_void_p, [c_int, c_int]),
    "pcap_set_snaplen": (c_int, [c_void_p, c_int]),
    "pcap_set_promisc": (c_int, [c_void_p, c_int]),
    "pcap_set_timeout": (c_int, [c_void_p, c_int]),
    "pcap_set_buffer_size": (c_int, [c_void_p, c_int]),
    "pcap_activate": (c_int, [c_void_p]),
    "pcap_geterr": (c_char_p, [c_void_p]),
    "pcap_statustostr": (c_char_p, [c_int]),
    "pcap_datalink": (c_int, [c_void_p]),
    "pcap_setnonblock": (c_int, [c_void_p, c_int, c_char_p]),
    "pcap_get_selectable_fd": (c_int, [c_void_p]),
    "pcap_compile": (c_int, [c_void_p, POINTER(BpfProgram), c_char_p, c_int, c_uint32]),
    "pcap_setfilter": (c_int, [c_void_p, POINTER(BpfProgram)]),
    "pcap_freecode": (None, [POINTER(BpfProgram)]),
    "pcap_stats": (c_int, [c_void_p, POINTER(PcapStat)]),
    "pcap_next_ex": (c_int, [c_void_p, POINTER(POINTER(PktHdr)), POINTER(POINTER(c_ubyte))]),
    "pcap_close": (None, [c_void_p]),
    "pcap_lib_version": (c_char_p, []),
}

_lib: ctypes.CDLL | None = None
_load_error: str | None = None


def load() -> ctypes.CDLL:
    """The library with its signatures declared, or UsageError naming what is missing."""
    global _lib, _load_error
    if _lib is not None:
        return _lib
    if _load_error is None:
        found = ctypes.util.find_library("pcap")
        for name in (*LIBRARY_NAMES, *((found,) if found else ())):
            try:
                lib = ctypes.CDLL(name)
                for fn, (restype, argtypes) in _SIGNATURES.items():
                    func = getattr(lib, fn)
                    func.restype = restype
                    func.argtypes = argtypes
            except (OSError, AttributeError):
                continue
            _lib = lib
            return lib
        _load_error = "libpcap not found (Debian package libpcap0.8)"
    raise UsageError(_load_error)


def available() -> bool:
    try:
        load()
    except UsageError:
        return False
    return True


def version() -> str:
    return load().pcap_lib_version().decode(errors="replace")


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode(errors="replace").strip()


class Handle:
    """One pcap_t, closed exactly once."""

    def __init__(self, ptr: int) -> None:
        self.lib = load()
        self.ptr: int | None = ptr

    @classmethod
    def dead(cls, linktype: int, snaplen: int = 65_535) -> Handle:
        """A handle on no interface: compiles filters without privileges."""
        ptr = load().pcap_open_dead(linktype, snaplen)
        if not ptr:
            raise UsageError("libpcap could not open a dead handle")
        return cls(ptr)

    @classmethod
    def create(cls, interface: str) -> Handle:
        errbuf = ctypes.create_string_buffer(ERRBUF_SIZE)
        ptr = load().pcap_create(interface.encode(), errbuf)
        if not ptr:
            raise UsageError(f"cannot listen on {interface!r}: {_text(errbuf.value)}")
        return cls(ptr)

    def error(self) -> str:
        return _text(self.lib.pcap_geterr(self.ptr))

    def status(self, code: int) -> str:
        """A libpcap status code as text, with pcap_geterr's detail when there is one."""
        detail = self.error()
        word = _text(self.lib.pcap_statustostr(code))
        return f"{word}: {detail}" if detail and detail != word else word

    def compile(self, expression: str) -> BpfProgram:
        """tcpdump's filter language → a BPF program (free it with `free`), else UsageError."""
        program = BpfProgram()
        if self.lib.pcap_compile(self.ptr, byref(program), expression.encode(), 1, 0xFFFFFFFF) != 0:
            raise UsageError(f"bad --bpf filter {expression!r}: {self.error()}")
        return program

    def free(self, program: BpfProgram) -> None:
        self.lib.pcap_freecode(byref(program))

    def close(self) -> None:
        if self.ptr is not None:
            self.lib.pcap_close(self.ptr)
            self.ptr = None


def check_filter(expression: str, linktype: int = 1) -> None:
    """Raise UsageError (one line) unless libpcap compiles this filter for this link type."""
    handle = Handle.dead(linktype)
    try:
        handle.free(handle.compile(expression))
    finally:
        handle.close()
