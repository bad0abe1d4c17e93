"""Lesson 05's monitoring helpers (labsupport.lessons.monitoring.monitor): rates from two snapshots, and
percentiles from the log over a sliding window (stats over HTTP and live traffic on the engine and on real
HAProxy: tests/differential/test_monitoring_monitor.py)."""
from __future__ import annotations

import time

import pytest

from labsupport.lessons.monitoring.monitor import LatencyWindow, rates


def line(date: str, server: str, ta: int, backend: str = "be") -> str:
    return (f'127.0.0.1:5000 [{date}] fe {backend}/{server} 0/0/0/{ta}/{ta} 200 73 - - ---- 1/1/0/0/0 0/0 '
            '"GET / HTTP/1.1"')


def test_window_gives_percentiles_per_server_and_backend_and_forgets_old_lines():
    now = time.time()

    def stamp(t: float) -> str:
        return time.strftime("%d/%b/%Y:%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"

    lines = [line(stamp(now - 1), "fast", 10)] * 98 + [line(stamp(now - 1), "slow", 1000)] * 2
    lines += [line(stamp(now - 100), "slow", 5000)] * 50  # outside a 30 s window
    lines += ["Server be/slow is DOWN, reason: Layer4 connection problem", line(stamp(now), "<NOSRV>", 0)]
    w = LatencyWindow(window=30)
    assert w.add(lines) == 150
    rows = {(r["backend"], r["server"]): r for r in w.stats(now)}
    assert rows[("be", "fast")]["p99"] == 10 and rows[("be", "slow")]["p50"] == 1000
    whole = rows[("be", "(all)")]
    assert (whole["count"], whole["p50"], whole["p90"], whole["p99"]) == (100, 10, 10, 1000)
    assert whole["mean"] == pytest.approx(29.8)  # the average hides the tail the p99 shows
    assert "p99" in repr(w.table(now))


def test_rates_from_two_snapshots():
    rows0 = [{"pxname": "be", "svname": "s1", "stot": 10, "req_tot": 10, "hrsp_2xx": 9, "hrsp_5xx": 1, "bout": 0}]
    rows1 = [{"pxname": "be", "svname": "s1", "stot": 30, "req_tot": 30, "hrsp_2xx": 27, "hrsp_5xx": 3, "bout": 0}]
    r = rates((100.0, rows0), (102.0, rows1))
    assert (r[0]["stot/s"], r[0]["hrsp_5xx/s"]) == (10.0, 1.0)
    assert rates((100.0, rows1), (101.0, rows0))[0]["stot/s"] == ""  # counters were cleared
    with pytest.raises(ValueError):
        rates((2.0, rows0), (1.0, rows1))
