"""Lesson 08's rate limit seen from the client (ratelimit.py): a burst's 429s fall where the limit says, a
blocked client is let in when HAProxy's sliding window says, and the prediction is freq_ctr's arithmetic.
Real session servers, the real engine; the same on real HAProxy lives in tests/differential/test_sessions_haproxy.py."""
from __future__ import annotations

import pytest
from support.sessions_lab import ratelimit_config

from labsupport.balancer import Balancer
from labsupport.course.fleet import Fleet, free_ports
from labsupport.errors import UsageError
from labsupport.lessons.sessions.ratelimit import burst, predict_let_in, when_let_in


@pytest.fixture(scope="module")
def shop():
    ports = free_ports(4)
    fleet = Fleet()
    fleet.start(ports[1:], sessions=True)
    lb = Balancer.from_text(ratelimit_config(ports[0], ports[1:], period="2s")).start()
    try:
        yield lb.url.rstrip("/")
    finally:
        lb.stop()
        fleet.stop_all()


def test_a_quick_burst_is_refused_from_the_21st_request(shop):
    t = burst(shop + "/cart", 25, "127.0.0.2")
    assert t.column("n") == list(range(1, 26))
    assert t.column("status") == [200] * 20 + [429] * 5
    assert t.title == "25 requests from 127.0.0.2: 20 x 200, 5 x 429; first not let through: request 21 at " \
        f"{t[20]['t (s)']:.2f} s"


def test_another_address_has_its_own_count(shop):
    assert burst(shop + "/cart", 3, "127.0.0.5").column("status") == [200] * 3


def test_a_paced_burst_under_the_limit_is_let_through(shop):
    t = burst(shop + "/cart", 6, "127.0.0.6", rate=20)
    assert t.column("status") == [200] * 6
    assert t.column("t (s)")[-1] >= 5 / 20  # paced: the sixth one went a quarter second after the first


def test_the_blocked_client_is_let_in_when_the_window_says(shop):
    r = when_let_in(shop + "/cart", "127.0.0.3", limit=20, period=2, step=0.25)
    assert r.measured is not None and r.predicted is not None
    # the client's own clock against the balancer's: the same retry, give or take one step
    assert abs(r.measured - r.predicted) <= r.step + 0.05
    assert r.predicted >= r.predicted_patient  # knocking keeps you out longer
    assert r.retries >= 1 and r.burst == 25
    assert "measured" in repr(r) and "<table>" in r._repr_html_()


def test_prediction_follows_freq_ctr():
    burst25 = [0.001 * i for i in range(25)]
    # all 25 in the first period: blocked to its end (2 s after the first request); then 25 weigh
    # 25 * remain / 2 s (integer division), and a lone request passes once 1 + 25 * remain // 2 s <= 20,
    # that is remain < 20/25 of the period: 0.4 s into it (times after the last request, 0.024 s)
    patient = predict_let_in(burst25, 20, 2.0)
    assert patient == pytest.approx(2.0 + 2.0 * (1 - 20 / 25) - 0.024, abs=0.002)
    # retrying every second: the retry 2 s after the burst reads 1 + 26 * 1976 // 2000 = 26 (its own period
    # just began), the one after 3 s 2 + 26 * 976 // 2000 = 14: let in
    assert predict_let_in(burst25, 20, 2.0, step=1.0) == pytest.approx(3.0)
    assert predict_let_in(burst25, 20, 2.0, step=0.1) > patient
    assert predict_let_in([], 20, 2.0) == 0.0
    assert predict_let_in([0.0] * 100, 20, 2.0, step=1.0, horizon=0.5) is None


def test_bounds_are_checked():
    with pytest.raises(UsageError, match="count must be between 1 and 500"):
        burst("http://127.0.0.1:1/", 501)
    with pytest.raises(UsageError, match="keep a burst under 60 s"):
        burst("http://127.0.0.1:1/", 100, rate=1)
    with pytest.raises(UsageError, match="step must be between"):
        when_let_in("http://127.0.0.1:1/", step=0.01)


def test_a_client_never_blocked_is_told(shop):
    with pytest.raises(UsageError, match="were all let through"):
        when_let_in(shop + "/cart", "127.0.0.7", limit=10, period=2, extra=-5)  # 5 requests: under 20
