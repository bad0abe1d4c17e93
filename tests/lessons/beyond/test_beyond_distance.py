"""Distance in the lab (labsupport/lessons/beyond/distance.py): a far link says honestly which mechanism it
uses, reaches its target, and delays it at least as much as set (and not far more); a page of ten requests
costs ten times the distance; behind a balancer leastconn sends the far servers fewer requests than
roundrobin does. The balancer here is the course's engine in a host; tests/differential/test_beyond_haproxy.py
runs the same with real HAProxy. No timed assertion is tight: lower bounds are what the relay guarantees
(it holds every byte for the delay), upper bounds are generous."""
from __future__ import annotations

import statistics

import pytest
from support.netns import require_netns

from labsupport.course.hosts import Lab
from labsupport.errors import LabError, ToolMissingError, UsageError
from labsupport.lessons.beyond import balancerhost, distance
from labsupport.lessons.beyond.balancerhost import HostBalancer
from labsupport.lessons.beyond.distance import FarLink, far, near_and_far, page_cost, round_trips
from labsupport.lessons.beyond.labsite import Site, build_site

DELAY = 30.0


@pytest.fixture(scope="module")
def site():
    require_netns()
    lab = Lab()
    made = build_site(lab, servers=4)
    yield made
    lab.stop()


@pytest.fixture(scope="module")
def link(site) -> FarLink:
    return far(site.lab, site.servers["web3"], 80, DELAY)


def _tc_says(site: Site) -> str:
    """What tc answers when asked for netem in a host of this lab (another host: it changes nothing)."""
    probe = site.lab.hosts.get("tcprobe") or site.lab.host("tcprobe", "10.0.0.250")
    done = probe.run(["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "1ms"])
    probe.run(["tc", "qdisc", "del", "dev", "eth0", "root"])
    return "" if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


def test_the_link_says_which_mechanism_and_why(site, link):
    refused = _tc_says(site)
    assert (link.host.name, link.address, link.target, link.port) == ("far-web3", "10.0.0.31", "10.0.0.13", 80)
    if refused:
        assert link.mechanism == "relay" and link.netem_error == refused
        assert link.how == (f"tc netem is not available here ({refused}); a relay in host far-web3 (delayrelay.py) "
                            f"delivers every byte {DELAY:g} ms late")
        assert link.expected_extra_ms == 3 * DELAY
    else:
        assert link.mechanism == "netem" and link.expected_extra_ms == 4 * DELAY
    assert repr(link) == f"<FarLink far-web3 10.0.0.31:80 -> 10.0.0.13:80, {DELAY:g} ms each way by {link.mechanism}>"
    assert link.url == "http://10.0.0.31/" and link.target_url == "http://10.0.0.13/"


def test_the_far_address_reaches_the_target(site, link):
    assert site.curl("client", link.url) == "Hi!! from server 80"
    assert site.who("client", link.address) == "10.0.0.13"  # the page says who: web3, reached through far-web3


def test_round_trips_delay_measured_against_delay_set(site, link):
    trips = round_trips(site.client, link, count=10)
    assert trips.failed == 0 and len(trips.near) == len(trips.far) == 10
    assert all(ms >= link.expected_extra_ms for ms in trips.far)  # every far request waited the delays
    assert trips.set_ms == DELAY
    assert trips.measured_ms <= 3 * DELAY, trips.summary()
    # a difference of medians: a near request's own time is noise (6.6 ms median once on a busy machine, when
    # the far ones' own time was 4.8 ms), so the far median can exceed the near one by a little less than the delays
    assert trips.measured_extra_ms >= link.expected_extra_ms - statistics.median(trips.near), trips.summary()
    assert trips.measured_extra_ms == pytest.approx(trips.measured_ms * link.expected_extra_ms / DELAY, abs=0.2)
    table = trips.table()
    assert [r["path"] for r in table] == ["near", f"far ({DELAY:g} ms each way)"]
    assert [r["url"] for r in table] == ["http://10.0.0.13/", "http://10.0.0.31/"]
    assert table[0]["median ms"] < table[1]["median ms"]
    assert table.title.startswith(f"delay set {DELAY:g} ms each way, by {link.mechanism}: expected ")
    assert repr(trips) == repr(table) and "<table>" in trips._repr_html_()


def test_a_page_of_requests_in_a_row_pays_the_distance_each_time(site, link):
    table = page_cost(site.client, {"near": site.url("web1"), "far": link}, requests=5)
    near, distant = table[0], table[1]
    assert (near["where"], distant["where"]) == ("near", "far")
    assert near["requests"] == distant["requests"] == 5 and near["failed"] == distant["failed"] == 0
    assert distant["page ms"] >= 5 * link.expected_extra_ms
    assert near["page ms"] < distant["page ms"] and distant["× the first"] > 1 and near["× the first"] == 1.0
    assert table.title == "a page of 5 requests, one after the other, each on a new connection"
    listed = page_cost(site.client, [site.url("web2")], requests=2)
    assert listed[0]["where"] == "http://10.0.0.12/" and listed[0]["requests"] == 2


def test_far_again_with_the_same_name_restarts_the_link(site):
    first = far(site.lab, site.servers["web4"], 80, 5, name="far-again")
    again = far(site.lab, site.servers["web4"], 80, 10, name="far-again")
    assert again.host is first.host and not first.running and again.running
    assert again.delay_ms == 10 and site.who("client", again.address) == "10.0.0.14"
    again.stop()
    assert not again.running
    with pytest.raises(LabError, match="host client got no answer from http://"):
        site.curl("client", again.url, timeout=2)


def test_near_and_far_leastconn_spares_the_far_servers(site):
    result = near_and_far(site, DELAY, requests=24, concurrency=4, engine=True)
    assert result.kind == "engine" and result.algorithms == ["roundrobin", "leastconn"]
    assert result.near == ["web1", "web2"] and list(result.links) == ["web3", "web4"]
    assert result.failed("roundrobin") == result.failed("leastconn") == 0
    assert result.counts("roundrobin") == {"web1": 6, "web2": 6, "web3": 6, "web4": 6}
    assert result.far_share("roundrobin") == 0.5
    assert result.far_share("leastconn") < result.far_share("roundrobin")
    assert result.mean_ms("leastconn") < result.mean_ms("roundrobin")
    assert result.mean_ms("roundrobin", "web3") >= result.links["web3"].expected_extra_ms
    table = result.table()
    assert [(r["balance"], r["server"]) for r in table][:5] == [
        ("roundrobin", "web1"), ("roundrobin", "web2"), ("roundrobin", "web3"), ("roundrobin", "web4"),
        ("roundrobin", "all")]
    assert [r["where"] for r in table][:4] == ["near", "near", f"far, {DELAY:g} ms each way",
                                               f"far, {DELAY:g} ms each way"]
    assert table.title == "the course engine over 2 near and 2 far servers"
    assert sum(r["requests"] for r in table if r["server"] == "all") == 48


def test_wrong_arguments_are_refused_plainly(site, link):
    lab = site.lab
    cases = [
        (lambda: far("lab", "10.0.0.13"), "far(lab, '10.0.0.13', 80, 40) needs the Lab first, not str (lab = Lab.if_possible())"),
        (lambda: far(lab, "10.1.2.3"), "target_address=10.1.2.3 is not on the lab's network 10.0.0.0/24"),
        (lambda: far(lab, "web3"), "target_address='web3' is not an IPv4 address (e.g. 10.0.0.13)"),
        (lambda: far(lab, "10.0.0.13", 0), "port=0: a TCP port is 1-65535"),
        (lambda: far(lab, "10.0.0.13", 80, -1), "delay_ms=-1: give a one-way delay from 0 to 1000 ms"),
        (lambda: far(lab, "10.0.0.13", 80, 40, mechanism="wifi"),
         "mechanism='wifi': expected one of auto, relay, netem"),
        (lambda: far(lab, "10.0.0.13", 80, 40, name="client"),
         "there is already a host client (10.0.0.2) that is no far link; give far() another name"),
        (lambda: round_trips(site.client, link.url), "round_trips() measures a FarLink (link = far(lab, ...)), not str"),
        (lambda: round_trips("client", link), "the client must be a host of the lab (lab['client']), not str"),
        (lambda: round_trips(site.client, link, count=0), "count=0: give 1 to 200"),
        (lambda: page_cost(site.client, []), "page_cost() compares 1 to 6 URLs; got 0"),
        (lambda: page_cost(site.client, ["10.0.0.11"]), "'10.0.0.11': give a URL (http://10.0.0.11/) or a FarLink"),
        (lambda: page_cost(site.client, [site.url("web1")], requests=101), "requests=101: give 1 to 100"),
        (lambda: near_and_far(lab), "near_and_far() needs the Site build_site(lab) returned, not Lab"),
        (lambda: near_and_far(Site(lab, site.client, {"web1": "10.0.0.11"})),
         "near_and_far() needs 4 servers (2 near, 2 far); this site has 1: build_site(lab, servers=4)"),
        (lambda: near_and_far(site, algorithms="leastconn"),
         "algorithms='leastconn': a list of balance algorithms among roundrobin, static-rr, leastconn, first, "
         "random, source"),
        (lambda: near_and_far(site, algorithms=["rondrobin"]),
         "algorithms=['rondrobin']: a list of balance algorithms among roundrobin, static-rr, leastconn, first, "
         "random, source"),
        (lambda: near_and_far(site, concurrency=0), "concurrency=0: give 1 to 16"),
        (lambda: near_and_far(site, requests=2, concurrency=4), "requests=2 is fewer than concurrency=4"),
    ]
    for call, message in cases:
        with pytest.raises(UsageError) as caught:
            call()
        assert str(caught.value) == message
    assert "far-web3" in lab.hosts and "far-13" not in lab.hosts  # nothing was made on the way


def test_netem_asked_where_the_kernel_lacks_it_says_so(site):
    refused = _tc_says(site)
    if not refused:
        pytest.skip("this kernel has netem: nothing to refuse")
    with pytest.raises(LabError) as caught:
        far(site.lab, "10.0.0.12", 80, 10, name="far-netem", mechanism="netem")
    assert str(caught.value) == (f"tc netem does not work in host far-netem: {refused} (the kernel lacks sch_netem); "
                                 "use mechanism='relay'")
    assert distance._links.get((id(site.lab), "far-netem")) is None


def test_without_haproxy_the_engine_runs_and_asking_for_haproxy_says_how_to_install_it(site, monkeypatch):
    monkeypatch.setattr(balancerhost, "find_haproxy", lambda: None)
    config = distance.balancer_config("10.0.0.2", {"web1": "10.0.0.11:80"}, "roundrobin")
    assert HostBalancer(site.client, config).kind == "engine"
    with pytest.raises(ToolMissingError) as caught:
        HostBalancer(site.client, config, engine=False)
    assert str(caught.value) == ("'haproxy' is not installed: the course's engine can run this balancer instead "
                                 "(engine=None picks it when haproxy is missing). Install it with: "
                                 "sudo apt-get install haproxy")
