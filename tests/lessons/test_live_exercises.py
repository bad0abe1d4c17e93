"""Lesson 09's exercise check: the solution (a rolling deploy) passes; forgetting a server, and killing
servers without draining them, do not, each with the reason. Real servers, the engine on haproxy/live.cfg."""
from __future__ import annotations

from support.live_lab import PORTS, kill_and_wait, live_lab, solution, three_of_four

from labsupport.lessons.live.exercises import check_rollout


def test_the_solution_passes():
    with live_lab() as (lb, fleet):
        result = check_rollout(solution, lb, fleet)
        assert result.passed, repr(result)
        assert [fleet.version(p) for p in PORTS] == ["3"] * 4
        text = repr(result)
        assert text.startswith("PASS: version 3 on every server of app") and ", 0 failed" in text


def test_a_forgotten_server_is_named():
    with live_lab() as (lb, fleet):
        result = check_rollout(three_of_four, lb, fleet)
        assert not result.passed
        assert "not every server runs version 3: s4: 1" in repr(result)


def test_killing_without_a_drain_moves_browsers_off_servers_in_rotation():
    with live_lab() as (lb, fleet):
        result = check_rollout(kill_and_wait, lb, fleet)
        assert not result.passed, repr(result)
        text = repr(result)
        assert "browsers moved off a server still in rotation" in text, text
        assert [fleet.version(p) for p in PORTS] == ["3"] * 4  # it did get there, the wrong way
