"""Notebook 05's monitoring views in the browser: the embedded stats page, HAProxy's admin form on the
password-protected stats page (haproxy/monitoring.cfg: port 8405, ``stats auth admin:lab``, ``stats admin
if TRUE``), and the live monitoring dashboard."""
from __future__ import annotations

import base64

import pytest
from playwright.sync_api import Error as PlaywrightError

from . import selectors as sel
from .conftest import close_page, console_errors, open_page
from .lessons import open_until
from .ui import within

ADMIN_URL, ADMIN_AUTH = "http://127.0.0.1:8405/", ("admin", "lab")  # haproxy/monitoring.cfg's stats_admin
SERVER = "server04"  # the lesson's cells before the dashboard never touch it


@pytest.fixture(scope="module")
def nb05(request):
    nb = open_until(request, "05", sel.STATS_FRAME)
    yield nb
    close_page(nb.page, nb.lab)


def embedded_row(nb, server: str) -> tuple[str, str]:
    """(class, text) of the server's row on the embedded stats page ('' while it is reloading)."""
    row = nb.page.frame_locator(sel.STATS_FRAME).first.locator(sel.stats_server_row(server))
    try:
        return (row.first.get_attribute("class", timeout=2_000) or "", row.first.inner_text(timeout=2_000))
    except PlaywrightError:  # the page reloads itself every 2 s (stats refresh 2s): read it again
        return ("", "")


def admin_action(browser, nb, server: str, action: str) -> str:
    """Log in to the admin stats page in a second tab (HTTP basic auth, as the browser's login box sends
    it), tick the server, choose the action, Apply; returns HAProxy's message."""
    page = open_page(browser)
    try:
        token = base64.b64encode(":".join(ADMIN_AUTH).encode()).decode()
        page.set_extra_http_headers({"Authorization": f"Basic {token}"})
        page.goto(ADMIN_URL)
        page.check(f"{sel.STATS_ADMIN_SERVER}[value='{server}']")
        page.select_option(sel.STATS_ADMIN_ACTION, action)
        with page.expect_navigation():
            page.click(sel.STATS_ADMIN_APPLY)
        message = page.inner_text("body")
        errors = console_errors(page)
        assert not errors, "admin page console errors:\n" + "\n".join(errors)
        return message
    finally:
        page.close()
        nb.page.bring_to_front()


def test_embedded_stats_page_renders_its_table(nb05):
    frame = nb05.page.frame_locator(sel.STATS_FRAME).first
    frame.locator(sel.STATS_TABLE).first.wait_for(timeout=15_000)
    names = frame.locator("th.pxname").all_inner_texts()
    assert {"http-in", "application_nodes"} <= set(names), names
    within(10, lambda: embedded_row(nb05, SERVER), lambda r: r[0] == "active_up" and "UP" in r[1],
           f"{SERVER}'s row on the embedded stats page, UP")


def test_admin_drain_changes_the_servers_row(browser, nb05):
    message = admin_action(browser, nb05, SERVER, sel.STATS_ADMIN_DRAIN)
    assert sel.STATS_ADMIN_DONE in message, message[:500]
    try:  # the embedded page (refreshed every 2 s) shows it
        within(6, lambda: embedded_row(nb05, SERVER), lambda r: r[0] == "active_draining" and "DRAIN" in r[1],
               f"{SERVER}'s row in DRAIN on the embedded stats page after the admin action")
    finally:
        message = admin_action(browser, nb05, SERVER, sel.STATS_ADMIN_READY)
    assert sel.STATS_ADMIN_DONE in message, message[:500]
    within(6, lambda: embedded_row(nb05, SERVER), lambda r: r[0] == "active_up",
           f"{SERVER}'s row back to UP after READY")


def test_monitoring_dashboard_charts_update(nb05):
    # straight to the dashboard's cell (it needs only the first cell's balancer and fleet): the cells
    # between are Run All's business, and would cost this suite half a minute
    nb05.run_cell("MonitorDashboard(lb")
    nb05.page.wait_for_selector(sel.MONITOR, timeout=30_000)

    def chart() -> str:
        return nb05.page.get_attribute(sel.MONITOR_CHART, "src") or ""

    def summary() -> str:
        return nb05.page.inner_text(sel.MONITOR_SUMMARY)

    first_chart, first_summary = chart(), summary()
    assert first_chart, "the monitoring chart shows no image"
    within(10, chart, lambda c: c and c != first_chart, "the monitoring chart redraws")
    within(10, summary, lambda s: s != first_summary and "req/s" in s, "the monitoring summary updates")


def test_monitoring_raised_no_error(nb05):
    logged = nb05.log_console()
    assert not logged, f"a widget callback raised (JupyterLab's log console):\n{logged}"
    errors = console_errors(nb05.page)
    assert not errors, "browser console errors:\n" + "\n".join(errors)
