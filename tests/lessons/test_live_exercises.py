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


def _notebook_solution():
    """The solution the lesson shows (its "Show a solution" block), as a function."""
    import json
    import re
    import time

    from support.paths import ROOT

    cells = json.loads((ROOT / "notebooks" / "09-changing-a-live-system.ipynb").read_text())["cells"]
    text = next("".join(c["source"]) for c in cells if "Show a solution" in "".join(c["source"]))
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    space = {"time": time}
    exec(code, space)
    return space["my_rollout"]


def test_the_solution_the_lesson_shows_passes_on_the_engine_in_master_worker_mode():
    from labsupport.course.masterworker import MasterWorker

    with live_lab(lambda path: MasterWorker.from_file(path, engine=True)) as (lb, fleet):
        result = check_rollout(_notebook_solution(), lb, fleet, version=5)
        assert result.passed, repr(result)
        assert [fleet.version(p) for p in PORTS] == ["5"] * 4
