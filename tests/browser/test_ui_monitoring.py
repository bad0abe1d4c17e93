"""Notebook 05's monitoring views in the browser (skipped until notebook 05 is in the checkout)."""
from __future__ import annotations

import pytest

from . import selectors as sel
from .conftest import close_page, console_errors
from .lessons import open_until
from .ui import within


@pytest.fixture(scope="module")
def nb05(request):
    nb = open_until(request, "05", sel.STATS_FRAME)
    yield nb
    close_page(nb.page, nb.lab)


def test_embedded_stats_page_renders_its_table(nb05):
    frame = nb05.page.frame_locator(sel.STATS_FRAME).first
    frame.locator(sel.STATS_TABLE).first.wait_for(timeout=15_000)
    assert frame.locator(sel.STATS_TABLE).count() >= 2  # at least a frontend and a backend


def test_admin_drain_changes_the_servers_row(nb05):
    frame = nb05.page.frame_locator(sel.STATS_FRAME).first
    box = frame.locator(sel.STATS_ADMIN_SERVER).first
    box.wait_for(timeout=15_000)
    server = box.get_attribute("value")
    box.check()
    frame.locator(sel.STATS_ADMIN_ACTION).first.select_option(sel.STATS_ADMIN_DRAIN)
    frame.locator(sel.STATS_ADMIN_APPLY).first.click()
    row = frame.locator(sel.stats_server_row(server)).first
    within(10, lambda: (row.get_attribute("class") or "", row.inner_text()) if row.count() else ("", ""),
           lambda r: "draining" in r[0] and "DRAIN" in r[1], f"{server}'s row in DRAIN after the admin action")


def test_monitoring_dashboard_charts_update(nb05):
    if not nb05.page.locator(sel.MONITOR_DASHBOARD).count():
        nb05.run_until(sel.MONITOR_DASHBOARD)
    fingerprint = ("s => { const d = document.querySelector(s); return d ? d.innerText + "
                   "[...d.querySelectorAll('img')].map(i => i.src).join() : '' }")
    first = nb05.page.evaluate(fingerprint, sel.MONITOR_DASHBOARD)
    within(15, lambda: nb05.page.evaluate(fingerprint, sel.MONITOR_DASHBOARD), lambda f: f and f != first,
           "the monitoring dashboard redraws")


def test_monitoring_raised_no_error(nb05):
    logged = nb05.log_console()
    assert not logged, f"a widget callback raised (JupyterLab's log console):\n{logged}"
    errors = console_errors(nb05.page)
    assert not errors, "browser console errors:\n" + "\n".join(errors)
