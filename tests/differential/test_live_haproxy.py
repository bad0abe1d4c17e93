"""Lesson 09 on real HAProxy 2.6: the rolling deploy under load loses nothing, the deploy panel follows it,
the canary's weights give the same share, blue-green switches with one 'set map', and the exercise's
solution passes; the lesson's own configs (haproxy/live.cfg, bluegreen.cfg), real servers."""
from __future__ import annotations

import functools

from support.live_lab import PORTS, live_lab, solution
from support.paths import ROOT

from labsupport.course.fleet import Fleet
from labsupport.course.haproxy import HAProxy
from labsupport.lessons.live.bluegreen import active_colour, switch, which_colour
from labsupport.lessons.live.canary import measure_shares, rollback, set_canary
from labsupport.lessons.live.deploy import rolling_deploy
from labsupport.lessons.live.deploywidget import DeployWidget
from labsupport.lessons.live.exercises import check_rollout
from labsupport.lessons.live.load import SteadyLoad


def real(haproxy_bin):
    return functools.partial(HAProxy.from_file, binary=haproxy_bin)


def test_rolling_deploy_on_haproxy_loses_nothing_and_the_panel_follows(haproxy_bin):
    with live_lab(real(haproxy_bin)) as (lb, fleet):
        panel = DeployWidget(lb, "app", fleet, refresh=0.1, max_seconds=60)
        load = SteadyLoad(lb.urls[0], rate=60, duration=60).start()
        seen = []
        try:
            log = rolling_deploy(lb, "app", fleet, 2, load=load,
                                 on_step=lambda s: (panel.tick(), seen.append((s.action, panel.rows()[PORTS.index(
                                     s.port)]["state"]))))
        finally:
            load.stop()
            panel.close()
        assert log.ok, log
        assert load.summary()["failed"] == 0, load.failures()[:5]
        assert [fleet.version(p) for p in PORTS] == ["2"] * 4
        assert seen[:3] == [("drain", "DRAIN"), ("drained", "DRAIN"), ("maint", "MAINT")]
        assert [a for a, _ in seen] == ["drain", "drained", "maint", "restart", "ready", "up"] * 4


def test_canary_share_on_haproxy(haproxy_bin):
    with live_lab(real(haproxy_bin)) as (lb, fleet):
        c = set_canary(lb, "app", "s1", 10, fleet=fleet, version=2)
        assert c.weights == {"s1": 1, "s2": 3, "s3": 3, "s4": 3}
        rows = {r["version"]: r for r in measure_shares(lb.urls[0], 500, lb, "app", fleet)}
        assert abs(rows["2"]["measured %"] - 10) <= 2 and rows["2"]["intended %"] == 10.0
        assert rollback(lb, "app", "s1", fleet=fleet, version=1).column("weight") == [1, 1, 1, 1]


def test_blue_green_on_haproxy(haproxy_bin, monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    with Fleet() as fleet:
        fleet.start([8311, 8312], version=1)
        fleet.start([8321, 8322], version=2)
        lb = HAProxy.from_file("../haproxy/bluegreen.cfg", binary=haproxy_bin).start()
        try:
            assert active_colour(lb) == "blue" and which_colour(lb, 6) == {"blue": 6}
            assert switch(lb, "green") == "blue"
            assert which_colour(lb, 6) == {"green": 6}
        finally:
            lb.stop()


def test_the_exercise_solution_passes_on_haproxy(haproxy_bin):
    with live_lab(real(haproxy_bin)) as (lb, fleet):
        result = check_rollout(solution, lb, fleet)
        assert result.passed, repr(result)
