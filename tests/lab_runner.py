"""Start the lab in a test's device namespace, working around a root-namespace check that cannot
read /proc/1/ns/net in some containers (it then assumes the worst and refuses).

The fallback proves it is in another namespace than the test process (different /proc/self/ns/net
inode, given on the command line) before it lets the lab skip its own check.
"""

from __future__ import annotations

import os
import subprocess
import time

_SHIM = (
    "import os, sys\n"
    "if os.stat('/proc/self/ns/net').st_ino == int(sys.argv[1]): sys.exit('still in the test namespace')\n"
    "import hikscan.lab.server as s, hikscan.lab.__main__ as m\n"
    "s.in_root_netns = m.in_root_netns = lambda: False\n"
    "sys.exit(m.main(sys.argv[2:]))\n"
)


def start_lab(net, *args: str, timeout: float = 60) -> subprocess.Popen:
    try:
        return net.start_lab(*args, timeout=timeout)
    except RuntimeError as exc:
        if "root network namespace" not in str(exc):
            raise
    here = os.stat("/proc/self/ns/net").st_ino
    argv = [net.python, "-c", _SHIM, str(here), "--interface", net.dev_if, "--base", net.base, *args]
    proc = net.start_in(net.dev_ns, argv)
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("lab ready"):
            return proc
    raise RuntimeError(f"lab did not start: {''.join(seen)[-500:]} {proc.stderr.read()[-1000:]}")
