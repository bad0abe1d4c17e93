"""Lesson 09's deploys on the engine: a rolling deploy under steady load loses nothing and walks each server
through drain, maint, restart, ready, up (marked on the load's timeline); the naive deploy gets there too;
wrong names are one-line errors. Real servers on 8301-8304 (haproxy/live.cfg), the in-thread engine."""
from __future__ import annotations

import pytest
from support.live_lab import PORTS, all_up, live_lab

from labsupport.errors import NotFoundError, UsageError
from labsupport.lessons.live.deploy import kill_and_restart_deploy, rolling_deploy, rolling_steps
from labsupport.lessons.live.load import SteadyLoad
from labsupport.lessons.live.servers import servers

ROLLING = ["drain", "drained", "maint", "restart", "ready", "up"]


@pytest.fixture
def lab():
    with live_lab() as pair:
        yield pair


def test_rolling_deploy_under_load_loses_nothing(lab):
    lb, fleet = lab
    load = SteadyLoad(lb.urls[0], rate=60, duration=60).start()
    try:
        log = rolling_deploy(lb, "app", fleet, 2, load=load)
    finally:
        load.stop()
    assert log.ok, log
    assert [s.action for s in log.steps] == ROLLING * 4
    assert [s.server for s in log.steps[::6]] == ["app/s1", "app/s2", "app/s3", "app/s4"]
    assert [s.port for s in log.steps[::6]] == PORTS
    assert all(a.at <= b.at for a, b in zip(log.steps, log.steps[1:]))
    assert [label for _, label in load.marks] == [s.label for s in log.steps]
    s = load.summary()
    assert s["failed"] == 0, load.failures()[:5]
    assert set(s["versions"]) <= {"1", "2"} and "2" in s["versions"]
    assert [fleet.version(p) for p in PORTS] == ["2"] * 4
    assert all(r.fully_up for r in servers(lb, "app").values())
    assert log.first("up", port=8304).detail == "UP, version 2"
    assert "rolling deploy to version 2: done" in repr(log) and len(log.table()) == 24


def test_the_steps_one_at_a_time_show_the_server_drained_then_in_maint(lab):
    lb, fleet = lab
    seen = []
    for step in rolling_steps(lb, "app", fleet, 5, servers_="s2"):
        seen.append((step.action, servers(lb, "app")["s2"].state))
    assert seen == [("drain", "DRAIN"), ("drained", "DRAIN"), ("maint", "MAINT"), ("restart", "MAINT"),
                    ("ready", seen[4][1]), ("up", "UP")]
    assert seen[4][1] in ("UP", "DOWN")  # 'ready': the checks decide ("UP 1/2" on both HAProxy and the engine)
    assert [fleet.version(p) for p in PORTS] == ["1", "5", "1", "1"]


def test_kill_and_restart_gets_there_too(lab):
    lb, fleet = lab
    log = kill_and_restart_deploy(lb, "app", fleet, 3, servers=["s1", "s3"])
    assert log.ok, log
    assert [s.action for s in log.steps] == ["kill", "restart", "up"] * 2
    assert [fleet.version(p) for p in PORTS] == ["3", "1", "3", "1"]
    all_up(lb)


def test_wrong_names_are_one_line_errors_and_nothing_changes(lab):
    lb, fleet = lab
    with pytest.raises(NotFoundError, match="no server s9 in backend app"):
        rolling_deploy(lb, "app", fleet, 2, servers=["s9"])
    with pytest.raises(NotFoundError, match="no backend 'nope'"):
        rolling_deploy(lb, "nope", fleet, 2)
    with pytest.raises(UsageError, match="give the version"):
        rolling_deploy(lb, "app", fleet, None)
    fleet.stop_all()
    with pytest.raises(NotFoundError, match="the fleet runs no server"):
        rolling_deploy(lb, "app", type(fleet)(), 2)
    assert all(r.state != "DRAIN" and r.state != "MAINT" for r in servers(lb, "app").values())
