"""`python -m hikscan.lab`: run the emulated devices in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import ipaddress
import resource
import signal
import subprocess
import sys
import threading

from hikscan.errors import HikscanError, UsageError
from hikscan.lab.profiles import default_lab
from hikscan.lab.server import Lab, in_root_netns


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="hikscan lab",
        description="Emulated Hikvision/Dahua/other devices on real sockets, for demos and tests. "
        "Runs only on 127.0.0.0/8 (--loopback) or inside a network namespace of its own.",
    )
    ap.add_argument("--count", type=int, default=None, help="N devices mixed from the standard profiles")
    ap.add_argument(
        "--hostile", action="store_true", help="add hostile devices (XML bomb, XXE, slow-loris, …)"
    )
    ap.add_argument(
        "--audit",
        action="store_true",
        help="add the audit test devices (wrong password, lockout, 401, endless XML)",
    )
    ap.add_argument(
        "--request-log", default=None, help="append every HTTP request received to this JSON-lines file"
    )
    ap.add_argument("--base", default=None, help="address prefix, e.g. 10.77.0. (127.77.0. with --loopback)")
    ap.add_argument("--interface", help="device-side interface: multicast discovery is answered there")
    ap.add_argument("--loopback", action="store_true", help="bind devices to 127.77.0.x; unicast only")
    ap.add_argument("--stream-limit", type=float, default=60.0, help="seconds a hostile stream may last")
    return ap


def _ensure_addresses(interface: str, ips: list[str]) -> None:
    """Add the device addresses the interface lacks (we are in the lab's own namespace)."""
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", interface], capture_output=True, text=True, timeout=10
    )
    if shown.returncode != 0:
        raise UsageError(f"no interface {interface!r} in this network namespace")
    have = {word.split("/")[0] for word in shown.stdout.split() if "/" in word}
    for ip in ips:
        if ip not in have:
            subprocess.run(["ip", "addr", "add", f"{ip}/24", "dev", interface], check=True, timeout=10)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the lab until a signal; 0 on a clean stop, 2 on a usage error."""
    args = _parser().parse_args(argv)
    try:
        base = args.base or ("127.77.0." if args.loopback else "10.77.0.")
        profiles = default_lab(count=args.count, hostile=args.hostile, base=base, audit=args.audit)
        if args.loopback:
            if args.interface:
                raise UsageError("--loopback is unicast only: drop --interface")
            if not all(ipaddress.IPv4Address(p.ip).is_loopback for p in profiles):
                raise UsageError("--loopback needs a base inside 127.0.0.0/8")
        else:
            if in_root_netns():
                raise UsageError(
                    "refusing to run in the root network namespace (it could answer on a real LAN): "
                    "use --loopback, or run inside a lab namespace (ip netns exec …)"
                )
            if not args.interface:
                raise UsageError("--interface is required outside --loopback")
            _ensure_addresses(args.interface, [p.ip for p in profiles])
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
        lab = Lab(
            profiles,
            interface=None if args.loopback else args.interface,
            stream_limit=args.stream_limit,
            request_log=args.request_log,
        )
        lab.check_safety()
    except (HikscanError, ValueError, OSError, subprocess.SubprocessError) as exc:
        print(f"hikscan lab: error: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner = threading.Thread(target=_run, args=(lab, stop), daemon=True)
    runner.start()
    while runner.is_alive() and not lab.ready.is_set():
        lab.ready.wait(0.1)
    if not lab.ready.is_set():
        return 2  # _run printed why
    for p in profiles:
        services = ",".join(sorted(p.services))
        flags = f" hostile={','.join(sorted(p.hostile))}" if p.hostile else ""
        print(f"{p.ip:<15} {p.mac}  {p.vendor:<10} {p.model or '-':<20} {p.name:<28} {services}{flags}")
    print(f"lab ready: {len(profiles)} devices, {len(lab.bound)} sockets", flush=True)
    while runner.is_alive():
        runner.join(0.2)
    return 0


def _run(lab: Lab, stop: threading.Event) -> None:
    try:
        lab.run(stop)
    except (HikscanError, OSError) as exc:
        print(f"hikscan lab: error: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
