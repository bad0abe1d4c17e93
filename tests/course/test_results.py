"""The course's one percentile (nearest-rank), used by lessons 03, 05 and 06 and the load generator."""
from __future__ import annotations

import math

import numpy as np

from labsupport import LatencyWindow, percentile
from labsupport.course.traffic.results import Result, Run
from labsupport.lessons.load.loadgen import LoadRun


def test_nearest_rank_on_known_values():
    values = list(range(1, 11))
    assert percentile(values, 50) == 5 and percentile(values, 90) == 9
    assert percentile(values, 0) == 1 and percentile(values, 100) == 10 and percentile(values, 99) == 10
    assert percentile(values, 10) == 1 and percentile(values, 11) == 2  # the smallest with >= q % at or below
    assert percentile([3.0], 50) == 3.0 and percentile([], 50) is None
    assert percentile([5, 1, 4, 2, 3], 60) == 3  # order does not matter


def test_no_float_rounding_at_exact_ranks():
    values = list(range(1, 21))
    assert percentile(values, 95) == 19  # 0.95 * 20 is 19.000000000000004 in floats: still rank 19
    assert percentile(list(range(1, 101)), 29) == 29


def test_every_lesson_gets_the_same_figure():
    lat = [float(v) for v in range(1, 11)]
    run = Run("http://x/", [Result(i, 0.0, 200, "s", ms) for i, ms in enumerate(lat)], 1.0)
    assert run.summary()["p50_ms"] == 5.0  # lesson 03
    load = LoadRun("http://x/", 10.0, 1.0, "constant", np.zeros(10), np.array(lat), np.full(10, 200),
                   tuple("s" * 10), ("",) * 10)
    assert load.percentile(50) == 5.0 and list(load.percentile([50, 90])) == [5.0, 9.0]  # lesson 06
    assert math.isnan(LoadRun("u", 1.0, 0.0, "constant", np.zeros(0), np.zeros(0), np.zeros(0), (), ()).percentile(50))
    window = LatencyWindow(window=60)
    now = 1_000_000.0
    window.entries.extend((now, "be", "s1", int(ms)) for ms in lat)
    assert window.stats(now)[0]["p50"] == 5 and window.stats(now)[0]["p90"] == 9  # lesson 05
