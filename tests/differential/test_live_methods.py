"""Lesson 09's ways of changing a live system, on real HAProxy 2.6 and on the engine, both in master-worker
mode (the lesson's ``MasterWorker``) with the lesson's servers (haproxy/live.cfg, 8301-8304) under the same
steady load: the failed requests of a rolling deploy and of a canary's steps (0 on HAProxy, so 0 on the
engine), and the canary's measured shares (within a few requests: the steady load takes turns of the
weighted roundrobin between them)."""
from __future__ import annotations

import functools

import pytest
from support.live_lab import PORTS, live_lab

from labsupport.course.masterworker import MasterWorker
from labsupport.lessons.live.canary import measure_shares, rollback, set_canary
from labsupport.lessons.live.deploy import rolling_deploy
from labsupport.lessons.live.load import SteadyLoad

pytestmark = pytest.mark.haproxy


def run_methods(make) -> dict:
    with live_lab(make) as (lb, fleet):
        out = {}
        load = SteadyLoad(lb.url + "slow?ms=20", rate=80, duration=60).start()
        try:
            log = rolling_deploy(lb, "app", fleet, 2, load=load)
        finally:
            load.stop()
        assert log.ok, log
        out["rolling deploy"] = load.summary()["failed"]
        load = SteadyLoad(lb.url, rate=80, duration=60).start()
        try:
            shares = {}
            for percent in (10, 50):
                set_canary(lb, "app", "s4", percent, fleet=fleet, version=3)
                table = measure_shares(lb.url, n=400, balancer=lb, backend="app", fleet=fleet)
                shares[percent] = {r["version"]: r["requests"] for r in table.rows}
            rollback(lb, "app", "s4", fleet=fleet, version=2)
        finally:
            load.stop()
        out["canary"] = load.summary()["failed"]
        out["shares"] = shares
        out["versions after"] = [fleet.version(p) for p in PORTS]
        return out


def test_rolling_deploy_and_canary_lose_nothing_on_both(haproxy_bin):
    hx = run_methods(functools.partial(MasterWorker.from_file, binary=haproxy_bin))
    en = run_methods(functools.partial(MasterWorker.from_file, engine=True))
    assert hx["rolling deploy"] == hx["canary"] == 0, hx
    assert en["rolling deploy"] == en["canary"] == 0, en
    assert en["versions after"] == hx["versions after"] == ["2"] * 4
    for percent, intended in ((10, 40), (50, 200)):  # requests of 400 on the canary (version 3)
        assert abs(hx["shares"][percent]["3"] - intended) <= 12, hx["shares"]
        assert abs(en["shares"][percent]["3"] - hx["shares"][percent]["3"]) <= 12, (en["shares"], hx["shares"])
