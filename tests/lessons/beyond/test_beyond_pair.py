"""Lesson 10's balancer pair (labsupport/lessons/beyond/pair.py, failover.py): keepalived moves the virtual
address under load when the active balancer is cut off, when its HAProxy dies (with tracking), and not when
tracking is off; nopreempt leaves the address on lb2; the config says what was asked; bad arguments are
refused plainly.

The balancers run real HAProxy when it is installed (the engine otherwise; LAB_REQUIRE_HAPROXY=1 insists on
HAProxy). They need namespaces and keepalived: without them they skip with the reason, and fail under
LAB_REQUIRE_NETNS=1 / LAB_REQUIRE_KEEPALIVED=1. Bounds on gaps are generous, derived from advert_int: they
catch a failover that never happens or waits far too long, never a slow machine.
"""
from __future__ import annotations

import time

import pytest
from support.beyond_lab import expected_kind, require_keepalived, site

from labsupport import lifecycle
from labsupport.course.display.table import Table
from labsupport.course.hosts import Lab
from labsupport.errors import UsageError
from labsupport.lessons.beyond.failover import failover_figure, measure_failover
from labsupport.lessons.beyond.pair import BalancerPair


def master_down(advert_int: float, priority: int = 100) -> float:
    """VRRP's master down interval for a backup of ``priority``: when it takes over from a silent master."""
    return 3 * advert_int + (256 - priority) / 256 * advert_int


class World:
    """One lab for the module: client, web1, web2, and the pair with default settings (a test that needs
    other settings stops it, makes its own, and calls ``default_pair()`` at the end)."""

    def __init__(self):
        self.lab = Lab()
        self.client, self.servers = site(self.lab)
        self.pair = None
        self.default_pair()

    def default_pair(self) -> None:
        if self.pair is not None:
            self.pair.stop()
        self.pair = BalancerPair(self.lab, self.servers)
        self.pair.wait_for_holder("lb1", 30)


@pytest.fixture(scope="module")
def world():
    require_keepalived()
    made = World()
    try:
        yield made
    finally:
        made.lab.stop()


@pytest.fixture()
def pair(world):
    yield world.pair
    world.pair.restore()
    world.pair.wait_for_holder("lb1", 30)


def test_the_pair_runs_haproxy_on_both_and_lb1_holds_the_address(world):
    pair = world.pair
    assert pair.kind == (expected_kind() or pair.kind)
    assert pair.holder() == "lb1" and pair.holders() == ["lb1"]
    state = pair.state()
    assert all(s["balancer"] and s["keepalived"] and s["plugged"] for s in state.values()), state
    assert "lb1" in repr(pair) and pair.kind in repr(pair)


def test_config_text_has_the_settings(world):
    pair = world.pair
    one, two = pair.config("lb1"), pair.config("lb2")
    for text in (one, two):
        assert "interface eth0" in text and "virtual_router_id 51" in text and "advert_int 1 " in text
        assert "10.0.0.100/24 dev eth0" in text and "track_file" in text and "balancer_down" in text
        assert "nopreempt" not in text and "vrrp_version 3" not in text
    assert "priority 150" in one and "state MASTER" in one
    assert "priority 100" in two and "state BACKUP" in two
    assert "bind 10.0.0.100:80" in pair.haproxy_cfg and "server web1 10.0.0.11:80 check" in pair.haproxy_cfg and "balance roundrobin" in pair.haproxy_cfg
    with pytest.raises(UsageError, match="the balancers are lb1, lb2"):
        pair.config("lb3")


def test_unplugging_the_holder_moves_the_address_under_load(world, pair):
    result = measure_failover(pair, world.client, how="unplug", rate=20)
    assert result.first_holder == "lb1" and result.last_holder == "lb2", result.holders
    assert 0 < result.failed < len(result.shots)
    bound = master_down(pair.advert_int) + 3.0  # + the poll, the probe's timeout, a busy machine
    assert 0 < result.gap() < bound, result.summary()
    assert result.moved_after() is not None and result.moved_after() < bound
    assert set(result.answered_by()) >= {"web1", "web2"}  # both servers answered, through either balancer
    tail = [s for s in result.shots if s.t > result.shots[-1].t - 0.5]
    assert tail and all(s.ok for s in tail)  # the service came back within the run
    assert "unplug" in repr(result) and "lb1 -> lb2" in repr(result)
    table = result.table()
    assert isinstance(table, Table) and "stop" in table.column("event")
    figure = failover_figure(result)
    assert len(figure.axes) == 2


def test_tracking_moves_the_address_when_haproxy_dies(world, pair):
    result = measure_failover(pair, world.client, how="balancer", rate=20, seconds=4)
    assert result.last_holder == "lb2", result.holders
    assert "keepalived there checks it" in result.did
    assert 0 < result.gap() < master_down(pair.advert_int) + 3.0, result.summary()
    assert all(s.ok for s in result.shots if s.t > result.shots[-1].t - 0.5)


def test_stopping_keepalived_hands_the_address_over(world, pair):
    result = measure_failover(pair, world.client, how="keepalived", rate=20, seconds=3)
    assert result.last_holder == "lb2", result.holders
    assert result.gap() < master_down(pair.advert_int) + 3.0, result.summary()


def test_without_tracking_the_address_stays_on_a_dead_haproxy(world):
    lab, client, servers = world.lab, world.client, world.servers
    world.pair.stop()  # one pair per lab at a time: both would bind port 80 in lb1 and lb2
    try:
        pair = BalancerPair(lab, servers, track=False, advert_int=0.5)
        try:
            assert "track_file" not in pair.config("lb1")
            pair.wait_for_holder("lb1", 30)
            result = measure_failover(pair, client, how="balancer", rate=20, seconds=3, restore=False)
            assert "does not check it" in result.did
            assert result.last_holder == "lb1" and result.moved_after() is None
            after = [s for s in result.shots if s.t > result.stopped_at + 0.1]
            assert after and not any(s.ok for s in after)  # the outage lasts until someone restores HAProxy
            pair.restore()
            deadline = time.monotonic() + 30
            while not pair.state()["lb1"]["balancer"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            pair.stop()
    finally:
        world.default_pair()


def test_nopreempt_keeps_the_address_on_lb2_after_restore(world):
    lab, servers = world.lab, world.servers
    world.pair.stop()
    try:
        pair = BalancerPair(lab, servers, preempt=False, advert_int=0.5)
        try:
            assert "nopreempt" in pair.config("lb1") and "state BACKUP" in pair.config("lb1")
            assert "vrrp_version 3" in pair.config("lb1") and "advert_int 0.5" in pair.config("lb1")
            pair.wait_for_holder("lb1", 30)
            pair.stop_active("balancer")
            pair.wait_for_holder("lb2", 30)
            assert pair.restore() == [f"started {pair.kind} on lb1 again"]
            # lb1 is healthy again: with preempt it would take the address back within a master down
            # interval; watch for three of them
            end = time.monotonic() + 3 * master_down(0.5, 150) + 1
            while time.monotonic() < end:
                assert pair.holder() == "lb2"
                time.sleep(0.1)
            assert pair.state()["lb1"]["balancer"]
        finally:
            pair.stop()
    finally:
        world.default_pair()


def test_bad_arguments_are_refused_plainly(world):
    lab, client, servers, pair = world.lab, world.client, world.servers, world.pair
    cases = [
        (dict(servers={}), "servers: a dict of name -> 'address:port'"),
        (dict(servers={"web1": "10.0.0.11"}), "server 'web1': '10.0.0.11' is not 'address:port'"),
        (dict(vip="192.168.1.1"), "vip 192.168.1.1: use a free address of the lab's network 10.0.0.0/24"),
        (dict(vip="10.0.0.21"), "vip 10.0.0.21: use a free address"),
        (dict(advert_int=0), "advert_int=0: seconds between advertisements"),
        (dict(priorities=(100, 100)), "give lb1 and lb2 different priorities"),
        (dict(priorities=(300, 100)), "two whole numbers 1..254"),
        (dict(balancer="nginx"), "balancer='nginx': 'haproxy' (real HAProxy) or 'engine'"),
    ]
    for extra, message in cases:
        with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
            BalancerPair(lab, **{"servers": servers, **extra})
    with pytest.raises(UsageError, match="this lab already runs a balancer pair \\(10.0.0.100 on lb1 and lb2\\)"):
        BalancerPair(lab, servers)
    with pytest.raises(UsageError, match="BalancerPair\\(lab, servers\\) needs the Lab first, not str"):
        BalancerPair("lab", servers)
    with pytest.raises(UsageError, match="how='explode': one of unplug, balancer, keepalived"):
        pair.stop_active("explode")
    with pytest.raises(UsageError, match="host='lb3'"):
        pair.stop_active("balancer", host="lb3")
    with pytest.raises(UsageError, match="expected 'lb1', 'lb2' or None"):
        pair.wait_for_holder("lb3")
    with pytest.raises(UsageError, match="rate=0"):
        measure_failover(pair, client, rate=0)
    with pytest.raises(UsageError, match="client_host: a host of the lab"):
        measure_failover(pair, "client")


def test_stop_all_stops_the_pair_and_its_lab(world):
    """Last in this file: it ends the module's lab."""
    pair = world.pair
    processes = [p for p in (*(b.proc for b in pair._balancers.values()), *pair._keepaliveds.values(),
                             *pair._checkers.values()) if p]
    assert pair in lifecycle.running("balancer") and len(processes) == 6
    lifecycle.stop_all()
    assert not pair.running and pair not in lifecycle.running("balancer") and not world.lab.running
    assert all(p.poll() is not None for p in processes)
    assert not pair.folder.exists()
    assert repr(pair) == "<BalancerPair 10.0.0.100 stopped>"
