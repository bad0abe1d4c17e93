"""Notebook 04's health timeline in the browser: its buttons, and each server's state label following them.

The lesson's health checks are read from its cells (``check inter 500ms`` on every server, HAProxy's
default ``fall 3`` / ``rise 2`` unless a cell says otherwise): a killed server must show DOWN within
inter x fall (+1 s for the page to show it).
"""
from __future__ import annotations

import re
import time

import pytest

from . import selectors as sel
from .conftest import close_page, console_errors
from .lessons import check_setting, open_until
from .ui import within

PAGE_SLACK = 1.0  # seconds for a state change to reach the page (the "+ 1 s")


# the cells the timeline needs, in order: the fleet, the balancer (its cell kills server02), checks every
# 500 ms, the timeline; the lesson's other cells are Run All's business (they would cost this suite 15 s)
CELLS = ("stop_all()", 'lb = Balancer.from_file("../haproxy/myhaproxy.cfg")', "health_text = open(", "HealthTimeline(lb")


@pytest.fixture(scope="module")
def nb04(request):
    nb = open_until(request, "04", None)
    try:
        for snippet in CELLS:
            nb.run_cell(snippet)
        nb.page.wait_for_selector(sel.HEALTH_STATE, timeout=30_000)
    except BaseException:
        close_page(nb.page, nb.lab)
        raise
    yield nb
    close_page(nb.page, nb.lab)


def health_servers(nb) -> list[str]:
    classes = nb.page.eval_on_selector_all(sel.HEALTH_STATE, "rows => rows.map(r => r.className)")
    return [m.group(1) for c in classes for m in [re.search(r"lab-health-state-(\S+)", c)] if m]


def state(nb, server) -> str:
    loc = nb.page.locator(sel.health_state(server))
    return loc.first.inner_text().strip() if loc.count() else ""


def settings(nb) -> tuple[float, float, float]:
    """inter (s), fall, rise of the checks in force when the timeline showed (the cells run so far);
    fall and rise default to HAProxy's (3 and 2), inter must be in the cells (health.cfg has HAProxy's 2 s,
    the lesson sets its own)."""
    inter = check_setting(nb, "inter", None, unit_ms=True)
    assert inter is not None, "no 'check inter ...' in the cells that ran before the timeline"
    return inter, check_setting(nb, "fall", 3), check_setting(nb, "rise", 2)


def test_health_timeline_shows_every_server_and_its_chart(nb04):
    servers = health_servers(nb04)
    assert servers == ["server01", "server02", "server03", "server04"], servers
    for server in servers:
        within(10, lambda s=server: state(nb04, s), lambda t: t == "UP", f"{server}'s state label UP")
    src = nb04.page.get_attribute(sel.HEALTH_CHART, "src") or ""
    assert src.startswith(("blob:", "data:image/png")), f"the chart shows no image: {src[:60]!r}"


def test_health_timeline_shows_a_killed_server_down_within_inter_times_fall(nb04):
    server = "server02"
    inter, fall, _ = settings(nb04)
    within(10, lambda: state(nb04, server), lambda t: t == "UP", f"{server} UP before the kill")
    color_up = nb04.page.eval_on_selector(f"{sel.health_state(server)} b", "e => getComputedStyle(e).backgroundColor")
    nb04.page.click(sel.health_kill(server))
    killed = time.monotonic()
    within(inter * fall + PAGE_SLACK, lambda: state(nb04, server), lambda t: t == "DOWN",
           f"{server}'s state DOWN after its kill button (inter {inter:g} s x fall {fall:g} + {PAGE_SLACK:g} s)",
           since=killed)
    color_down = nb04.page.eval_on_selector(f"{sel.health_state(server)} b",
                                            "e => getComputedStyle(e).backgroundColor")
    assert color_down == "rgb(255, 144, 144)" != color_up, (color_up, color_down)  # the stats page's active_down


def test_health_timeline_shows_a_revived_server_up_again(nb04):
    server = "server02"
    inter, _, rise = settings(nb04)
    within(5, lambda: state(nb04, server), lambda t: t.startswith("DOWN"), f"{server} DOWN before revive")
    nb04.page.click(sel.health_revive(server))
    within(inter * rise + 5, lambda: state(nb04, server), lambda t: t == "UP",
           f"{server}'s state UP again after revive (inter {inter:g} s x rise {rise:g}, +5 s to restart it)")


def test_health_timeline_raised_no_error(nb04):
    message = nb04.page.inner_text(sel.HEALTH_MESSAGE).strip()
    assert not message, f"a button reported an error: {message}"
    logged = nb04.log_console()
    assert not logged, f"a widget callback raised (JupyterLab's log console):\n{logged}"
    errors = console_errors(nb04.page)
    assert not errors, "browser console errors:\n" + "\n".join(errors)
