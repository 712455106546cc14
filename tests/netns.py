"""Network namespaces for tests: a scanner side and a device side joined by a veth pair.

    with lab_namespaces(n_addresses=10) as net:
        lab = net.start_lab()                      # python -m hikscan.lab in the device namespace
        sock = net.socket_in(net.scan_ns)          # a UDP socket living in the scanner namespace
        net.run_in(net.scan_ns, ["python", ...])   # or run a whole program there

Both namespaces get unique names (hs-scan-<pid>-<n>, hs-dev-<pid>-<n>); the veth ends are created
directly inside them, so nothing ever appears on the machine's real interfaces. The scanner has
10.77.0.1/24, the device side base+10 … as addresses, both a 224.0.0.0/4 route on the veth. On exit
(even on failure) every process started here is killed and both namespaces are deleted.
Needs root and iproute2; otherwise `require_netns()` skips the test.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

CLONE_NEWNET = 0x40000000
SCAN_IF = "veth-scan"
DEV_IF = "veth-dev"
_counter = itertools.count()
_procs: dict[str, list[subprocess.Popen]] = {}


def require_netns() -> None:
    """Skip the calling test unless we are root with `ip` and may create namespaces."""
    if os.geteuid() != 0:
        pytest.skip("network-namespace tests need root")
    if shutil.which("ip") is None:
        pytest.skip("network-namespace tests need iproute2 (`ip`)")


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=15, check=check)


def run_in(ns: str, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a program in namespace `ns` and wait for it (output captured as text)."""
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout)


def start_in(ns: str, argv: list[str], **popen_kw: object) -> subprocess.Popen:
    """Start a program in namespace `ns`; it is killed when that namespace's context exits."""
    kw: dict[str, object] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    kw.update(popen_kw)
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kw)  # type: ignore[call-overload]
    _procs.setdefault(ns, []).append(proc)
    return proc


def socket_in(ns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    """A socket created inside namespace `ns` (it stays there), usable from this process.

    setns() changes only the calling thread's namespace, so a throw-away thread makes the socket.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    result: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            with open(f"/var/run/netns/{ns}") as fd:
                if libc.setns(fd.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {ns} failed")
            result.append(socket.socket(family, kind))
        except BaseException as exc:  # handed back to the caller
            result.append(exc)

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _delete(ns: str) -> None:
    for proc in _procs.pop(ns, []):
        with contextlib.suppress(Exception):
            _kill(proc)
    # Anything still inside our own namespace was started by this test: end it by pid.
    pids = _ip("netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _ip("netns", "del", ns, check=False)


def _remove_stale() -> None:
    """Delete namespaces this helper made in a process that has since died (e.g. killed pytest)."""
    listing = _ip("netns", "list", check=False).stdout.split("\n")
    for line in listing:
        name = line.split(" ")[0]
        parts = name.split("-")
        ours = len(parts) == 4 and parts[0] == "hs" and parts[1] in ("scan", "dev") and parts[2].isdigit()
        if ours and not os.path.exists(f"/proc/{parts[2]}"):
            _delete(name)


@dataclass
class LabNet:
    """The two namespaces of one test and how to reach into them."""

    scan_ns: str
    dev_ns: str
    base: str
    device_ips: list[str]
    scanner_ip: str
    scan_if: str = SCAN_IF
    dev_if: str = DEV_IF
    python: str = field(default=sys.executable)

    def run_in(self, ns: str, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return run_in(ns, argv, timeout)

    def start_in(self, ns: str, argv: list[str], **popen_kw: object) -> subprocess.Popen:
        return start_in(ns, argv, **popen_kw)

    def socket_in(
        self, ns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_DGRAM
    ) -> socket.socket:
        return socket_in(ns, family, kind)

    def start_lab(self, *args: str, timeout: float = 30) -> subprocess.Popen:
        """`python -m hikscan.lab --interface veth-dev --base <base> ARGS` in the device namespace,
        returned once it has printed `lab ready`."""
        argv = [self.python, "-m", "hikscan.lab", "--interface", self.dev_if, "--base", self.base, *args]
        proc = self.start_in(self.dev_ns, argv)
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("lab ready"):
                proc.lab_lines = seen  # type: ignore[attr-defined]
                return proc
        _kill(proc)
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"lab did not start: {''.join(seen)[-500:]} {err[-1000:]}")


@contextlib.contextmanager
def lab_namespaces(n_addresses: int = 10, base: str = "10.77.0.", first: int = 10) -> Iterator[LabNet]:
    """Create the scanner and device namespaces, yield a LabNet, always delete both afterwards."""
    require_netns()
    _remove_stale()
    n = next(_counter)
    scan_ns, dev_ns = f"hs-scan-{os.getpid()}-{n}", f"hs-dev-{os.getpid()}-{n}"
    device_ips = [f"{base}{first + i}" for i in range(n_addresses)]
    net = LabNet(scan_ns, dev_ns, base, device_ips, scanner_ip=f"{base}1")
    try:
        try:
            _ip("netns", "add", scan_ns)
            _ip("netns", "add", dev_ns)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot create network namespaces: {exc.stderr.strip()}")
        # Both veth ends are born inside the namespaces: never on the real interfaces.
        _ip("link", "add", SCAN_IF, "netns", scan_ns, "type", "veth", "peer", "name", DEV_IF, "netns", dev_ns)
        for ns, ifname in ((scan_ns, SCAN_IF), (dev_ns, DEV_IF)):
            _ip("link", "set", "lo", "up", ns=ns)
            _ip("link", "set", ifname, "up", ns=ns)
            _ip("route", "add", "224.0.0.0/4", "dev", ifname, ns=ns, check=False)
        _ip("addr", "add", f"{net.scanner_ip}/24", "dev", SCAN_IF, ns=scan_ns)
        batch = "".join(f"addr add {ip}/24 dev {DEV_IF}\n" for ip in device_ips)
        subprocess.run(["ip", "-n", dev_ns, "-batch", "-"], input=batch, text=True, check=True, timeout=30)
        _ip("route", "replace", "224.0.0.0/4", "dev", SCAN_IF, ns=scan_ns)
        _ip("route", "replace", "224.0.0.0/4", "dev", DEV_IF, ns=dev_ns)
        yield net
    finally:
        _delete(scan_ns)
        _delete(dev_ns)


def namespaces_exist(*names: str) -> list[str]:
    """Which of these namespaces still exist (for clean-up assertions)."""
    listed = {line.split(" ")[0] for line in _ip("netns", "list", check=False).stdout.splitlines()}
    return [n for n in names if n in listed]
