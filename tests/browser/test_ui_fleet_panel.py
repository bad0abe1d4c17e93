"""Notebook 02's FleetPanel in the browser: the buttons act on real processes, the lights follow them."""
from __future__ import annotations

import os
import re
import signal
import time

import pytest

from labsupport.lessons.servers.panel import LIGHTS, RED

from . import selectors as sel
from .conftest import close_page, console_errors, open_page
from .notebook import Notebook
from .ui import answers, css, http_get, rgb, text, within

NOTEBOOK = "02-application-servers.ipynb"
PORTS = (8080, 8081, 8082, 8083)  # the servers notebook 02 starts
GREEN, GREY = rgb(LIGHTS["running"]), rgb(LIGHTS["stopped"])
LIGHT_CHANGE = 1.0  # seconds: what the lesson promises ("turns red within a second")


@pytest.fixture(scope="module")
def nb(browser, lab):
    """Notebook 02 run down to its panel cell, the panel live (as a student has it at that point)."""
    page = open_page(browser)
    notebook = Notebook(page, lab, NOTEBOOK).open()
    notebook.run_through("FleetPanel(fleet)")
    page.wait_for_selector(sel.FLEET_PANEL, timeout=30_000)
    yield notebook
    close_page(page, lab)


def light(nb, port):
    return css(nb.page, sel.light(port), "color")


def test_panel_shows_one_green_light_per_server(nb):
    rows = nb.page.locator(sel.SERVER_ROW)
    assert rows.count() == len(PORTS), f"rows: {rows.all_inner_texts()}"
    for port in PORTS:
        within(5, lambda p=port: light(nb, p), lambda c: c == GREEN, f"light of {port} green")
        assert f"127.0.0.1:{port}" in text(nb.page, sel.server_row(port))


def test_kill_button_turns_its_light_red_within_a_second(nb):
    nb.page.click(sel.kill_button(8080))
    clicked = time.monotonic()
    within(LIGHT_CHANGE, lambda: light(nb, 8080), lambda c: c == rgb(RED),
           "the light of 8080 turns red after its kill button", since=clicked)
    # the row's text is another widget update than the light's: it may land a moment later, within the second
    within(LIGHT_CHANGE, lambda: text(nb.page, sel.server_row(8080)), lambda t: "killed" in t,
           "the row of 8080 says killed", since=clicked)
    assert text(nb.page, sel.FLEET_MESSAGE).strip() == "", "the panel reported an error"
    with pytest.raises(OSError):  # really gone
        http_get("http://127.0.0.1:8080/", timeout=2)


def test_kill_9_from_outside_the_kernel_shows_within_a_second(nb):
    pid = int(re.search(r"pid (\d+)", text(nb.page, sel.server_row(8081))).group(1))
    os.kill(pid, signal.SIGKILL)  # what `kill -9 PID` in a terminal does
    killed = time.monotonic()
    within(LIGHT_CHANGE, lambda: light(nb, 8081), lambda c: c == rgb(RED),
           f"the light of 8081 turns red after kill -9 {pid} from outside", since=killed)
    within(LIGHT_CHANGE, lambda: text(nb.page, sel.server_row(8081)), lambda t: "killed" in t,
           "the row of 8081 says killed", since=killed)


def test_restart_brings_the_lights_back_to_green(nb):
    for port in (8080, 8081):
        nb.page.click(sel.restart_button(port))
        within(10, lambda p=port: light(nb, p), lambda c: c == GREEN, f"the light of {port} green after restart")
        within(5, lambda p=port: answers(f"http://127.0.0.1:{p}/"), lambda a, p=port: a == f"Hi!! from server {p}",
               f"{port} answers after restart")
    assert text(nb.page, sel.FLEET_MESSAGE).strip() == ""


def test_add_a_server_adds_a_row_that_answers_http(nb):
    rows = nb.page.locator(sel.SERVER_ROW)
    before = rows.count()
    nb.page.click(sel.ADD_SERVER)
    within(10, rows.count, lambda n: n == before + 1, "a new row after 'add a server'")
    new = rows.nth(before)
    port = int(re.search(r"127\.0\.0\.1:(\d+)", new.inner_text()).group(1))
    assert port not in PORTS
    within(10, lambda: light(nb, port), lambda c: c == GREEN, f"the new server's light ({port}) green")
    within(5, lambda: answers(f"http://127.0.0.1:{port}/"), lambda a: a == f"Hi!! from server {port}",
           f"the new server {port} answers HTTP")


def test_panel_raised_no_error_in_the_browser_or_the_kernel(nb):
    logged = nb.log_console()
    assert not logged, f"a widget callback raised (JupyterLab's log console):\n{logged}"
    errors = console_errors(nb.page)
    assert not errors, "browser console errors:\n" + "\n".join(errors)
