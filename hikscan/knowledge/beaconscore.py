"""Beacon scoring as RITA does it: how regular the intervals and how constant the sizes of contacts.

Re-expressed from Active Countermeasures' RITA (activecm/rita-legacy, pkg/beacon/analyzer.go, GPL-3.0;
the formulas only, no code): per (source, destination) the sorted intervals between connection times and
the per-connection sizes are summarised by
- Bowley's quartile skew (Q1 + Q3 - 2·Q2) / (Q3 - Q1), taken as 0 when Q3 - Q1 < 10 (seconds or bytes)
  or Q2 equals Q1 or Q3 (commit 5af7ee2); score 1 - |skew|;
- the median absolute deviation about the median (MADM); score 1 - MADM/median, floored at 0 (5af7ee2);
- the connection count against the observation span: count / (span / 10), capped at 1 (commit 0044ff7);
- the smallness of the most common size: 1 - mode/65535.
Interval score = mean(skew, MADM, count); size score = mean(skew, MADM, smallness); the beacon score is
the mean of all six, rounded up to 3 decimals as RITA does. Zero intervals (simultaneous connections)
are left out of the interval measures, as in 5af7ee2.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True, slots=True)
class BeaconScore:
    score: float
    interval_score: float
    size_score: float
    interval: float  # median interval, seconds
    interval_skew: float
    interval_madm: float
    size: float  # median size, bytes
    size_skew: float
    size_madm: float
    count_score: float
    events: int


def _at(sorted_values: Sequence[float], q: float) -> float:
    """RITA's quantile: the element at round(q·(n-1))."""
    return sorted_values[int(q * (len(sorted_values) - 1) + 0.5)]


def _skew_madm(values: list[float]) -> tuple[float, float, float]:
    """(Bowley skew, MADM, median) of sorted values, with RITA's guards on the skew."""
    low, mid, high = _at(values, 0.25), _at(values, 0.5), _at(values, 0.75)
    skew = 0.0
    if high - low >= 10 and mid != low and mid != high:
        skew = (low + high - 2 * mid) / (high - low)
    madm = _at(sorted(abs(v - mid) for v in values), 0.5)
    return skew, madm, mid


def _up(x: float) -> float:
    return math.ceil(x * 1000) / 1000


def beacon_score(times: Sequence[float], sizes: Sequence[int], span: float) -> BeaconScore | None:
    """The RITA score of one pair's contact times and sizes over an observation `span` of seconds;
    None when there are fewer than two non-zero intervals (nothing to measure)."""
    ordered = sorted(times)
    intervals = sorted(b - a for a, b in pairwise(ordered) if b - a > 0)
    if len(intervals) < 2 or not sizes:
        return None
    ts_skew, ts_madm, ts_mid = _skew_madm(intervals)
    ds_values = sorted(float(s) for s in sizes)
    ds_skew, ds_madm, ds_mid = _skew_madm(ds_values)
    ts_madm_score = max(0.0, 1.0 - ts_madm / ts_mid) if ts_mid >= 1 else 1.0
    ds_madm_score = max(0.0, 1.0 - ds_madm / ds_mid) if ds_mid >= 1 else 0.0
    mode = Counter(sizes).most_common(1)[0][0]
    smallness = max(0.0, 1.0 - mode / 65535.0)
    count_score = min(1.0, len(ordered) / (span / 10.0)) if span > 0 else 1.0
    ts_sum = (1.0 - abs(ts_skew)) + ts_madm_score + count_score
    ds_sum = (1.0 - abs(ds_skew)) + ds_madm_score + smallness
    return BeaconScore(
        score=_up((ts_sum + ds_sum) / 6.0),
        interval_score=_up(ts_sum / 3.0),
        size_score=_up(ds_sum / 3.0),
        interval=ts_mid,
        interval_skew=round(ts_skew, 3),
        interval_madm=ts_madm,
        size=ds_mid,
        size_skew=round(ds_skew, 3),
        size_madm=ds_madm,
        count_score=round(count_score, 3),
        events=len(ordered),
    )


def example_events(
    events: int, interval: float, jitter: float, size: int, size_jitter: int = 0
) -> tuple[list[float], list[int]]:
    """Deterministic test events (rule examples): a fixed interval with a repeating jitter pattern."""
    pattern = (0.0, 0.7, -0.4, 1.0, -1.0, 0.2, -0.8, 0.5, -0.1, 0.9, -0.6, 0.3)
    times = [i * interval + jitter * pattern[i % len(pattern)] for i in range(events)]
    sizes = [size + int(size_jitter * pattern[(i * 5) % len(pattern)]) for i in range(events)]
    return times, sizes
