"""End-to-end scans in network namespaces against the emulated lab (multicast for real).

Needs root (ip netns); skipped otherwise. Everything the scanner sends is captured on its veth.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from netns import lab_namespaces

from hikscan.knowledge.cves import cves_for
from hikscan.knowledge.rules import load_rules
from hikscan.lab.profiles import default_lab

pytestmark = pytest.mark.netns

RATE = 100.0
SCAN = (
    "import json, sys\n"
    "from hikscan.active.scan import run_scan\n"
    "seen = []\n"
    "r = run_scan(['10.77.0.0/24'], interface='veth-scan', rate=float(sys.argv[1]), timeout=1.5,\n"
    "             max_time=float(sys.argv[2]), on_device=lambda d: seen.append(d.ip))\n"
    "out = r.to_dict(); out['streamed'] = seen\n"
    # this process's own peak (VmHWM): ru_maxrss would keep the pre-exec high-water mark of the forked
    # parent, which is the whole test run's memory when the suite runs in one pytest process
    "hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
    "out['max_rss_kb'] = int(hwm.split()[1])\n"
    "print(json.dumps(out))\n"
)
NEGATIVES = {"axis-cam", "web-server", "windows-pc"}


def _scan(net, max_time: float) -> tuple[dict, float]:
    start = time.monotonic()
    proc = net.run_in(net.scan_ns, [net.python, "-c", SCAN, str(RATE), str(max_time)], timeout=max_time + 30)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout), elapsed


def test_scan_finds_every_lab_device_with_its_facts_and_sends_only_polite_read_only_traffic(tmp_path: Path):
    if shutil.which("tcpdump") is None:
        pytest.skip("needs tcpdump")
    profiles = default_lab()
    rules = load_rules()
    pcap = tmp_path / "scan.pcap"
    with lab_namespaces(n_addresses=len(profiles)) as net:
        net.start_lab(timeout=60)
        dump = net.start_in(
            net.scan_ns, ["tcpdump", "-i", net.scan_if, "-w", str(pcap), "-U", "-s", "2048", "-Q", "out"]
        )
        time.sleep(1.0)
        result, elapsed = _scan(net, max_time=60)
        time.sleep(0.5)
        dump.terminate()
        dump.wait(5)
    by_ip = {d["ip"]: d for d in result["devices"]}
    for p in profiles:
        dev = by_ip.get(p.ip)
        assert dev is not None, f"{p.name} not found"
        if p.name in NEGATIVES:
            assert dev["vendor"] is None, (p.name, dev["vendor"], dev["evidence"])
            continue
        family = p.kind.split("-")[0].capitalize()  # hikvision-oem -> Hikvision: the firmware family
        assert dev["vendor"] in {rules.canonical_vendor(p.vendor), family}, (p.name, dev["vendor"])
        assert (dev["model"], dev["serial"], dev["firmware"]) == (p.model, p.serial, p.firmware), p.name
        assert dev["mac"] == p.mac
        if p.kind.startswith("hikvision"):
            assert (dev["activated"], dev["cloud_enabled"]) == (p.activated, p.cloud), p.name
        assert dev["cves"] == cves_for(dev["vendor"], p.model, p.firmware, rules), p.name
        assert dev["evidence"] and dev["confidence"] > 0.5
    assert result["summary"]["cctv_vendor_devices"] == len(profiles) - len(NEGATIVES)
    assert result["summary"]["unactivated"] == 1
    assert result["summary"]["with_cves"] >= 1
    assert set(result["streamed"]) >= {p.ip for p in profiles}
    assert elapsed < 60
    _check_capture(pcap, result["stats"])


def _check_capture(pcap: Path, stats: dict) -> None:
    from scapy.all import ARP, IP, TCP, UDP, Raw, rdpcap

    pkts = rdpcap(str(pcap))
    assert len(pkts) > 50
    allowed_groups = {"239.255.255.250", "239.255.255.251"}
    starts: list[float] = []
    for pkt in pkts:
        if ARP in pkt:
            assert pkt[ARP].pdst.startswith("10.77.0.")
            starts.append(float(pkt.time))
            continue
        if IP not in pkt:
            continue  # IPv6 router solicitations etc. of the namespace itself
        dst = pkt[IP].dst
        if pkt[IP].proto == 2 and dst == "224.0.0.22":
            continue  # IGMPv3 report: the kernel announcing our join of the SADP/DHIP groups
        assert dst.startswith("10.77.0.") or dst in allowed_groups, dst
        if UDP in pkt and dst in allowed_groups:
            payload = bytes(pkt[UDP].payload)
            assert b"update" not in payload.lower() and (
                b"inquiry" in payload or b"Probe" in payload or b"DHIP" in payload
            )
            starts.append(float(pkt.time))
        if TCP in pkt:
            if pkt[TCP].flags & 0x02:  # SYN: a new connection
                starts.append(float(pkt.time))
            if Raw in pkt:
                data = bytes(pkt[Raw].load)
                assert b"authorization:" not in data.lower()
                method = data.split(b" ", 1)[0]
                if data[:1].isalpha() and method.isupper():
                    assert method in (b"GET", b"POST", b"OPTIONS", b"DESCRIBE"), data[:80]
                    if method == b"POST":
                        assert b"GetSystemDateAndTime" in data or b"GetDeviceInformation" in data
    # the rate limit: no one-second window holds far more new connections/requests than the rate
    per_second = Counter(int(t) for t in starts)
    assert max(per_second.values()) <= RATE * 1.5 + RATE // 10, per_second.most_common(3)


def test_scan_finishes_within_its_deadline_with_the_hostile_lab():
    profiles = default_lab(hostile=True)
    with lab_namespaces(n_addresses=len(profiles)) as net:
        net.start_lab("--hostile", timeout=60)
        result, elapsed = _scan(net, max_time=40)
    assert elapsed < 40 + 10
    by_ip = {d["ip"]: d for d in result["devices"]}
    hostile = [p for p in profiles if p.hostile]
    flagged = {p.name: by_ip.get(p.ip, {}).get("hostile") for p in hostile}
    assert all(flagged.values()), flagged  # every hostile device is reported as such
    assert result["max_rss_kb"] < 200 * 1024  # a 4 MiB header, an endless body: memory stays bounded
    # a hostile device is still inventoried from its well-formed answers
    for p in hostile:
        assert by_ip[p.ip]["vendor"] == "Hikvision", p.name
    assert result["summary"]["hostile"] >= 2


def test_the_lab_cve_range_device_is_flagged_cve_2017_7921():
    p = next(p for p in default_lab() if p.name == "hik-old-unactivated")
    assert "CVE-2017-7921" in cves_for("Hikvision", p.model, p.firmware, load_rules())


def test_cli_scan_end_to_end():
    profiles = default_lab()
    with lab_namespaces(n_addresses=len(profiles)) as net:
        net.start_lab(timeout=60)
        argv = [
            net.python,
            "-m",
            "hikscan",
            "scan",
            "10.77.0.0/24",
            "--interface",
            net.scan_if,
            "--format",
            "json",
        ]
        proc = net.run_in(net.scan_ns, argv, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    vendors = Counter(d["vendor"] for d in out["devices"])
    assert vendors["Hikvision"] >= 4 and vendors["Dahua"] >= 1
    assert out["summary"]["hosts"] == len(profiles)


def test_sigint_mid_scan_leaves_valid_jsonl_with_a_summary(tmp_path: Path):
    """Nothing found is lost: devices already streamed stay, and the summary says the scan was cut short."""
    import signal

    out = tmp_path / "scan.jsonl"
    with lab_namespaces(n_addresses=len(default_lab())) as net:
        net.start_lab(timeout=60)
        argv = [net.python, "-m", "hikscan", "scan", "10.77.0.0/24", "--interface", net.scan_if,
                "--rate", "20", "-f", "jsonl", "-o", str(out)]  # fmt: skip
        scan = net.start_in(net.scan_ns, argv)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (out.exists() and '"device"' in out.read_text()):
            time.sleep(0.2)  # wait until at least one device has been streamed
        time.sleep(0.5)
        scan.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = scan.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    assert scan.returncode == 130, err[-2000:]
    assert stopped_in < 10, stopped_in
    assert "Traceback" not in err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[-1]["type"] == "summary" and lines[-1]["interrupted"] is True
    devices = [line for line in lines if line["type"] == "device"]
    assert devices and lines[-1]["hosts"] >= len(devices)
    assert not any(d["hostile"] for d in devices), "an interrupted read is not a hostile device"


def _cli_scan(
    net, *extra: str, timeout: float = 300, prefix: tuple[str, ...] = ()
) -> tuple[int, dict, str, float]:
    argv = [*prefix, net.python, "-m", "hikscan", "scan", "10.77.0.0/24", "--interface", net.scan_if, *extra]
    start = time.monotonic()
    proc = net.run_in(net.scan_ns, argv, timeout=timeout)
    elapsed = time.monotonic() - start
    out = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    return proc.returncode, out, proc.stderr, elapsed


@pytest.mark.parametrize("rate", ["50", "20"], ids=["default-rate", "rate-20"])
def test_namespace_lab_found_in_full_at_both_rates_inside_the_printed_deadline(rate: str):
    profiles = default_lab()
    rules = load_rules()
    with lab_namespaces(n_addresses=len(profiles)) as net:
        net.start_lab(timeout=60)
        code, out, err, elapsed = _cli_scan(net, "--rate", rate, "-f", "json")
    assert code == 0, err[-2000:]
    printed = re.search(r"scan deadline (\d+) s", err)
    assert printed and elapsed < float(printed.group(1)), (elapsed, err)
    by_ip = {d["ip"]: d for d in out["devices"]}
    for p in profiles:
        dev = by_ip.get(p.ip)
        assert dev is not None, f"{p.name} not found at --rate {rate}"
        if p.name in NEGATIVES:
            assert dev["vendor"] is None, (p.name, dev["vendor"])
            continue
        assert rules.vendor(dev["vendor"]).family == p.kind.split("-")[0], (p.name, dev["vendor"])
        keys = {e["key"] for e in dev["evidence"]}
        assert "http.server" in keys or "http.title" in keys, (p.name, keys)
        assert "rtsp.realm" in keys or "rtsp.server" in keys, (p.name, keys)
    assert out["summary"]["addresses_probed"] == 254
    assert out["summary"]["hikvision_dahua_family"] == len(profiles) - len(NEGATIVES)


def test_arp_and_every_phase_obey_max_time():
    with lab_namespaces(n_addresses=len(default_lab())) as net:
        net.start_lab(timeout=60)
        # 254 ARP requests at 5/s alone would take 50 s
        code, out, err, elapsed = _cli_scan(net, "--rate", "5", "--max-time", "4", "-f", "json", timeout=60)
    assert code == 0, err[-2000:]
    assert elapsed < 4 + 4, elapsed
    assert out["stats"][0]["deadline_hit"] is True


def test_first_ctrl_c_during_arp_stops_the_scan():
    import signal

    with lab_namespaces(n_addresses=len(default_lab())) as net:
        net.start_lab(timeout=60)
        argv = [net.python, "-m", "hikscan", "scan", "10.77.0.0/24", "--interface", net.scan_if,
                "--rate", "5", "-f", "json"]  # fmt: skip
        scan = net.start_in(net.scan_ns, argv)
        time.sleep(4.0)  # past the ~2 s multicast phase, inside the 50 s ARP sweep
        scan.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = scan.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    assert scan.returncode == 130, err[-2000:]
    assert stopped_in < 3, stopped_in
    assert json.loads(out)["summary"]["interrupted"] is True


def test_without_raw_socket_rights_finding_nothing_is_a_warning_and_exit_2():
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux)")
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all")
    with lab_namespaces(n_addresses=1) as net:  # no lab: nothing on the segment answers
        argv = [*nobody, net.python, "-m", "hikscan", "scan", "10.77.0.200/30", "--interface", net.scan_if]
        proc = net.run_in(net.scan_ns, argv, timeout=60)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "warning: found nothing" in proc.stderr and "arp" in proc.stderr
    assert "CAP_NET_RAW" in proc.stderr and "Traceback" not in proc.stderr
