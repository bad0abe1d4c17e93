"""Lesson 08's rate limit and brute force on real HAProxy 2.6 beside the engine (lesson 08, item 9): a
burst's statuses, a blocked client's return against freq_ctr's prediction, the brute-force table, and the
exercise's solution accepted by haproxy -c. Real session servers on free ports."""
from __future__ import annotations

import pytest
from support.sessions_lab import LOGIN_SOLUTION, LOGIN_TOO_BROAD, ratelimit_config

from labsupport.balancer import Balancer
from labsupport.course.fleet import Fleet, free_ports
from labsupport.course.haproxy import HAProxy
from labsupport.lessons.sessions.abuse import brute_force
from labsupport.lessons.sessions.exercises import _config
from labsupport.lessons.sessions.ratelimit import burst, when_let_in

from .test_config import run_engine, run_haproxy


@pytest.fixture(scope="module")
def pair(haproxy_bin):
    servers = free_ports(3)
    fleet = Fleet()
    fleet.start(servers, sessions=True)
    ports = free_ports(2)
    hx = HAProxy.from_text(ratelimit_config(ports[0], servers, period="2s"), "ratelimit.cfg", binary=haproxy_bin)
    en = Balancer.from_text(ratelimit_config(ports[1], servers, period="2s"))
    try:
        hx.start()
        en.start()
        yield hx, en
    finally:
        en.stop()
        hx.stop()
        fleet.stop_all()


def test_the_brute_force_table_is_the_same_on_both(pair):  # first: the attacker's address is fresh
    tables = [brute_force(b, seconds=1.5, attacker_rate=40) for b in pair]
    for t in tables:
        browse, login, attack = t.rows
        assert browse["blocked"] == login["blocked"] == 0
        assert attack["200"] == 20 and attack["blocked"] == attack["sent"] - 20
    assert "balancer (HAProxy) CPU" in tables[0].title and "balancer (engine) CPU" in tables[1].title


def test_a_burst_gets_the_same_statuses(pair):
    got = [burst(b.urls[0].rstrip("/") + "/cart", 25, "127.0.0.4").column("status") for b in pair]
    assert got[0] == got[1] == [200] * 20 + [429] * 5


def test_haproxy_lets_the_client_in_when_freq_ctr_says(pair):
    hx, _ = pair
    r = when_let_in(hx.urls[0].rstrip("/") + "/cart", "127.0.0.3", limit=20, period=2, step=0.25)
    assert r.measured is not None and abs(r.measured - r.predicted) <= r.step + 0.05


@pytest.mark.parametrize("frontend", [LOGIN_SOLUTION, LOGIN_TOO_BROAD])
def test_the_exercises_answers_load_alike(haproxy_bin, tmp_path, frontend):
    path = tmp_path / "exercise.cfg"
    path.write_text(_config(frontend)[0])
    real = run_haproxy(haproxy_bin, path)
    assert real[0] == 0 and run_engine(path) == real
