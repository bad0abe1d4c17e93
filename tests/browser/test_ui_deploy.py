"""Lesson 09's deploy panel in the browser: a server walked through drain, maint and ready by the runtime API,
and its row's state label follows each change within a second; then a rolling deploy changes its version.

The kernel of a small scratch notebook runs the lesson's balancer (haproxy/live.cfg on the engine), its
fleet and the panel, as the lesson does. A cell sends the three runtime commands two seconds apart and prints
when it sent each (time.time()); a MutationObserver in the page notes, with the browser's own clock
(Date.now(), the same wall clock), each change of the server's row. The delays are measured from those
timestamps, not from when this test looked."""
from __future__ import annotations

import json
import re

import pytest

from . import selectors as sel
from .conftest import console_errors, scratch_notebook
from .ui import text, within

NOTEBOOK = "scratch-deploy.ipynb"
SERVER = "s2"
FOLLOWS = 1.0  # seconds from a runtime command to the row's new label (the promise)
CELLS = [
    "from labsupport import Balancer, Fleet, DeployWidget\n"
    "fleet = Fleet()\n"
    "fleet.start([8301, 8302, 8303, 8304])\n"
    "lb = Balancer.from_file('../haproxy/live.cfg').start()",
    "panel = DeployWidget(lb, 'app', fleet)\npanel",
    "import json, time\n"
    "sent = {}\n"
    "for state in ('drain', 'maint', 'ready'):\n"
    f"    lb.command(f'set server app/{SERVER} state {{state}}')\n"
    "    sent[state] = time.time()\n"
    "    time.sleep(2)\n"
    "print('SENT', json.dumps(sent))",
    f"log = panel.deploy(2, servers=['{SERVER}'])\nprint(log.ok)",
]

# every change of the server's row, with the browser's time: [{t, state, version}, ...]
_OBSERVE_JS = """([row, name]) => {
    window.labRow = [];
    const note = () => {
        const r = document.querySelector(`${row}[data-server="${name}"]`);
        if (!r) return;
        const seen = {t: Date.now(), state: r.querySelector('.lab-deploy-state').textContent.trim(),
                      version: r.querySelector('.lab-deploy-version').textContent.trim()};
        const last = window.labRow[window.labRow.length - 1];
        if (!last || last.state !== seen.state || last.version !== seen.version) window.labRow.push(seen);
    };
    new MutationObserver(note).observe(document.body, {childList: true, subtree: true, characterData: true,
                                                       attributes: true});
    note();
}"""


@pytest.fixture(scope="module")
def nb(browser, lab):
    """A scratch notebook next to the student's copies: the lesson's balancer, fleet and panel, live."""
    yield from scratch_notebook(browser, lab, NOTEBOOK, CELLS, "DeployWidget(lb", sel.DEPLOY)


def row(page) -> dict:
    return page.evaluate("""([row, name]) => { const r = document.querySelector(`${row}[data-server="${name}"]`);
        return r ? {state: r.dataset.state, version: r.dataset.version} : null }""", [sel.DEPLOY_ROW, SERVER])


def test_the_row_follows_drain_maint_and_ready_within_a_second(nb):
    page = nb.page
    within(15, lambda: row(page), lambda r: r == {"state": "UP", "version": "1"}, f"{SERVER} shows UP, version 1")
    page.evaluate(_OBSERVE_JS, [sel.DEPLOY_ROW, SERVER])
    index = nb.run_cell("sent = {}", timeout=60)
    out = page.locator(sel.CELL).nth(index).locator(sel.OUTPUT).all_text_contents()
    sent = json.loads(re.search(r"SENT (\{.*\})", " ".join(out)).group(1))
    changes = page.evaluate("window.labRow")
    delays = {}
    for state, label in (("drain", "DRAIN"), ("maint", "MAINT"), ("ready", "UP")):
        shown = next((c for c in changes if c["state"] == label and c["t"] / 1000 >= sent[state] - 0.05), None)
        assert shown is not None, f"the row never showed {label} after '{state}' ({changes})"
        delay = shown["t"] / 1000 - sent[state]
        assert delay < FOLLOWS, f"{label} showed {delay:.2f} s after 'set server ... state {state}' ({changes})"
        delays[state] = round(delay * 1000)
    print(f"row of {SERVER}: shown after drain, maint, ready in {delays} ms")
    assert [c["state"] for c in changes][:4] == ["UP", "DRAIN", "MAINT", "UP"], changes


def test_a_rolling_deploy_changes_the_version(nb):
    page = nb.page
    nb.run_cell("panel.deploy(2", timeout=60)
    within(5, lambda: row(page), lambda r: r == {"state": "UP", "version": "2"}, f"{SERVER} shows UP, version 2")
    states = [c["state"] for c in page.evaluate("window.labRow")]
    assert "DRAIN" in states[4:] and "MAINT" in states[4:], states
    assert "done" in (text(page, sel.DEPLOY_STEP) or "")


def test_the_stop_button_stops_it(nb):
    nb.page.click(sel.DEPLOY_STOP)
    within(5, lambda: text(nb.page, sel.DEPLOY_CLOCK) or "", lambda t: "stopped" in t, "the clock says it stopped")
    logged = nb.log_console()
    assert not logged, f"a widget callback raised (JupyterLab's log console):\n{logged}"
    assert not console_errors(nb.page)
