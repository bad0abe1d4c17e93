"""Lesson 08's live table widget in the browser: a client's rate rises, and its row turns to 429 within a
second of the first request denied (the issue's promise), on the lesson's own ratelimit.cfg.

The kernel of a small scratch notebook runs the balancer and the widget, as the lesson does; this test is
the client: 30 requests from 127.0.0.2 at 20 per second. A MutationObserver in the page notes, with the
browser's own clock (Date.now(), the same wall clock as time.time() here), each change of that client's
row: the time from the 21st answer (the first 429: HAProxy counts a request before the deny reads the rate,
21 > 20) to the row's change is measured from those timestamps, not from when this test looked."""
from __future__ import annotations

import socket
import time

import pytest

from . import selectors as sel
from .conftest import console_errors, scratch_notebook
from .ui import text, within

NOTEBOOK = "scratch-tablewatch.ipynb"
CLIENT = "127.0.0.2"
PORT = 8000  # haproxy/ratelimit.cfg's frontend shop
LIMIT = 20  # its deny: sc_http_req_rate(0) gt 20
REQUESTS, PER_SECOND = 30, 20.0
TURNS_RED = 1.0  # seconds from the first 429 answer to the row's "429" (the promise)
CELLS = [
    "from labsupport import Balancer, Fleet, TableWatch\n"
    "fleet = Fleet()\n"
    "fleet.start([8201, 8202, 8203], sessions=True)\n"
    "lb = Balancer.from_file('../haproxy/ratelimit.cfg').start()",
    f"watch = TableWatch(lb, 'shop', limit={LIMIT})\nwatch",
]

# every change of the client's row, with the browser's time: [{t, rate, status}, ...]
_OBSERVE_JS = """([row, key]) => {
    window.labRow = [];
    const note = () => {
        const r = document.querySelector(`${row}[data-key="${key}"]`);
        if (!r) return;
        const seen = {t: Date.now(), rate: r.querySelector('.lab-tablewatch-rate').textContent.trim(),
                      status: r.dataset.status};
        const last = window.labRow[window.labRow.length - 1];
        if (!last || last.rate !== seen.rate || last.status !== seen.status) window.labRow.push(seen);
    };
    new MutationObserver(note).observe(document.body, {childList: true, subtree: true, characterData: true,
                                                       attributes: true});
    note();
}"""


def ask(src: str) -> int:
    """One request from ``src`` on a new connection; its status."""
    with socket.create_connection(("127.0.0.1", PORT), timeout=5, source_address=(src, 0)) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: shop.lab\r\nConnection: close\r\n\r\n")
        head = b""
        while b"\r\n" not in head:
            chunk = c.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def nb(browser, lab):
    """A scratch notebook next to the student's copies: the lesson's balancer and the widget, live."""
    yield from scratch_notebook(browser, lab, NOTEBOOK, CELLS, "TableWatch(lb", sel.TABLEWATCH)


def test_a_clients_rate_rises_and_its_row_turns_429_within_a_second(nb):
    page = nb.page
    assert "no key yet" in text(page, sel.TABLEWATCH)
    page.evaluate(_OBSERVE_JS, [sel.TABLEWATCH_ROW, CLIENT])
    start = time.monotonic()
    answers = []  # (status, time.time() when the answer came)
    for i in range(REQUESTS):
        due = start + i / PER_SECOND  # paced: the i-th request leaves at its time, whatever the previous took
        time.sleep(max(0.0, due - time.monotonic()))
        answers.append((ask(CLIENT), time.time()))
    assert [s for s, _ in answers] == [200] * LIMIT + [429] * (REQUESTS - LIMIT)
    first_denied = answers[LIMIT][1]
    changes = within(10, lambda: page.evaluate("window.labRow"), lambda rows: any(r["status"] == "429" for r in rows),
                     f"the row of {CLIENT} turns to 429")
    red = next(r for r in changes if r["status"] == "429")
    delay = red["t"] / 1000 - first_denied
    assert delay < TURNS_RED, f"the row turned to 429 {delay:.2f} s after the first 429 answer ({changes})"
    # the table counts denied requests too: the rate reaches 30, and the log line counts the 429s
    changes = within(5, lambda: page.evaluate("window.labRow"), lambda rows: int(rows[-1]["rate"]) == REQUESTS,
                     f"the row of {CLIENT} reaches {REQUESTS}")
    rates = [int(r["rate"]) for r in changes]
    print(f"row of {CLIENT}: rates {rates}; 429 shown {delay * 1000:.0f} ms after the first 429 answer")
    let_in = [int(r["rate"]) for r in changes if r["status"] == "ok"]
    assert let_in and all(0 < r <= LIMIT for r in let_in), f"the row before 429: {changes}"
    assert rates == sorted(rates) and len(set(rates)) >= 2, f"the rate rises: {changes}"
    within(5, lambda: text(page, sel.TABLEWATCH_ANSWERS) or "",
           lambda t: f"200 \u00d7 {LIMIT}" in t and f"429 \u00d7 {REQUESTS - LIMIT}" in t,
           "the answers per status of the last 10 s")


def test_the_stop_button_stops_it(nb):
    nb.page.click(sel.TABLEWATCH_STOP)
    within(5, lambda: text(nb.page, sel.TABLEWATCH_CLOCK) or "", lambda t: "stopped" in t,
           "the clock says the panel stopped")
    logged = nb.log_console()
    assert not logged, f"a widget callback raised (JupyterLab's log console):\n{logged}"
    assert not console_errors(nb.page)
