"""Lesson 09's set-up for tests: the fleet of haproxy/live.cfg (8301-8304) at version 1 and a balancer on it,
and the exercise's solution (and wrong answers) for ``check_rollout``."""
from __future__ import annotations

import time
from contextlib import contextmanager

from labsupport.course.fleet import Fleet
from labsupport.engine.balancer import Balancer
from labsupport.lessons.live.deploy import rolling_deploy
from labsupport.lessons.live.servers import servers
from support.paths import ROOT

LIVE_CFG = ROOT / "haproxy" / "live.cfg"
PORTS = [8301, 8302, 8303, 8304]


def all_up(balancer, backend: str = "app", timeout: float = 15.0) -> dict:
    """Wait (bounded) until every server of ``backend`` is fully UP; the rows."""
    deadline = time.monotonic() + timeout
    while True:
        rows = servers(balancer, backend)
        if all(r.fully_up for r in rows.values()) or time.monotonic() > deadline:
            assert all(r.fully_up for r in rows.values()), rows
            return rows
        time.sleep(0.05)


@contextmanager
def live_lab(make=None):
    """A fleet on 8301-8304 at version 1 and a started balancer on live.cfg (the engine unless ``make``)."""
    fleet = Fleet()
    lb = None
    try:
        fleet.start(PORTS, version=1)
        lb = (make or Balancer.from_file)(LIVE_CFG).start()
        all_up(lb)
        yield lb, fleet
    finally:
        if lb is not None:
            lb.stop()
        fleet.stop_all()


def solution(balancer, fleet, version) -> None:
    """The exercise's solution: a rolling deploy through drain and maint."""
    log = rolling_deploy(balancer, "app", fleet, version)
    assert log.ok, log


def three_of_four(balancer, fleet, version) -> None:
    """Wrong: forgets the last server."""
    rolling_deploy(balancer, "app", fleet, version, servers=["s1", "s2", "s3"])


def kill_and_wait(balancer, fleet, version) -> None:
    """Wrong: kills each server and starts the new one 2 s later, the balancer not told (its checks mark
    the server DOWN meanwhile, so its browsers move off a server nobody drained)."""
    for port in fleet.ports:
        fleet.kill(port)
        time.sleep(2.0)
        fleet.restart(port, version=version)
        all_up(balancer)
