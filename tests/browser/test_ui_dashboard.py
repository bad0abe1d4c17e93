"""Notebook 03's live dashboard in the browser, with traffic running; then a kernel restart mid-lesson."""
from __future__ import annotations

import time

import pytest

from labsupport.engine.balance import STATIC_WEIGHT_MSG

from . import selectors as sel
from .conftest import close_page, console_errors, open_page
from .labserver import listening
from .notebook import KERNEL_START, Notebook
from .ui import text, within

NOTEBOOK = "03-load-balancer.ipynb"
SERVERS = ("server01", "server02", "server03", "server04")  # haproxy/myhaproxy.cfg
PORTS = (3000, 8080, 8081, 8082, 8083)  # the balancer and the four servers the notebook starts
BARS_FOLLOW = 3.0  # seconds for the "last 3 s" bars to show a change (the promise)
RESTART_CLEANUP = 2.0  # seconds after Kernel > Restart until no server or balancer of the lesson runs

_LAST_JS = """s => Object.fromEntries([...document.querySelectorAll(s)].map(e =>
    [[...e.classList].find(c => c.startsWith('lab-last-')).slice(9), parseInt(e.textContent)]))"""


@pytest.fixture(scope="module")
def nb(browser, lab):
    """Notebook 03 run down to its dashboard cell, and its traffic started as the prose asks: the dashboard
    live, traffic on."""
    page = open_page(browser)
    notebook = Notebook(page, lab, NOTEBOOK).open()
    notebook.run_through("Dashboard(lb)")
    page.wait_for_selector(sel.LAST_COUNT, timeout=30_000)
    assert "start traffic" in text(page, sel.TRAFFIC_TOGGLE)  # the lesson leaves the start to the student
    page.click(sel.TRAFFIC_TOGGLE)
    # the kernel relabels the button when it has started the traffic: a round trip, not instant
    within(10, lambda: text(page, sel.TRAFFIC_TOGGLE) or "", lambda t: "stop traffic" in t,
           "the toggle reads 'stop traffic' after the click")
    yield notebook
    close_page(page, lab)


def last(nb) -> dict[str, int]:
    """The dashboard's "last 3 s" requests per server, as its summary line shows them."""
    return nb.page.evaluate(_LAST_JS, sel.LAST_COUNT)


def share(counts: dict[str, int], server: str) -> float:
    total = sum(counts.values())
    return counts.get(server, 0) / total if total else 0.0


def press(nb, server: str, key: str, times: int) -> None:
    """Move a weight slider with the keyboard, as a student tabbing to it would."""
    nb.page.focus(sel.weight_handle(server))
    for _ in range(times):
        nb.page.keyboard.press(key)


def test_traffic_reaches_every_server(nb):
    within(10, lambda: text(nb.page, sel.TRAFFIC_TOGGLE) or "", lambda t: "stop traffic" in t,
           "the toggle reads 'stop traffic' (the button started the traffic)")
    counts = within(15, lambda: last(nb), lambda c: sum(c.values()) >= 30 and all(c.get(s) for s in SERVERS),
                    "traffic on every server in the last 3 s")
    assert sorted(counts) == sorted(SERVERS)


def test_weight_slider_moved_with_the_keyboard_changes_the_bars(nb):
    # End / Home: one keystroke, one change (each change redraws the chart in the kernel: on a busy machine
    # four arrow presses are four redraws in a row, and the bars would show the steps in between)
    before = share(within(15, lambda: last(nb), lambda c: sum(c.values()) >= 30, "traffic"), "server01")
    press(nb, "server01", "End", 1)  # weight 1 -> 10: server01 should get 10 requests in 13
    moved = time.monotonic()
    assert text(nb.page, sel.weight_readout("server01")).strip() == "10"
    within(BARS_FOLLOW, lambda: last(nb), lambda c: share(c, "server01") >= before + 0.15,
           f"server01's share of the last 3 s rises from {before:.2f} after its weight went 1 -> 10", since=moved)
    # let the whole window be weight 10 (10/13 = 0.77), so that the fall below is not the window still filling
    top = share(within(10, lambda: last(nb), lambda c: share(c, "server01") >= 0.65, "server01 at its new share"),
                "server01")
    press(nb, "server01", "Home", 1)  # weight 0: no new request for server01
    moved = time.monotonic()
    assert text(nb.page, sel.weight_readout("server01")).strip() == "0"
    within(BARS_FOLLOW, lambda: last(nb), lambda c: share(c, "server01") <= top - 0.15,
           f"server01's share of the last 3 s falls from {top:.2f} after its weight went to 0", since=moved)
    assert text(nb.page, sel.DASHBOARD_MESSAGE).strip() == ""


def test_algorithm_picker_changes_the_distribution(nb):
    nb.page.select_option(sel.ALGORITHM_SELECT, "source")  # one client address: one server takes it all
    within(BARS_FOLLOW + 5, lambda: last(nb), lambda c: max(share(c, s) for s in SERVERS) >= 0.9,
           "one server takes (almost) all of the last 3 s under 'balance source'")
    assert text(nb.page, sel.DASHBOARD_MESSAGE).strip() == ""


def test_refused_weight_change_under_static_rr_shows_its_message(nb):
    nb.page.select_option(sel.ALGORITHM_SELECT, "static-rr")
    within(10, lambda: text(nb.page, sel.DASHBOARD_MESSAGE), lambda m: m is not None and m.strip() == "",
           "static-rr accepted")
    weight = int(text(nb.page, sel.weight_readout("server02")))
    press(nb, "server02", "ArrowRight", 1)
    within(5, lambda: text(nb.page, sel.DASHBOARD_MESSAGE), lambda m: m and STATIC_WEIGHT_MSG in m,
           "the dashboard shows why static-rr refuses a new weight")
    within(5, lambda: text(nb.page, sel.weight_readout("server02")).strip(), lambda v: v == str(weight),
           "the refused slider goes back")


def test_no_error_in_the_browser_or_the_kernel(nb):
    logged = nb.log_console()
    assert not logged, f"a widget callback raised (JupyterLab's log console):\n{logged}"
    errors = console_errors(nb.page)
    assert not errors, "browser console errors:\n" + "\n".join(errors)


def test_kernel_restart_mid_lesson_stops_everything_and_run_all_works_again(nb, lab):
    (kernel,) = lab.kernel_processes()
    started = kernel.children(recursive=True)  # the application servers (the balancer lives in the kernel)
    assert len(started) >= 4 and all(listening(p) for p in PORTS)
    nb.restart_kernel()
    restarted = time.monotonic()
    within(RESTART_CLEANUP, lambda: [p for p in PORTS if listening(p)] + [q.pid for q in started if q.is_running()],
           lambda left: not left, "ports still listening / processes still running after Kernel > Restart",
           since=restarted)
    print(f"everything stopped {time.monotonic() - restarted:.2f} s after Kernel > Restart")
    nb.wait_idle(KERNEL_START, steady=1.0)
    nb.run_all()
    problems = nb.problems()
    assert not problems, f"{NOTEBOOK} after a restart and Run All:\n" + "\n".join(problems)
    assert not console_errors(nb.page)
