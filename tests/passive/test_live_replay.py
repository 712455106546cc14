"""`watch` at rate: scenario captures replayed with tcpreplay into a veth pair of our own namespaces.

At a rate the capture takes without drops, watch must report exactly what `analyze` reports on the
same file (timestamps aside: a replay has new ones). Pushed past what it can take, the kernel's drop
counter must be non-zero and reported: status line, stats record, summary.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from live_replay import comparable, replay_namespaces, tcpreplay, watch_replay
from netns import require_netns

from hikscan.capture import open_capture
from hikscan.passive.decode import Decoder

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
STATUS = re.compile(
    r"^hikscan: watch \d+s: packets (\d+) \(\d+/s\), kernel drops (\d+) \([\d.]+%\), "
    r"flows \d+ open / (\d+) seen, findings \d+$"
)

pytestmark = pytest.mark.netns


@pytest.fixture(autouse=True)
def _needs_tools() -> None:
    require_netns()
    if tcpreplay() is None:
        pytest.skip("tcpreplay is not installed (Debian package tcpreplay; .ci/run installs it)")


def analyze(pcap: Path) -> tuple[list[dict], dict]:
    done = subprocess.run(
        [sys.executable, "-m", "hikscan", "analyze", str(pcap), "-f", "jsonl", "--fail-on", "none"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    records = [json.loads(line) for line in done.stdout.splitlines()]
    stats = next(r for r in records if r["type"] == "stats")
    return [r for r in records if r["type"] == "finding"], stats


def key(finding: dict) -> str:
    return json.dumps(comparable(finding), sort_keys=True)


@pytest.mark.parametrize(
    ("capture", "pcap"),
    [
        ("ring", "hikconnect_registration.pcap"),
        ("ring", "ipv6_vlan_hk.pcapng"),  # 802.1Q tags: the kernel strips them, the ring puts them back
        ("ring", "dahua_easy4ip.pcap"),
        ("pcap", "ipv6_vlan_hk.pcapng"),
        ("socket", "ipv6_vlan_hk.pcapng"),
    ],
)
def test_watch_finds_what_analyze_finds_at_a_rate_without_drops(
    capture: str, pcap: str, tmp_path: Path
) -> None:
    expected, file_stats = analyze(PCAPS / pcap)
    assert expected, "the scenario must produce findings for this test to mean anything"
    with replay_namespaces() as net:
        run = watch_replay(net, PCAPS / pcap, tmp_path / "live.jsonl", pps=500, capture=capture)
    assert run.returncode == 0, run.stderr
    assert run.sent == file_stats["packets"]
    assert run.stats["capture_method"] == capture
    assert run.stats["kernel_drops"] == 0 and run.summary["kernel_drops"] == 0
    assert run.stats["packets"] == file_stats["packets"] == run.stats["kernel_packets"]
    assert run.stats["bytes"] == file_stats["bytes"]
    assert run.stats["flows"] == file_stats["flows"]
    assert sorted(map(key, run.findings)) == sorted(map(key, expected))
    assert "; 0 kernel drops" in run.summary["headline"]
    assert run.status_lines and all(STATUS.match(line) for line in run.status_lines), run.stderr


@pytest.mark.parametrize("capture", ["ring", "pcap", "socket"])
def test_kernel_drops_are_counted_and_reported_when_the_rate_is_too_high(
    capture: str, tmp_path: Path
) -> None:
    pcap = PCAPS / "hikconnect_registration.pcap"
    with replay_namespaces() as net:
        for pps in (50_000, None):  # then top speed; ~200k frames into a 1 MiB buffer
            run = watch_replay(
                net, pcap, tmp_path / "live.jsonl", pps=pps, loops=2000, capture=capture, buffer_mb=1
            )
            if run.stats.get("kernel_drops"):
                break
    assert run.returncode == 0, run.stderr
    drops = run.stats["kernel_drops"]
    assert drops > 0, (pps, run.stats)
    # every frame the kernel saw was either read or counted as dropped
    assert run.stats["kernel_packets"] == run.stats["packets"] + drops == run.sent, (run.stats, run.sent)
    assert run.summary["kernel_drops"] == drops
    assert f"; {drops} kernel drops" in run.summary["headline"]
    assert any("kernel dropped" in note for note in run.summary["notes"])
    last = STATUS.match(run.status_lines[-1])
    assert last is not None, run.stderr[-2000:]
    assert int(last.group(2)) == drops and int(last.group(1)) == run.stats["packets"], run.status_lines[-3:]


def test_bpf_filter_runs_in_the_kernel(tmp_path: Path) -> None:
    pcap = PCAPS / "hikconnect_registration.pcap"
    decoder = Decoder()
    with open_capture(pcap) as reader:
        decoded = [decoder.decode_frame(r.ts, r.linktype, r.data, r.wirelen) for r in reader]
    udp = sum(1 for p in decoded if p is not None and p.proto == 17)
    assert 0 < udp < len(decoded)
    with replay_namespaces() as net:
        run = watch_replay(net, pcap, tmp_path / "live.jsonl", pps=500, bpf="udp")
    assert run.returncode == 0, run.stderr
    assert run.stats["packets"] == run.stats["kernel_packets"] == udp
    assert run.stats["bpf"] == "udp"
    assert all(f["remote"]["proto"] == "udp" for f in run.findings)
