"""`hikscan scan`: run the probes, fuse what they see into Device records, stream and summarise.

Phases, all under one overall deadline and one rate limiter (sends per second, shared by all):
1. multicast (only with --interface): SADP, WS-Discovery (+ ONVIF SOAP to the responders), DHIP,
   in parallel, on that interface only. Replies from hosts outside the targets are kept only when
   no targets were given or the targets contain them.
2. ARP (with --interface): the kernel's neighbour table, then who-has for the in-segment targets;
   in-segment hosts that answer neither ARP nor multicast are skipped by the unicast phase.
3. nmap (only with --nmap): one python-nmap pass over the live targets.
4. unicast, per target host in a bounded worker pool: a TCP port sweep, then HTTP/HTTPS+ISAPI,
   ONVIF SOAP, RTSP and port 8000 on the open ports. Each host's record is streamed
   (`on_device`, never called by two workers at once) as soon as its probes finish; multicast-only
   devices are streamed at the end of phase 1 when they are not targets themselves.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from hikscan.active.arp import ArpProbe
from hikscan.active.base import Observation, Probe, ProbeContext, in_networks, load_probes
from hikscan.active.fusion import Fusion, summarise
from hikscan.active.net import Deadline, RateLimiter, interface_ipv4, open_ports
from hikscan.active.nmap import NMAP_PORTS
from hikscan.errors import UsageError
from hikscan.knowledge import cves, fingerprint
from hikscan.knowledge.oui import OuiTable
from hikscan.knowledge.rules import RuleSet, load_rules
from hikscan.report.model import Device

MAX_TARGETS = 65536  # a /16
DEFAULT_RATE = 50.0
DEFAULT_TIMEOUT = 2.0
DEFAULT_PROBES = frozenset({"sadp", "wsd", "dhip", "http", "onvif", "rtsp", "sdk8000", "arp"})
MAX_WORKERS = 32
FAMILIES = frozenset({"hikvision", "dahua"})

OnDevice = Callable[[Device], None]
IdentifyFn = Callable[[list[Any]], Any]
CvesFn = Callable[[str | None, str | None, str | None], list[str]]
OnProgress = Callable[[str, int, int], None]
OnNotice = Callable[[str], None]


@dataclass
class ScanResult:
    devices: list[Device]
    summary: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"devices": [d.to_dict() for d in self.devices], "summary": self.summary, "stats": self.stats}


def expand_targets(
    targets: list[str], max_hosts: int = MAX_TARGETS
) -> tuple[list[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    """IPs, CIDRs and hostnames -> (host addresses in order, networks for the scope check).

    More than `max_hosts` addresses in total is a UsageError rather than a flood.
    """
    hosts: dict[str, None] = {}
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for raw in targets:
        text = raw.strip()
        if not text:
            continue
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            net = ipaddress.ip_network(_resolve(text))
        if net.num_addresses > max_hosts or len(hosts) + net.num_addresses > max_hosts + 2:
            raise UsageError(f"too many targets: {text} takes the total past {max_hosts} addresses (a /16)")
        nets.append(net)
        addrs = [net.network_address] if net.num_addresses == 1 else list(net.hosts())
        hosts.update((str(a), None) for a in addrs)
    return list(hosts), nets


def _resolve(name: str) -> str:
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"bad target {name!r}: not an IP, CIDR or resolvable host name ({exc})") from None
    return str(infos[0][4][0])


def plan_max_time(n_hosts: int, n_ports: int, rate: float, timeout: float, interface: bool) -> float:
    """The overall deadline: fixed slack, plus every send the scan may need at `rate`.

    Per address: one ARP request (on a segment) and one connect per swept port; per host that
    answers, about 10 requests (HTTP pages, favicon, ISAPI, ONVIF, RTSP, port 8000), counted for
    every address because which ones answer is not known before. The multicast phase and the last
    hosts' replies add a few timeouts.
    """
    per_host = n_ports + 8 + (1 if interface else 0)
    sending = n_hosts * per_host / rate if rate > 0 else 0.0
    latency = (4 + (3 if interface else 0)) * timeout + n_hosts * timeout / MAX_WORKERS / 4
    return round(20.0 + latency + sending, 1)


def nmap_budget(n_hosts: int, rate: float) -> float:
    """Time given to `nmap -sV` over the live hosts. Its service probes wait out every silent port
    (a Dahua 37777 alone holds a host ~140 s), and on the 100-device lab it averaged ~6 s a host."""
    sends = n_hosts * len(NMAP_PORTS.split(",")) * 12
    return round(150.0 + max(6.0 * n_hosts, sends / rate if rate > 0 else 0.0), 1)


def estate_summary(devices: list[Device], probed: int, rules: RuleSet | None = None) -> dict[str, Any]:
    """The summary, with a headline that says what was asked and what answered:
    "7 of 10 responding hosts (254 addresses probed) are Hikvision/Dahua family"."""
    rules = rules or load_rules()
    summary = summarise(devices)
    family = 0
    for d in devices:
        vendor = rules.canonical_vendor(d.vendor) if d.vendor else None
        if vendor is not None and rules.vendors[vendor].family in FAMILIES:
            family += 1
    summary["responding_hosts"] = len(devices)
    summary["addresses_probed"] = probed
    summary["hikvision_dahua_family"] = family
    summary["headline"] = (
        f"{family} of {len(devices)} responding hosts ({probed} addresses probed) are Hikvision/Dahua family"
    )
    return summary


def run_scan(
    targets: list[str],
    interface: str | None = None,
    rate: float = DEFAULT_RATE,
    timeout: float = DEFAULT_TIMEOUT,
    probes: set[str] | None = None,
    use_nmap: bool = False,
    on_device: OnDevice | None = None,
    on_progress: OnProgress | None = None,
    max_time: float | None = None,
    identify: IdentifyFn | None = None,
    cves_for: CvesFn | None = None,
    rules: RuleSet | None = None,
    stop: threading.Event | None = None,
    on_notice: OnNotice | None = None,
    imported: list[Observation] | None = None,
) -> ScanResult:
    """Scan `targets` (and, with `interface`, its segment by multicast); see the module notes.

    `on_notice` receives one-line notices meant for stderr: the deadline chosen, nmap's budget,
    what nmap said when it failed.
    """
    started = time.monotonic()
    if timeout <= 0:
        raise UsageError("--timeout must be positive")
    if max_time is not None and max_time <= 0:
        raise UsageError("--max-time must be positive")
    hosts, nets = expand_targets(targets)
    if not hosts and not interface and not imported:
        raise UsageError("nothing to scan: give TARGETS, --interface, or both")
    registry = load_probes()
    wanted = set(DEFAULT_PROBES if probes is None else probes) | ({"nmap"} if use_nmap else set())
    unknown = wanted - set(registry)
    if unknown:
        raise UsageError(
            f"unknown probe(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(registry))}"
        )
    iface_addr = None
    if interface:
        try:
            iface_addr = interface_ipv4(interface)
        except OSError:
            raise UsageError(f"interface {interface!r} does not exist or has no IPv4 address") from None
    rules = rules if rules is not None else load_rules()
    identify, cves_for = _default_engine(identify, cves_for, rules)
    notice = on_notice or (lambda text: None)

    ucast = [registry[n]() for n in sorted(wanted) if registry[n].kind == "unicast"]
    ports = sorted({p for probe in ucast for p in probe.ports})
    if max_time is None:
        budget = plan_max_time(len(hosts), len(ports), rate, timeout, interface is not None)
        notice(f"scan deadline {budget:.0f} s ({len(hosts)} addresses at {rate:g} sends/s)")
    else:
        budget = max_time
        notice(f"scan deadline {budget:.0f} s (--max-time)")
    ctx = ProbeContext(
        interface=interface,
        interface_addr=iface_addr,
        timeout=timeout,
        deadline=Deadline(budget, stop),
        limiter=RateLimiter(rate, burst=max(1, int(rate // 10))),
        scope=in_networks(nets) if nets else (lambda ip: True),
    )
    fusion = Fusion(identify, cves_for, _oui_lookup())
    lock = threading.Lock()  # the fusion and the counters
    stream_lock = threading.Lock()  # on_device and on_progress: one call at a time, as audit's on_result
    emitted: set[int] = set()
    target_set = set(hosts)

    def add(obs: Observation) -> None:
        if obs.ip is None or not ctx.scope(obs.ip):
            ctx.count("out_of_scope_replies" if obs.ip else "replies_without_ip")
            return
        with lock:
            fusion.add(obs)

    def emit(gid: int | None) -> None:
        if on_device is None or gid is None:
            return
        with lock:
            if gid in emitted:
                return
            emitted.add(gid)
            dev = fusion.device(gid)
        with stream_lock:  # the workers finish hosts at once; a writer is not made for concurrent calls
            on_device(dev)

    def progress(phase: str, done: int, total: int) -> None:
        if on_progress is not None:
            with stream_lock:
                on_progress(phase, done, total)

    # 1. multicast
    mcast = [registry[n]() for n in sorted(wanted) if registry[n].kind == "multicast"]
    if interface and mcast:
        progress("multicast", 0, len(mcast))
        finished = [0]

        def run_one(probe: Probe) -> None:
            for obs in probe.run(ctx, []):
                add(obs)
            with lock:
                finished[0] += 1
            progress("multicast", finished[0], len(mcast))

        with ThreadPoolExecutor(max_workers=len(mcast)) as pool:
            for f in [pool.submit(run_one, p) for p in mcast]:
                f.result()
        with lock:
            found = [(ip, gid) for ip, gid in fusion.hosts() if ip not in target_set]
        for _, gid in found:
            emit(gid)

    # 2. ARP sweep of the in-segment targets: a host that does not answer ARP cannot be reached
    #    by IP either, so only the ones that answer get unicast probes (as nmap's ARP ping does).
    #    When ARP could not run (no rights) or was cut short, nothing is filtered out.
    probe_hosts = hosts
    if interface and "arp" in wanted and hosts and not ctx.deadline.expired:
        arp = ArpProbe(use_scapy=True)
        local = set(arp.in_segment(ctx, hosts))
        if local:
            progress("arp", 0, len(local))
            alive: set[str] = set()
            for obs in arp.run(ctx, [ip for ip in hosts if ip in local]):
                add(obs)
                if obs.ip:
                    alive.add(obs.ip)
            progress("arp", len(local), len(local))
            with lock:
                seen = {ip for ip, _ in fusion.hosts()}
            if "no_permission.arp" not in ctx.stats and not ctx.deadline.expired:
                probe_hosts = [ip for ip in hosts if ip not in local or ip in alive or ip in seen]
            ctx.count("arp.alive", len(alive))

    # 3. nmap, in a budget of its own: inside --max-time when one was given, else added to it
    if "nmap" in wanted and probe_hosts and not ctx.deadline.expired:
        want = nmap_budget(len(probe_hosts), rate)
        if max_time is None:
            ctx.deadline.extend(want)
            total = ctx.deadline.at - started
            notice(f"nmap: deadline extended by {want:.0f} s to {total:.0f} s for nmap -sV")
        else:
            want = min(want, ctx.deadline.remaining() / 2)
            notice(f"nmap: {want:.0f} s of the --max-time deadline given to nmap -sV")
        progress("nmap", 0, 1)
        for obs in registry["nmap"]().run(replace(ctx, deadline=ctx.deadline.within(want)), probe_hosts):
            add(obs)
        progress("nmap", 1, 1)

    # imported observations (scan --import nmap.xml): fused like the probes' own
    for obs in imported or ():
        add(obs)

    # 4. unicast, per host in a worker pool; a host's time starts when its first packet leaves
    #    (open_ports and ctx.tcp start their windows after the rate limiter let them send)
    if probe_hosts and ucast:
        done = [0]

        def per_host(ip: str) -> None:
            if not ctx.deadline.expired:
                try:
                    is_open = open_ports(ip, ports, ctx.timeout, ctx.deadline, interface, ctx.send_ok)
                except PermissionError:
                    ctx.count("no_permission.tcp")
                    is_open = set()
                ctx.open_ports[ip] = is_open
                ctx.count("tcp.open", len(is_open))
                if is_open:
                    for probe in ucast:
                        for obs in probe.run(ctx, [ip]):
                            add(obs)
            emit(fusion.group_of(ip))
            with lock:
                done[0] += 1
                n = done[0]
            progress("unicast", n, len(probe_hosts))

        progress("unicast", 0, len(probe_hosts))
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(probe_hosts))) as pool:
            for f in [pool.submit(per_host, ip) for ip in probe_hosts]:
                f.result()

    devices = [d for d in fusion.devices() if d.evidence]
    for dev in devices:  # anything not streamed yet (e.g. merged groups)
        group = fusion.group_of(dev.ip) if dev.ip else None
        if on_device is not None and group is not None and group not in emitted:
            emit(group)
    for note in ctx.notes:
        notice(note)
    stopped = stop is not None and stop.is_set()
    stats: dict[str, Any] = {
        "targets": len(hosts),
        "interface": interface,
        "rate": rate,
        "timeout": timeout,
        "probes": sorted(wanted),
        "sent": ctx.limiter.sent,
        "max_time_s": round(ctx.deadline.at - started, 1),
        "elapsed_s": round(time.monotonic() - started, 3),
        "deadline_hit": not stopped and (ctx.deadline.expired or ctx.deadline.hit),
        "no_permission": sorted(k.split(".", 1)[1] for k in ctx.stats if k.startswith("no_permission.")),
        **dict(sorted(ctx.stats.items())),
    }
    return ScanResult(devices, estate_summary(devices, len(hosts), rules), stats)


def _default_engine(
    identify: IdentifyFn | None, cves_for: CvesFn | None, rules: RuleSet | None
) -> tuple[IdentifyFn, CvesFn]:
    """The fingerprint and CVE engines over the given rules (the bundled ones by default)."""
    loaded = rules if rules is not None else load_rules()

    def identify_with_rules(evidence: list[Any]) -> Any:
        return fingerprint.identify(evidence, loaded)

    def cves_with_rules(vendor: str | None, model: str | None, firmware: str | None) -> list[str]:
        return list(cves.cves_for(vendor, model, firmware, loaded))

    return identify or identify_with_rules, cves_for or cves_with_rules


def _oui_lookup() -> Callable[[str], str | None]:
    return OuiTable.load().lookup
