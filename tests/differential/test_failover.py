"""The same VRRP failover with real HAProxy on both balancers and with the course engine on both
(labsupport/lessons/beyond/pair.py): the balancer on lb1 crashes under load, keepalived's check of it notices,
and either way the traffic moves to lb2 within the bound keepalived's settings give, and both servers answer
through the new holder. (A pulled cable involves no balancer, only keepalived: tests/lessons/beyond/
test_beyond_pair.py measures it on HAProxy.)

Needs namespaces and keepalived (skip with the reason, or fail under LAB_REQUIRE_NETNS=1 /
LAB_REQUIRE_KEEPALIVED=1); the HAProxy case needs haproxy (the ``haproxy_bin`` fixture)."""
from __future__ import annotations

import pytest
from support.beyond_lab import require_keepalived, site

from labsupport.course.hosts import Lab
from labsupport.lessons.beyond.failover import measure_failover
from labsupport.lessons.beyond.pair import BalancerPair

ADVERT_INT = 1.0
BOUND = 3 * ADVERT_INT + (256 - 100) / 256 * ADVERT_INT + 3.0  # the master down interval, generously


@pytest.fixture(scope="module")
def world():
    require_keepalived()
    lab = Lab()
    try:
        yield lab, *site(lab)
    finally:
        lab.stop()


def _failover(world, balancer: str, how: str):
    lab, client, servers = world
    pair = BalancerPair(lab, servers, balancer=balancer, advert_int=ADVERT_INT)
    try:
        pair.wait_for_holder("lb1", 30)
        # a tracked balancer moves within a second or two
        return pair.kind, measure_failover(pair, client, how=how, rate=20, seconds=4, restore=False)
    finally:
        pair.stop()


@pytest.mark.parametrize("how", ["balancer"])
def test_haproxy_and_the_engine_fail_over_alike(world, haproxy_bin, how):
    results = {}
    for balancer in ("haproxy", "engine"):
        kind, result = _failover(world, balancer, how)
        assert kind == balancer
        assert result.first_holder == "lb1" and result.last_holder == "lb2", (balancer, result.holders)
        assert 0 < result.failed < len(result.shots) and 0 < result.gap() < BOUND, result.summary()
        tail = [s for s in result.shots if s.t > result.shots[-1].t - 0.5]
        assert tail and all(s.ok for s in tail), result.summary()
        assert set(result.answered_by()) >= {"web1", "web2"}
        results[balancer] = result
    # the balancer makes no difference to how long the address takes to move: keepalived decides that
    assert abs(results["haproxy"].moved_after() - results["engine"].moved_after()) < BOUND / 2, \
        [r.summary() for r in results.values()]
