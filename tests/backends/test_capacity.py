"""Capacity mode of backends/app.py (backends/capacity.py): a limited number of workers, a queue,
service-time distributions and the live slowdown switch, on real Flask processes."""
from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

import pytest

from labsupport.course.fleet import APP, Fleet

sys.path.insert(0, str(Path(APP).parent))
from capacity import Capacity


@pytest.mark.parametrize("dist", ["fixed", "exp", "pareto"])
def test_service_time_distributions_have_the_asked_mean(dist):
    cap = Capacity(1, 20, dist, seed=1)
    draws = [cap.draw_ms() for _ in range(20000)]
    assert abs(statistics.mean(draws) - 20) < 1.0  # the cap trims pareto's mean by well under 5%
    if dist == "fixed":
        assert set(draws) == {20}
    elif dist == "exp":
        assert abs(statistics.pstdev(draws) - 20) < 1.5  # exponential: sd = mean
    else:
        assert max(draws) > 8 * 20 and statistics.median(draws) < 20  # heavy tail, most requests quick


def test_bad_capacity_values_are_clear():
    with pytest.raises(ValueError, match="expected one of fixed, exp, pareto"):
        Capacity(1, 20, "normal")
    with pytest.raises(ValueError, match="must be more than 0"):
        Capacity(1, 20).set_slowdown(0)


def test_one_worker_serves_one_at_a_time_in_order():
    # 250 ms each: the first request must still be served while the three others start and queue (with 30 ms,
    # a busy machine started them after it had ended, and CI saw busy 0)
    cap = Capacity(1, 250)
    order, lock = [], threading.Lock()

    def one(i):
        cap.serve()
        with lock:
            order.append(i)

    threads = []
    for i in range(4):
        threads.append(threading.Thread(target=one, args=(i,)))
        threads[-1].start()
        deadline = time.monotonic() + 5
        while cap.state()["busy"] + cap.state()["waiting"] < i + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    assert cap.state()["busy"] == 1 and cap.state()["waiting"] == 3
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3] and cap.state()["served"] == 4


def _timed_get(port: int, out: list, t0: float | None = None) -> None:
    """Append the seconds from ``t0`` (default: now) until the answer to one GET has been read."""
    import urllib.request

    t0 = time.monotonic() if t0 is None else t0
    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
    out.append(time.monotonic() - t0)


def test_a_capacity_server_queues_and_slows_down_live():
    with Fleet() as fleet:
        (port,) = fleet.start(count=1, workers=1, service_ms=100)
        assert fleet.capacity(port)["workers"] == 1
        times: list[float] = []
        t0 = time.monotonic()  # one start for all three: a thread that starts late cannot hide the queue
        threads = [threading.Thread(target=_timed_get, args=(port, times, t0)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(times) == 3 and max(times) >= 0.29  # one worker serves three in turn: 3 x 100 ms
        state = fleet.slow_down(port, 3)
        assert state["slowdown"] == 3 and state["busy"] == 0
        one: list[float] = []
        _timed_get(port, one)
        assert one[0] >= 0.29  # 100 ms x 3, without a restart
        fleet.slow_down(port, 1)
        with pytest.raises(ValueError, match="factor must be a number"):
            fleet.slow_down(port, "fast")
