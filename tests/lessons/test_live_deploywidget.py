"""Lesson 09's deploy panel: each server's state in the stats page's colour and its version, redrawn through
a deploy; its text form; its bounded loop. Real servers on 8301-8304, the engine on haproxy/live.cfg."""
from __future__ import annotations

import re
import time

import pytest
from support.live_lab import live_lab

from labsupport import lifecycle
from labsupport.course.display.charts import STATS_PAGE_COLORS
from labsupport.errors import NotFoundError
from labsupport.lessons.live.deploywidget import DeployWidget


@pytest.fixture
def lab():
    with live_lab() as pair:
        yield pair


def states(panel) -> dict:
    return {m[0]: (m[1], m[2]) for m in re.findall(
        r'data-server="(\w+)" data-state="(\w+)" data-version="([\w.-]+)"', panel.body.value)}


def test_states_colours_versions_through_a_rolling_deploy(lab):
    lb, fleet = lab
    panel = DeployWidget(lb, "app", fleet, refresh=0.1, max_seconds=60)
    try:
        assert states(panel) == {f"s{i}": ("UP", "1") for i in range(1, 5)}
        assert panel.body.value.count(f"background:{STATS_PAGE_COLORS['active_up']}") == 4
        lb.command("set server app/s2 state drain")
        panel.tick()
        assert states(panel)["s2"] == ("DRAIN", "1")
        assert f"background:{STATS_PAGE_COLORS['active_draining']}" in panel.body.value
        lb.command("set server app/s2 state maint")
        panel.tick()
        assert states(panel)["s2"] == ("MAINT", "1") and STATS_PAGE_COLORS["maintain"] in panel.body.value
        lb.command("set server app/s2 state ready")
        seen = []
        panel_step = panel._on_step

        def spy(step):
            panel_step(step)
            seen.append((step.server, step.action, states(panel)[step.server.split("/")[1]]))

        panel._on_step = spy
        log = panel.deploy(4, servers=["s1"])
        assert log.ok
        assert seen[0] == ("app/s1", "drain", ("DRAIN", "1"))
        assert seen[2] == ("app/s1", "maint", ("MAINT", "1"))
        assert seen[3] == ("app/s1", "restart", ("MAINT", "4"))
        assert seen[-1] == ("app/s1", "up", ("UP", "4"))
        assert panel.step_line.value.startswith("rolling deploy to version 4: done")
        text = repr(panel)
        assert text.splitlines()[0] == "backend app"
        assert re.search(r"s1\s+127\.0\.0\.1:8301\s+UP\s+4", text) and re.search(r"s2\s+127\.0\.0\.1:8302\s+UP\s+1", text)
    finally:
        panel.close()
    assert not panel.running and panel not in lifecycle.running("live")


def test_a_dead_server_shows_no_version_and_goes_down(lab):
    lb, fleet = lab
    panel = DeployWidget(lb, "app", fleet, refresh=0.05, max_seconds=30)
    try:
        fleet.kill(8303)
        panel.tick()
        assert states(panel)["s3"][1] == "-"
        deadline = time.monotonic() + 10
        while states(panel)["s3"][0] != "DOWN":
            assert time.monotonic() < deadline, states(panel)
            time.sleep(0.05)
        assert STATS_PAGE_COLORS["active_down"] in panel.body.value
    finally:
        panel.close()


def test_a_wrong_backend_is_one_line(lab):
    lb, fleet = lab
    with pytest.raises(NotFoundError, match="no backend 'apps'"):
        DeployWidget(lb, "apps", fleet)


def test_headless_the_panel_prints_its_text(lab, monkeypatch, capsys):
    from labsupport.course import environment

    lb, fleet = lab
    monkeypatch.setattr(environment, "HEADLESS", True)
    panel = DeployWidget(lb, "app", fleet, max_seconds=30)
    try:
        panel._ipython_display_()
    finally:
        panel.close()
    out = capsys.readouterr().out
    assert "backend app\nserver  address         state  version" in out
    assert re.search(r"s4\s+127\.0\.0\.1:8304\s+UP\s+1\nno deploy yet", out), out
