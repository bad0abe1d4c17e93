"""Lesson 10 with real HAProxy in a lab host (labsupport/lessons/beyond/balancerhost.py, distance.py): it starts
inside the host, its runtime API answers from this process, and over two near and two far servers leastconn
sends the far ones fewer requests than roundrobin does, as the engine does (tests/lessons/beyond/test_beyond_distance.py)."""
from __future__ import annotations

import os

import pytest
from support.netns import require_netns, wait_until

from labsupport import lifecycle
from labsupport.course.hosts import Lab
from labsupport.errors import ConfigError
from labsupport.lessons.beyond.balancerhost import HostBalancer
from labsupport.lessons.beyond.distance import balancer_config, near_and_far
from labsupport.lessons.beyond.labsite import build_site


@pytest.fixture(scope="module")
def site(haproxy_bin):
    require_netns()
    lab = Lab()
    made = build_site(lab, servers=4)
    yield made
    lab.stop()


def test_haproxy_runs_in_a_host_and_answers_its_runtime_api_here(site):
    lb = site.lab.hosts.get("lb") or site.lab.host("lb", "10.0.0.5")
    config = balancer_config(lb.address, {"web1": "10.0.0.11:80", "web2": "10.0.0.12:80"}, "roundrobin")
    hx = HostBalancer(lb, config, "pair.cfg", engine=False).start()
    try:
        assert hx.kind == "haproxy" and hx.running
        assert hx.proc.target() in lb.processes()  # haproxy itself runs in host lb
        assert repr(hx) == "<HostBalancer haproxy running in host lb on http://10.0.0.5:80/>"
        answers = {site.who("client", "10.0.0.5") for _ in range(4)}
        assert answers == {"10.0.0.11", "10.0.0.12"}
        rows = {r["svname"]: r for r in hx.stats()}
        assert rows["web1"]["stot"] + rows["web2"]["stot"] == 4 and rows["web1"]["status"] == "no check"
    finally:
        hx.stop()
    assert not hx.running and repr(hx) == "<HostBalancer haproxy stopped>"


def test_a_wrong_config_is_reported_under_its_name(site):
    lb = site.lab.hosts.get("lb") or site.lab.host("lb", "10.0.0.5")
    config = balancer_config(lb.address, {"web1": "10.0.0.11:80"}, "rondrobin")
    with pytest.raises(ConfigError, match=r"near\.cfg:13: balance only supports 'roundrobin'"):
        HostBalancer(lb, config, "near.cfg", engine=False).start()


def test_near_and_far_on_real_haproxy(site):
    result = near_and_far(site, 30, requests=48, concurrency=4, engine=False)  # 24 were too few on a busy machine
    assert result.kind == "haproxy" and result.version.startswith("2.")
    assert result.table().title == f"real HAProxy {result.version} over 2 near and 2 far servers"
    assert result.counts("roundrobin") == {"web1": 12, "web2": 12, "web3": 12, "web4": 12}
    assert result.failed("roundrobin") == result.failed("leastconn") == 0
    assert result.far_share("leastconn") < result.far_share("roundrobin") == 0.5
    assert result.mean_ms("leastconn") < result.mean_ms("roundrobin")


def test_stop_all_ends_haproxy_in_its_host(haproxy_bin):
    """Last in this file: stop_all() also ends the module's lab (its fixture's stop() then does nothing)."""
    require_netns()
    with Lab() as lab:
        lb = lab.host("lb", "10.0.0.5")
        hx = HostBalancer(lb, balancer_config(lb.address, {"web1": "10.0.0.11:80"}, "roundrobin"), engine=False).start()
        target = hx.proc.target()
        assert hx in lifecycle.running("balancer") and target in lb.processes()
        lifecycle.stop_all()
        assert not hx.running and not lab.running
        wait_until("haproxy gone", lambda: not os.path.exists(f"/proc/{target}"))
