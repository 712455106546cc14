"""Scheduling that cannot starve: a fair rate limiter, probe windows that start when packets leave,
replies complete when their framing says so, and the MAC-clash rule of fusion."""

from __future__ import annotations

import socket
import sys
import threading
import time

from active_helpers import Responder, make_ctx

from hikscan.active.base import Observation
from hikscan.active.fusion import Fusion
from hikscan.active.net import Deadline, RateLimiter, open_ports
from hikscan.active.rtsp import RtspProbe
from hikscan.active.scan import plan_max_time
from hikscan.active.web import response_complete
from hikscan.report.model import Evidence


def test_rate_limiter_hands_out_slots_first_come_first_served_at_the_rate():
    limiter = RateLimiter(20.0)
    order: list[int] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        time.sleep(i * 0.01)  # arrive in index order
        assert limiter.acquire(Deadline(10))
        with lock:
            order.append(i)

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert order == list(range(12))  # nobody overtakes, nobody starves
    assert 11 / 20 - 0.05 <= elapsed < 11 / 20 + 0.5


def test_rate_limiter_refuses_at_once_a_slot_past_the_deadline_and_wakes_on_stop():
    limiter = RateLimiter(1.0)
    assert limiter.acquire(Deadline(5))
    start = time.monotonic()
    assert not limiter.acquire(Deadline(0.2))  # the next slot is 1 s away
    assert time.monotonic() - start < 0.05
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    start = time.monotonic()
    assert not limiter.acquire(Deadline(5, stop))
    assert time.monotonic() - start < 0.6


def test_a_deadline_remembers_it_cut_work_short_before_it_passed():
    """A refused send slot marks the deadline hit although time remains (the scan's stats say so even
    when the phases left end just before it); a deadline nobody ran into is not hit."""
    limiter = RateLimiter(1.0)
    untouched, short = Deadline(5), Deadline(0.3)
    assert limiter.acquire(untouched) and not untouched.hit
    assert not limiter.acquire(short)  # the next slot is 1 s away
    assert short.hit and not short.expired and short.hit
    passed = Deadline(0)
    assert passed.expired and passed.hit


def test_port_sweep_window_starts_after_the_last_connect_left():
    servers = [socket.socket() for _ in range(4)]
    try:
        for s in servers:
            s.bind(("127.0.0.1", 0))
            s.listen(4)
        ports = [s.getsockname()[1] for s in servers]
        limiter = RateLimiter(4.0)  # 4 connects take ~0.75 s, much longer than the 0.2 s window
        overall = Deadline(10)
        found = open_ports("127.0.0.1", ports, 0.2, overall, None, lambda: limiter.acquire(overall))
        assert found == set(ports)
    finally:
        for s in servers:
            s.close()


def test_framing_401_and_rtsp_without_length_are_complete():
    # Head shapes of nmap-service-probes lines 12367 (Hikvision RTSP 401) and an HTTP digest 401.
    rtsp = b'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm="Hikvision"\r\n\r\n'
    http401 = (
        b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="Login to 4L0A1B2PAZ00123"\r\n\r\n'
    )
    assert response_complete(rtsp) and response_complete(http401)
    assert not response_complete(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>")
    assert not response_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
    assert response_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345")
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    assert not response_complete(chunked) and response_complete(chunked + b"0\r\n\r\n")
    assert not response_complete(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n")


def test_rtsp_probe_does_not_wait_for_the_timeout_on_a_device_that_keeps_the_connection_open():
    reply = b'RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm="Hikvision"\r\n\r\n'
    # the second chunk never comes in time: the connection stays open as a real device's does
    with Responder(lambda req: [reply, b""], delay=3.0) as srv:
        start = time.monotonic()
        obs = list(RtspProbe(srv.port).run(make_ctx(timeout=1.5), ["127.0.0.1"]))
        elapsed = time.monotonic() - start
    assert ("rtsp.realm", "Hikvision") in {(e.key, e.value) for e in obs[0].evidence}
    assert elapsed < 0.5, elapsed  # two requests; before the framing fix each waited 1.5 s


def test_deadline_scales_with_targets_over_rate():
    small, big = plan_max_time(10, 4, 50, 2.0, False), plan_max_time(254, 4, 20, 2.0, False)
    assert small < 40 and big > 254 * 4 / 20
    assert plan_max_time(254, 4, 10, 2.0, False) > big


def _sadp(ip: str, serial: str) -> Observation:
    ev = [
        Evidence("sadp", "sadp.DeviceSN", serial),
        Evidence("sadp", "sadp.DeviceDescription", "DS-2CD2320D-I"),
    ]
    return Observation(ip, "44:47:cc:37:ce:81", ev, "sadp")


def test_a_second_device_claiming_a_seen_mac_is_a_conflict_on_both_not_a_takeover():
    f = Fusion()
    f.add(_sadp("10.77.0.11", "DS-2CD2320D-I20180919AACHC52932642"))
    f.add(Observation("10.77.0.11", None, [Evidence("http", "http.server", "App-webs/")], "http"))
    f.add(_sadp("10.77.0.99", "SPOOFED0001"))  # another box claiming the camera's MAC
    devices = {d.ip: d for d in f.devices()}
    assert set(devices) == {"10.77.0.11", "10.77.0.99"}
    real, spoof = devices["10.77.0.11"], devices["10.77.0.99"]
    assert ("http.server", "App-webs/") in {(e.key, e.value) for e in real.evidence}
    assert ("sadp.DeviceSN", "SPOOFED0001") not in {(e.key, e.value) for e in real.evidence}
    assert any("44:47:cc:37:ce:81" in c and "10.77.0.99" in c for c in real.conflicts)
    assert any("44:47:cc:37:ce:81" in c and "10.77.0.11" in c for c in spoof.conflicts)


def test_nmap_is_killed_at_its_budget_and_leaves_no_ip_less_record():
    import os
    import shutil

    import pytest

    from hikscan.active.nmap import NmapProbe

    if shutil.which("nmap") is None:
        pytest.skip("needs nmap")
    ip = f"127.88.{os.getpid() % 250}.{1 + os.getpid() % 200}"
    silent = socket.socket()  # accepts on 8000 and never answers: -sV waits on it for long
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    silent.bind((ip, 8000))
    silent.listen(8)
    try:
        ctx = make_ctx(overall=1.0)
        start = time.monotonic()
        obs = list(NmapProbe().run(ctx, [ip]))
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    assert elapsed < 2.5, elapsed
    assert obs == []
    assert ctx.stats.get("nmap.timed_out") == 1 and ctx.notes


def test_stats_counted_from_many_workers_at_once_are_exact():
    """The unicast workers count into one stats dict (tcp.open, http.requests …): no count may be lost."""
    ctx = make_ctx()
    workers, each = 8, 20_000
    start = threading.Barrier(workers)

    def work() -> None:
        start.wait()
        for _ in range(each):
            ctx.count("http.requests")
            ctx.count("tcp.open", 2)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can, to meet the race
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert ctx.stats["http.requests"] == workers * each
    assert ctx.stats["tcp.open"] == 2 * workers * each
