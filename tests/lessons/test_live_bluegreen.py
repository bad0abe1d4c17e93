"""Lesson 09's blue-green switch on the engine: haproxy/bluegreen.cfg run from notebooks/ (where its map is),
which colour answers, one 'set map' to switch, a colour that is no backend refused."""
from __future__ import annotations

import pytest
from support.paths import ROOT

from labsupport.course.fleet import Fleet
from labsupport.engine.balancer import Balancer
from labsupport.errors import UsageError
from labsupport.lessons.live.bluegreen import active_colour, switch, which_colour


def test_switch_blue_to_green_and_back(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    with Fleet() as fleet:
        fleet.start([8311, 8312], version=1)
        fleet.start([8321, 8322], version=2)
        lb = Balancer.from_file("../haproxy/bluegreen.cfg").start()
        try:
            assert active_colour(lb) == "blue"
            assert which_colour(lb, 10) == {"blue": 10}
            assert switch(lb, "green") == "blue"
            assert active_colour(lb) == "green"
            assert which_colour(lb, 10) == {"green": 10}
            with pytest.raises(UsageError, match="no backend 'purple'.*blue, green"):
                switch(lb, "purple")
            assert switch(lb, "blue") == "green" and which_colour(lb, 4) == {"blue": 4}
            lb.command("del map bluegreen.map active")
            assert active_colour(lb) is None and which_colour(lb, 2) == {"blue": 2}  # the rule's default
        finally:
            lb.stop()
