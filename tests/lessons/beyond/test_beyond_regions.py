"""Lesson 10's regions (labsupport/lessons/beyond/regions.py, regionfailover.py): GeoDNS answers per client
subnet asked from the real client hosts, a killed region's clients moved to the next nearest region within
what the health check and the TTL allow, the delay between regions at least what was set, the cost of a low TTL.

They need network namespaces: without them they skip with the reason (LAB_REQUIRE_NETNS=1 makes that a
failure). HAProxy runs the balancers when installed (LAB_REQUIRE_HAPROXY=1 makes its absence a failure).
"""
from __future__ import annotations

import os

import pytest
from support.netns import require_netns

from labsupport.errors import NotFoundError, UsageError
from labsupport.lessons.beyond.regionfailover import measure_region_failover, ttl_cost
from labsupport.lessons.beyond.regions import NAMES, Regions

MARGIN = 3.0  # seconds on top of what the settings allow: a busy 2-core CI machine


@pytest.fixture(scope="module")
def regions():
    require_netns()
    made = Regions(ttl=2, inter=0.5, fall=2, rise=2)
    yield made
    made.stop()


def test_the_balancers_are_real_haproxy_when_it_is_installed(regions):
    if os.environ.get("LAB_REQUIRE_HAPROXY") == "1":
        assert regions.kind == "haproxy"
    assert regions.kind in ("haproxy", "engine") and regions.kind in repr(regions)
    assert all(b.running and b.host.name.endswith("-lb") for b in regions.balancers.values())


def test_each_client_is_answered_with_its_own_region(regions):
    table = regions.answers()
    for row in table.rows:
        assert row["answer"] == regions.balancer(row["client in"]), row
        assert row["leads to"] == row["client in"] and row["ttl"] == 2
    log = regions.dns.queries()
    for region in NAMES:
        asked = [q for q in log if q["client"] == regions.client(region).address]
        assert asked and asked[-1]["region"] == region and asked[-1]["answer"] == regions.balancer(region)


def test_the_delay_between_regions_is_at_least_what_was_set(regions):
    local = min(regions.round_trips("europe", "europe", 3))
    far = min(regions.round_trips("europe", "america", 3))
    one_way = regions.distance_ms[("europe", "america")]
    # connect, request and answer each cross the relay once: three one-way delays at least
    assert far >= 3 * one_way * 0.99, (far, one_way)
    assert far > local
    assert "extra / one way" in str(regions.distances(2))


def test_a_killed_region_moves_its_clients_to_the_next_nearest(regions):
    result = measure_region_failover(regions, "europe", ttl=2)
    assert result.moved_to == "america"  # europe-america 40 ms, europe-asia 80 ms
    assert result.left_out_at is not None and result.left_out_at > result.killed_at
    assert result.moved_at is not None and result.moved_at >= result.left_out_at
    assert result.moved_at - result.killed_at <= result.bound + MARGIN, result
    assert result.failed > 0 and result.gap > 0
    assert result.resolves and result.resolves[-1][1] == regions.reach("europe", "america")
    assert "health check leaves it out" in str(result.table())
    fig = result.figure()
    assert fig.axes and "europe fails" in fig.axes[0].get_title()
    events = regions.dns.health_events()
    mine = [e["state"] for e in events if e["address"] == regions.balancer("europe")]
    assert mine[-2:] == ["DOWN", "UP"] or mine[-1] == "DOWN"  # restored: UP follows once rise checks pass
    assert not regions.killed


def test_measured_again_right_after_a_restore_it_starts_from_home(regions):
    result = measure_region_failover(regions, "europe", ttl=1, before=0.5)
    assert result.regions_of[0] == "europe" and result.moved_to == "america"
    assert result.ttl == 1 and result.failed > 0
    assert result.moved_at - result.killed_at <= result.bound + MARGIN, result


def test_while_a_region_is_down_only_its_clients_move(regions):
    regions.kill("asia", how="unplug")
    try:
        regions.dns.wait_for(lambda e: e.get("event") == "health" and e["state"] == "DOWN"
                             and e["address"] == regions.balancer("asia"), 15, "asia DOWN")
        rows = {row["client in"]: row for row in regions.answers().rows}
        assert rows["asia"]["leads to"] == "america"  # asia-america 70 ms, asia-europe 80 ms
        assert rows["europe"]["leads to"] == "europe" and rows["america"]["leads to"] == "america"
        with pytest.raises(UsageError, match="asia is already down"):
            regions.kill("asia")
    finally:
        regions.restore("asia")
    assert "DOWN" in str(regions.health_log())


def test_a_low_ttl_costs_more_queries(regions):
    before = regions.dns.ttl
    table = ttl_cost(regions, (1, 30), clients_per_region=1, seconds=2.0)
    low, high = table.rows
    assert low["ttl (s)"] == 1 and high["ttl (s)"] == 30
    assert low["DNS queries"] > high["DNS queries"] >= high["clients"]
    assert regions.dns.ttl == before  # put back


def test_wrong_names_are_refused_plainly(regions):
    with pytest.raises(NotFoundError, match="no region 'mars' \\(regions: europe, america, asia\\)"):
        regions.kill("mars")
    with pytest.raises(UsageError, match="how='pull'"):
        regions.kill("europe", how="pull")
    with pytest.raises(UsageError, match="engine='nginx': None \\(HAProxy when installed\\)"):
        Regions(engine="nginx")
