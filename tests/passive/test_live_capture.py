"""`watch`'s capture options without traffic: bad filters, buffer bounds, unknown interfaces, counters."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hikscan.capture import libpcap
from hikscan.capture.ring import _Wrapping, open_source
from hikscan.errors import UsageError

needs_libpcap = pytest.mark.skipif(not libpcap.available(), reason="libpcap0.8 is not installed")


def watch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hikscan", "watch", *args], capture_output=True, text=True, timeout=60
    )


@needs_libpcap
@pytest.mark.parametrize("bad", ["tcp port (", "udp and and", "ether host 1.2.3", "port 99999"])
def test_bad_bpf_filter_is_one_line_and_exit_2(bad: str) -> None:
    # the filter is compiled (on a dead handle) before any interface is opened
    done = watch("-i", "no-such-if0", "--bpf", bad, "--duration", "1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hikscan: error: bad --bpf filter"), done.stderr
    assert "Traceback" not in done.stderr


@needs_libpcap
@pytest.mark.parametrize("good", ["tcp port 80", "not port 22", "vlan and udp", "host 10.0.0.1 or ip6"])
def test_good_bpf_filters_compile(good: str) -> None:
    libpcap.check_filter(good)


@pytest.mark.parametrize("size", ["0", "1025", "-5"])
def test_buffer_size_is_bounded(size: str) -> None:
    done = watch("-i", "lo", "--buffer-mb", size, "--duration", "1")
    assert done.returncode == 2 and "--buffer-mb" in done.stderr


@pytest.mark.parametrize("method", ["ring", "pcap", "socket"])
def test_unknown_interface_is_a_usage_error(method: str) -> None:
    if method == "pcap" and not libpcap.available():
        pytest.skip("libpcap0.8 is not installed")
    with pytest.raises(UsageError, match="no-such-if0"):
        open_source("no-such-if0", method)
    done = watch("-i", "no-such-if0", "--capture", method, "--duration", "1")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_unknown_method_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="capture method"):
        open_source("lo", "dpdk")


def test_wrapping_counter_keeps_counting_past_32_bits() -> None:
    counter = _Wrapping()
    assert counter.update(4_000_000_000) == 4_000_000_000
    assert counter.update(5) == 4_000_000_000 + (2**32 - 4_000_000_000) + 5
    assert counter.update(5) == 2**32 + 5
