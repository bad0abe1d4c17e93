"""Slips students make, in JupyterLab and Chromium: a cell that starts something run a second time, and a
cell in the middle run after a kernel restart. Each gives one line that says what happened (never a
traceback), and the lesson goes on working."""
from __future__ import annotations

import csv
import io
import time
import urllib.request

from . import selectors as sel
from .conftest import close_page, open_page
from .notebook import Notebook
from .ui import within

LESSON_00 = "00-welcome.ipynb"
LESSON_01 = "01-dns-load-balancing.ipynb"
LESSON_05 = "05-monitoring.ipynb"
SERVERS_01 = "sites = start_lab_servers("
DASHBOARD_05 = "MonitorDashboard(lb, refresh=1.0, max_seconds=120)"
STATS_CSV = "http://127.0.0.1:8404/;csv"  # haproxy/monitoring.cfg's stats page


def outputs(nb: Notebook, index: int) -> list[str]:
    return nb.page.locator(sel.CELL).nth(index).locator(sel.OUTPUT).all_inner_texts()


def no_traceback(shown: list[str]) -> None:
    assert not any(m in text for text in shown for m in sel.TRACEBACK_MARKERS), shown


def answered(backend: str = "application_nodes") -> int:
    """Requests the lesson's balancer has sent to ``backend`` so far (its stats page, as CSV)."""
    with urllib.request.urlopen(STATS_CSV, timeout=5) as r:
        rows = csv.DictReader(io.StringIO(r.read().decode().lstrip("# ")))
        return next(int(row["stot"]) for row in rows if row["pxname"] == backend and row["svname"] == "BACKEND")


def test_rerunning_01s_server_cell_restarts_its_servers_and_the_lesson_goes_on(browser, lab):
    nb = Notebook(open_page(browser), lab, LESSON_01).open()
    try:
        nb.run_cell("from labsupport import")
        nb.run_cell("lab_dns = DNSServer(")
        index = nb.run_cell(SERVERS_01)
        first = outputs(nb, index)
        assert not any("restarted" in text for text in first), first  # the first run: as it always was
        nb.run_cell(SERVERS_01)  # the slip: the same cell again
        shown = outputs(nb, index)
        no_traceback(shown)
        assert shown[0].strip() == ("restarted the servers on 127.0.0.2:8080, 127.0.0.3:8080 and 127.0.0.4:8080: "
                                    "an earlier run of this cell had started them"), shown
        assert shown[1:] == first  # and then what the cell always shows
        # the next cells work: a visit through the (untouched) DNS server, the servers' table
        visit = nb.run_cell("v = visit(")
        assert "Hi!! from server 8080" in "\n".join(outputs(nb, visit))
        table = "\n".join(outputs(nb, nb.run_cell("fleet.status()")))
        assert table.count("running") == 3 and "replaced" not in table, table
    finally:
        close_page(nb.page, lab)


def test_rerunning_05s_dashboard_cell_does_not_double_the_traffic(browser, lab):
    nb = Notebook(open_page(browser), lab, LESSON_05).open()
    try:
        nb.run_cell("from labsupport import")
        index = nb.run_cell(DASHBOARD_05)
        nb.page.wait_for_selector(sel.MONITOR, timeout=30_000)
        nb.run_cell(DASHBOARD_05)  # the slip
        shown = outputs(nb, index)
        no_traceback(shown)
        assert shown[0].strip() == ("restarted the traffic to http://127.0.0.1:3000/, the monitoring dashboard: "
                                    "an earlier run of this cell had started them"), shown
        within(30, lambda: nb.page.locator(sel.MONITOR).count(), lambda n: n == 1, "one live dashboard on the page")
        # one generator at 20 requests/s, not two: count what the balancer answers over five seconds
        start, t0 = answered(), time.monotonic()
        time.sleep(5)
        rate = (answered() - start) / (time.monotonic() - t0)
        print(f"after the re-run: {rate:.1f} requests/s reach the balancer (the cell asks for 20)")
        assert 10 < rate < 28, f"{rate:.1f} requests/s: the cell's traffic runs {rate / 20:.1f} times"
    finally:
        close_page(nb.page, lab)


def test_after_a_kernel_restart_a_middle_cell_names_the_cell_to_run_first(browser, lab):
    how = "Run the cells above this one first (Run → Run All Above Selected Cell), then this cell again."
    nb = Notebook(open_page(browser), lab, LESSON_01).open()
    try:
        nb.run_cell("from labsupport import")
        nb.restart_kernel()
        nb.wait_idle(90, steady=1.0)
        index = nb.run_cell("in_order.chart(")
        assert [t.strip() for t in outputs(nb, index)] == [
            "NameError: name 'in_order' is not defined yet (the kernel restarted, or the cells above have not run): "
            "the cell under 'When a server dies' makes it (`victim = f\"{sites.where['127.0.0.3'][0]}:{sit...`). "
            + how]
        index = nb.run_cell("fleet.restart(victim)")
        (shown,) = outputs(nb, index)
        assert shown.startswith("NameError: name 'fleet' is not defined yet") and "\n" not in shown.strip()
    finally:
        close_page(nb.page, lab)
    nb = Notebook(open_page(browser), lab, LESSON_00).open()
    try:  # lesson 00's server cell before its first cell (the import) ran
        index = nb.run_cell("with Fleet() as fleet")
        assert [t.strip() for t in outputs(nb, index)] == [
            "NameError: name 'Fleet' is not defined yet (the kernel restarted, or the cells above have not run): "
            "the cell under 'Check your machine' makes it (`from labsupport import Fleet, check_environment`). "
            + how]
    finally:
        close_page(nb.page, lab)
