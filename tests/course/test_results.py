"""The course's one percentile (nearest-rank), used by lessons 03, 05 and 06 and the load generator."""
from __future__ import annotations

import math

import numpy as np
import pytest

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


def test_a_percentile_needs_enough_values_before_it_is_more_than_the_maximum():
    """p99 of fewer than 100 values is the largest value (nearest rank); min_samples says how many it needs."""
    from labsupport import min_samples, percentile_table

    assert min_samples(99) == 100 and min_samples(99.9) == 1000 and min_samples(50) == 2
    assert min_samples(100) == math.inf
    assert percentile(list(range(1, 100)), 99) == 99  # 99 values: the p99 is the largest
    assert percentile(list(range(1, 101)), 99) == 99 < 100  # 100 values: one lies above it
    table = percentile_table(range(1, 301), (50, 99, 99.9), what="answers")
    assert table.title == "from 300 answers"
    assert table.column("value (ms)") == [150.0, 297.0, "-"]
    assert table.column("note")[2] == "needs 1000 answers; the largest of these 300: 300.0"
    enough = percentile_table(np.arange(1, 1001), (50, 99.9))
    assert enough.columns == ["percentile", "value (ms)"] and enough.title == "from 1000 values"


def test_load_run_counts_throughput_until_the_last_answer():
    """Overload: 110 requests offered in 1 s to a server that answers 100/s. Every request is answered in
    the end, the last at 1.1 s: 100 answers/s, not the 110/s that dividing by the offered second would show."""
    n = 110
    sched = np.arange(n) / n
    done = (np.arange(n) + 1) / 100  # one answer every 10 ms
    run = LoadRun("http://x/", float(n), 1.0, "constant", sched, (done - sched) * 1000, np.full(n, 200),
                  ("s1",) * n, ("",) * n)
    assert run.throughput == pytest.approx(100.0) and run.answered == 110
    assert "of 110 answers" in repr(run)
    assert run.percentile_table((50, 99)).title == "from 110 answers"
