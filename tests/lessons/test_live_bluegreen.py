"""Lesson 09's blue-green switch on the engine: haproxy/bluegreen.cfg run from notebooks/ (where its map is),
which colour answers, one 'set map' to switch, a colour that is no backend refused."""
from __future__ import annotations

import time

import pytest
from support.paths import ROOT

from labsupport.course.fleet import Fleet
from labsupport.engine.balancer import Balancer
from labsupport.errors import UsageError
from labsupport.lessons.live.bluegreen import active_colour, switch, which_colour
from labsupport.lessons.live.load import SteadyLoad


def test_switch_blue_to_green_and_back(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    with Fleet() as fleet:
        fleet.start([8311, 8312], version=1)
        fleet.start([8321, 8322], version=2)
        lb = Balancer.from_file("../haproxy/bluegreen.cfg").start()
        try:
            assert active_colour(lb) == "blue"
            assert which_colour(lb, 10) == {"blue": 10}
            load = SteadyLoad(lb.urls[0], rate=60, duration=30).start()
            try:
                while len(load.results) < 20:  # bounded by the load's own duration
                    assert load.running
                    time.sleep(0.02)
                assert switch(lb, "green") == "blue"
                load.mark("switch")
                seen = len(load.results)
                while len(load.results) < seen + 20:
                    assert load.running
                    time.sleep(0.02)
            finally:
                load.stop()
            s = load.summary()
            assert s["failed"] == 0 and set(s["versions"]) == {"1", "2"}  # blue runs 1, green 2: none lost
            assert max(r.t for r in load.results if r.version == "1") <= min(
                r.t for r in load.results if r.version == "2") + 0.5  # one switch, not a mix
            assert active_colour(lb) == "green"
            assert which_colour(lb, 10) == {"green": 10}
            with pytest.raises(UsageError, match="no backend 'purple'.*blue, green"):
                switch(lb, "purple")
            assert switch(lb, "blue") == "green" and which_colour(lb, 4) == {"blue": 4}
            lb.command("del map bluegreen.map active")
            assert active_colour(lb) is None and which_colour(lb, 2) == {"blue": 2}  # the rule's default
        finally:
            lb.stop()
