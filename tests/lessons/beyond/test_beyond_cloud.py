"""Lesson 10's "real cloud instances" section (labsupport/lessons/beyond/cloud.py), run as written against the
namespace hosts: haproxy/cloud.cfg's servers tried from where the balancer runs (each failure named: refused,
timed out, unreachable), a server started as a student starts one on a machine (127.0.0.1, then 0.0.0.0),
and the balancer in front of them. Real HAProxy runs in tests/differential; here the engine does."""
from __future__ import annotations

from pathlib import Path

import pytest
from support.netns import require_netns

from labsupport.course.hosts import Lab
from labsupport.errors import UsageError
from labsupport.lessons.beyond.cloud import cloud_balancer, preflight, servers_of, start_app
from labsupport.lessons.beyond.labsite import build_site
from labsupport.lessons.beyond.probe import Probe

CLOUD = Path(__file__).resolve().parents[3] / "haproxy" / "cloud.cfg"


@pytest.fixture(scope="module")
def site():
    require_netns()
    lab = Lab()
    yield build_site(lab, servers=4)
    lab.stop()


def _results(table) -> dict[str, str]:
    return {row["server"]: row["result"] for row in table}


def test_the_config_names_three_machines():
    assert servers_of(CLOUD) == [("machines/machine1", "10.0.0.11", 80), ("machines/machine2", "10.0.0.12", 80),
                                 ("machines/machine3", "10.0.0.14", 8080)]


def test_preflight_names_what_stands_in_the_way(site):
    client = site.lab["client"]
    table = preflight(CLOUD, from_host=client)
    assert _results(table) == {"machines/machine1": "ok", "machines/machine2": "ok", "machines/machine3": "refused"}
    assert table.rows[0]["answer"] == "HTTP/1.1 200 OK"
    assert "--host 0.0.0.0" in table.rows[2]["hint"]
    site.lab["web2"].unplug()  # as a firewall that drops everything
    try:
        assert _results(preflight(CLOUD, from_host=client, timeout=0.5))["machines/machine2"] == "timed out"
    finally:
        site.lab["web2"].plug()
    # this test's own namespace has no route to the lab's network: the balancer could not run here
    assert set(_results(preflight(CLOUD, timeout=0.5)).values()) == {"unreachable"}


def test_a_server_on_127_0_0_1_is_refused_and_on_0_0_0_0_it_is_reached(site):
    client = site.lab["client"]
    local_only = start_app(site.lab["web4"], 8080)  # app.py's default: 127.0.0.1
    try:
        assert _results(preflight(CLOUD, from_host=client))["machines/machine3"] == "refused"
    finally:
        local_only.terminate()
        local_only.wait(10)
    everywhere = start_app(site.lab["web4"], 8080, bind="0.0.0.0")
    try:
        assert _results(preflight(CLOUD, from_host=client))["machines/machine3"] == "ok"
        lb = cloud_balancer(CLOUD, where=client, engine=True).start()
        try:
            probe = Probe(client, "http://127.0.0.1:8010/", count=30, interval=0.02).wait(60)
            assert probe.failed == 0
            assert {s.body for s in probe.results} == {"Hi!! from server 80", "Hi!! from server 8080"}
        finally:
            lb.stop()
    finally:
        everywhere.terminate()
        everywhere.wait(10)


def test_wrong_arguments_are_refused_plainly(tmp_path):
    with pytest.raises(UsageError, match="no server line"):
        servers_of("global\n    maxconn 5\n")
    with pytest.raises(UsageError, match="cannot read"):
        servers_of(tmp_path / "missing.cfg")
    with pytest.raises(UsageError, match="timeout"):
        preflight(CLOUD, timeout=0)
