"""The open-loop load generator (labsupport/lessons/load/loadgen.py) against real Flask servers in capacity mode."""
from __future__ import annotations

import time

import numpy as np
import pytest

from labsupport.course.fleet import Fleet
from labsupport.lessons.load.loadgen import LoadError, open_loop, schedule


def test_constant_and_poisson_schedules():
    const = schedule(50, 1.0, "constant", 1000, seed=1)
    assert len(const) == 50 and np.allclose(np.diff(const), 0.02)
    pois = schedule(200, 20.0, "poisson", 100_000, seed=2)
    gaps = np.diff(pois)
    assert abs(len(pois) - 4000) < 4 * 4000 ** 0.5  # a Poisson count: mean 4000, sd 63
    assert abs(gaps.mean() - 0.005) < 0.0003 and abs(gaps.std() / gaps.mean() - 1) < 0.06  # exponential
    assert len(schedule(1000, 10, "constant", 25, None)) == 25  # bounded by count


@pytest.mark.parametrize("kw, message", [
    ({"rate": 0}, "rate=0"), ({"seconds": 1e6}, "seconds=1000000"), ({"arrivals": "burst"}, "'poisson' or"),
    ({"url": "localhost:80"}, "http://HOST:PORT/path"),
])
def test_bad_arguments_are_clear(kw, message):
    args = {"url": "http://127.0.0.1:9/", "rate": 10, "seconds": 1} | kw
    with pytest.raises(LoadError, match=message):
        open_loop(args.pop("url"), args.pop("rate"), args.pop("seconds"), **args)


def test_arrivals_do_not_wait_for_answers():
    """One worker, 100 ms each, 20 requests offered in one second: a closed-loop client would send
    about 10 and see 100 ms; the open loop sends all 20 on time and sees the line grow: the last,
    scheduled at 0.95 s, is served after 20 x 100 ms of work, about 1.05 s after its time."""
    with Fleet() as fleet:
        (port,) = fleet.start(count=1, workers=1, service_ms=100)
        run = open_loop(f"http://127.0.0.1:{port}/", 20, 1.0, arrivals="constant", timeout=10)
    assert len(run) == 20 and run.ok.all()
    assert np.allclose(run.sched, np.arange(20) * 0.05, atol=1e-6)
    assert run.latency_ms[-1] > 950 and run.percentile(50) > 400
    assert (np.diff(run.latency_ms) > 0).sum() >= 17  # every request waits longer than the one before
    assert run.shares() == {str(port): 1.0}
    assert "20 requests at 20.0/s" in repr(run)


def test_no_server_is_recorded_not_raised():
    run = open_loop("http://127.0.0.1:9/", 20, 0.5, arrivals="constant", timeout=1)
    assert len(run) == 10 and not run.ok.any() and set(run.error) == {"ConnectionRefusedError"}
    assert np.isnan(run.percentile(99))


def test_second_zero_is_announced_at_once_even_with_buffered_output(monkeypatch):
    """The child announces its second 0 (``T0``) as soon as it starts sending, not when its output
    buffer happens to fill: ``experiments.herd`` paces the returns of a server on it. Without
    PYTHONUNBUFFERED (a student's machine), an unflushed line arrived only after the run."""
    from labsupport.lessons.load import loadgen

    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    loadgen.children.close_all()  # a fresh child, started without PYTHONUNBUFFERED
    g = loadgen.OpenLoop("http://127.0.0.1:9/", 20, 1.5, arrivals="constant", timeout=1).start()
    try:
        deadline = time.monotonic() + 5
        while g.t0 == 0 and g.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert g.t0 > 0 and g.running, "T0 came only when the run ended"
    finally:
        g.wait()
    loadgen.children.close_all()


def test_a_generator_that_dies_says_so_and_the_next_run_works():
    """A child killed from outside (not by stop()) before any answer: a clear LoadError with its exit
    code, and the next run starts a fresh child."""
    import os
    import signal

    from labsupport.lessons.load import loadgen

    loadgen.children.close_all()  # a fresh child: it is still starting when it is killed
    g = loadgen.OpenLoop("http://127.0.0.1:9/", 20, 2.0, timeout=1).start()
    os.kill(g.proc.pid, signal.SIGTERM)
    with pytest.raises(LoadError, match=r"stopped before its run ended \(exit code -15\)"):
        g.wait()
    run = open_loop("http://127.0.0.1:9/", 20, 0.2, arrivals="constant", timeout=1)
    assert len(run) == 4 and set(run.error) == {"ConnectionRefusedError"}


def test_samples_makes_a_run_last_until_that_many_requests_were_sent():
    """samples=N: a percentile needs enough answers (p99: 100), so a short run is stretched until N
    requests were sent; the arrival times come from the seed, so the count is exact, not about N."""
    with Fleet() as fleet:
        (port,) = fleet.start(count=1)
        url = f"http://127.0.0.1:{port}/"
        stretched = open_loop(url, 100, 0.1, seed=4, samples=40)
        unseeded = open_loop(url, 100, 0.1, samples=25)
        long_enough = open_loop(url, 100, 0.3, arrivals="constant", samples=10)
    assert len(stretched) == 40 and stretched.answered == 40 and stretched.seconds > 0.1
    assert len(unseeded) == 25
    assert len(long_enough) == 30 and long_enough.seconds == 0.3  # already more: nothing changes
