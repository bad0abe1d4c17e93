"""Notebook 04's health timeline in the browser (skipped until notebook 04 is in the checkout)."""
from __future__ import annotations

import re
import time

import pytest

from . import selectors as sel
from .conftest import close_page, console_errors
from .lessons import check_setting, open_until
from .ui import within


@pytest.fixture(scope="module")
def nb04(request):
    nb = open_until(request, "04", sel.HEALTH_ROW)
    yield nb
    close_page(nb.page, nb.lab)


def health_servers(nb) -> list[str]:
    classes = nb.page.eval_on_selector_all(sel.HEALTH_ROW, "rows => rows.map(r => r.className)")
    return [m.group(1) for c in classes for m in [re.search(r"lab-health-row-(\S+)", c)] if m]


def row_text(nb, server) -> str:
    loc = nb.page.locator(sel.health_row(server))
    return loc.first.inner_text() if loc.count() else ""


def test_health_timeline_shows_a_killed_server_down_within_inter_times_fall(nb04):
    server = health_servers(nb04)[0]
    inter, fall = check_setting(nb04, "inter", 2.0, unit_ms=True), check_setting(nb04, "fall", 3)
    within(10, lambda: row_text(nb04, server), lambda t: "UP" in t, f"{server} UP before the kill")
    nb04.page.click(sel.health_kill(server))
    killed = time.monotonic()
    within(inter * fall + 1, lambda: row_text(nb04, server), lambda t: "DOWN" in t,
           f"{server}'s health row DOWN after its kill button (inter {inter:g} s x fall {fall:g})", since=killed)


def test_health_timeline_shows_a_revived_server_up_again(nb04):
    server = health_servers(nb04)[0]
    inter, rise = check_setting(nb04, "inter", 2.0, unit_ms=True), check_setting(nb04, "rise", 2)
    nb04.page.click(sel.health_revive(server))
    within(inter * rise + 5, lambda: row_text(nb04, server), lambda t: "UP" in t and "DOWN" not in t,
           f"{server}'s health row UP again after revive (inter {inter:g} s x rise {rise:g}, +5 s to restart)")


def test_health_timeline_shows_a_sick_server_down(nb04):
    server = health_servers(nb04)[-1]
    inter, fall = check_setting(nb04, "inter", 2.0, unit_ms=True), check_setting(nb04, "fall", 3)
    within(inter * 3 + 5, lambda: row_text(nb04, server), lambda t: "UP" in t, f"{server} UP before")
    nb04.page.click(sel.health_sick(server))
    within(inter * fall + 1, lambda: row_text(nb04, server), lambda t: "DOWN" in t,
           f"{server}'s health row DOWN after its sick button (inter {inter:g} s x fall {fall:g})")
    nb04.page.click(sel.health_revive(server))


def test_health_timeline_raised_no_error(nb04):
    logged = nb04.log_console()
    assert not logged, f"a widget callback raised (JupyterLab's log console):\n{logged}"
    errors = console_errors(nb04.page)
    assert not errors, "browser console errors:\n" + "\n".join(errors)


