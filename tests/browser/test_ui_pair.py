"""Lesson 10 in the browser: the lab's pictures render, and the balancer pair panel's buttons move the virtual
address as keepalived's settings allow.

The lesson runs in the live (non-headless) JupyterLab, only the cells these tests need, in the lesson's order
(the others are Run All's business, test_run_all.py): the lab, the site and its topology picture, the first
pair and its failover timeline (a pulled cable), then the panel over a pair that tracks HAProxy. The lab's
hosts are network namespaces nested in this test's own (``make test`` runs the browser shards in ``unshare
-rn``): without them, or without keepalived, these tests skip with the reason (support.beyond_lab; a failure
under LAB_REQUIRE_NETNS=1 / LAB_REQUIRE_KEEPALIVED=1).

Deadlines come from the panel's pair as its cell builds it (``advert_int``, BalancerPair's default unless the
cell says otherwise): a backup takes over after at most the master down interval, about 3.6 advertisements,
so ``4 * advert_int + 3 s`` (the page redraws every 0.5 s) bounds both the move to lb2 (with tracking it takes
well under a second) and, after restore, lb1 taking the address back (preempt: lb1 waits out the master down
interval), plus RESTART for HAProxy to start again in lb1. Everything is polled, nothing waits a fixed time.
"""
from __future__ import annotations

import inspect
import re
import time

import pytest
from support.beyond_lab import expected_kind, require_keepalived

from labsupport.lessons.beyond.pair import BalancerPair

from . import selectors as sel
from .conftest import close_page, console_errors
from .lessons import lesson, open_until
from .ui import text, within

TOPOLOGY = "display(topology_figure(lab))"  # section 1: the site's hosts on the switch
FAILOVER = "display(failover_figure("  # section 3: the timeline of a pulled cable
PANEL = "PairWidget(pair"  # section 3: the pair, live (a pair that tracks HAProxy)
# the cells the panel needs, in the lesson's order: a clean slate and the lab, the site, the first pair, its
# failover (lb1 unplugged, then restored), the panel (it stops the first pair and makes one that tracks)
CELLS = ("lab = Lab.if_possible()", TOPOLOGY, "pair = BalancerPair(lab", FAILOVER, PANEL)
PAGE = 3.0  # seconds for what keepalived did to reach the page (a redraw every 0.5 s, a busy 2-core machine)
RESTART = 10.0  # seconds for restore() to start HAProxy in lb1 again, before VRRP's clock even starts


@pytest.fixture(scope="module")
def nb10(request):
    lesson("10")  # skips first when the lesson is not in this checkout
    require_keepalived()  # namespaces, then keepalived: skip (or fail under LAB_REQUIRE_...) with the reason
    nb = open_until(request, "10", None)
    try:
        for snippet in CELLS:
            nb.run_cell(snippet)
        index = cell_of(nb, PANEL)
        try:
            nb.page.wait_for_selector(sel.PAIR_HOLDER, timeout=30_000)
        except Exception:
            said = " ".join(nb.page.locator(sel.CELL).nth(index).locator(sel.OUTPUT).all_text_contents())
            raise AssertionError(f"lesson 10's pair panel never showed; its cell printed: {said[-1500:]!r}") from None
    except BaseException:
        close_page(nb.page, nb.lab)
        raise
    yield nb
    close_page(nb.page, nb.lab)


def cell_of(nb, snippet: str) -> int:
    return next(i for i, s in enumerate(nb.cell_sources()) if snippet in s)


def images(nb, index: int) -> list[dict]:
    """The PNG outputs of cell ``index``: loaded or not, and their natural size."""
    return nb.page.evaluate("([cell, i, img]) => [...document.querySelectorAll(cell)[i].querySelectorAll(img)]"
                            ".map(e => ({complete: e.complete, width: e.naturalWidth, height: e.naturalHeight}))",
                            [sel.CELL, index, sel.PNG_OUTPUT])


def panel_settings(nb) -> tuple[float, bool]:
    """advert_int and track of the panel's pair, as its cell builds it (BalancerPair's defaults otherwise)."""
    source = nb.cell_sources()[cell_of(nb, PANEL)]
    defaults = inspect.signature(BalancerPair).parameters
    advert = re.search(r"\badvert_int\s*=\s*([\d.]+)", source)
    track = re.search(r"\btrack\s*=\s*(True|False)\b", source)
    return (float(advert.group(1)) if advert else defaults["advert_int"].default,
            track.group(1) == "True" if track else defaults["track"].default)


_PANEL_JS = """([holder, row, shot]) => {
    const h = document.querySelector(holder);
    const rows = Object.fromEntries([...document.querySelectorAll(row)].map(r => [r.dataset.host, r.dataset.balancer]));
    const shots = [...document.querySelectorAll(shot)].map(s => s.dataset.ok);
    return {holder: h ? h.dataset.holder : null, balancers: rows, red: shots.filter(s => s === 'no').length,
            shots: shots.length, last: shots.length ? shots[shots.length - 1] : null};
}"""


def panel(nb) -> dict:
    """What the panel shows now: the holder, each balancer up/down, the red marks, the last mark, the counts."""
    seen = nb.page.evaluate(_PANEL_JS, [sel.PAIR_HOLDER, sel.PAIR_BALANCER, sel.PAIR_SHOT])
    counts = re.search(r"(\d+) answered, (\d+) failed", text(nb.page, sel.PAIR_TIMELINE) or "")
    seen["answered"], seen["failed"] = (int(counts.group(1)), int(counts.group(2))) if counts else (None, None)
    return seen


def test_the_topology_picture_and_the_failover_timeline_render(nb10):
    sizes = {}
    for snippet, what in ((TOPOLOGY, "the lab's topology picture"), (FAILOVER, "the failover timeline")):
        index = cell_of(nb10, snippet)
        shown = within(15, lambda i=index: images(nb10, i),
                       lambda found: bool(found) and all(f["complete"] and f["width"] > 0 for f in found),
                       f"{what} (cell {index + 1}) shows as a loaded PNG picture")
        assert len(shown) == 1, f"{what}: one picture expected in cell {index + 1}, found {shown}"
        sizes[what] = f"{shown[0]['width']}x{shown[0]['height']}"
    print(f"pictures: {sizes}")


def test_stopping_the_active_balancer_moves_the_address_and_restore_brings_it_back(nb10):
    page = nb10.page
    advert_int, track = panel_settings(nb10)
    assert track, f"the panel's pair does not track HAProxy (cell {cell_of(nb10, PANEL) + 1}): the address would never move"
    moves = 4 * advert_int + PAGE  # the master down interval (about 3.6 advertisements) and the page
    if expected_kind() == "haproxy":
        assert "real HAProxy" in (text(page, sel.PAIR_HOLDER) or ""), text(page, sel.PAIR_HOLDER)
    within(30, lambda: panel(nb10), lambda p: p["holder"] == "lb1" and p["balancers"] == {"lb1": "up", "lb2": "up"}
           and (p["answered"] or 0) > 0 and p["last"] == "yes", "lb1 holds the address, both up, requests answered")
    before = panel(nb10)
    page.click(sel.PAIR_STOP)
    stopped = time.monotonic()
    within(moves, lambda: panel(nb10)["holder"], lambda h: h == "lb2",
           f"the holder shown moves to lb2 after the stop (advert_int {advert_int:g}: 4 x {advert_int:g} + {PAGE:g} s)",
           since=stopped)
    moved = time.monotonic() - stopped
    after = within(moves, lambda: panel(nb10), lambda p: p["red"] > 0 and p["failed"] > before["failed"],
                   "red marks in the timeline (requests that failed while the address moved)", since=stopped)
    assert after["balancers"]["lb1"] == "down", after
    assert "killed" in (text(page, sel.PAIR_ACTION) or ""), text(page, sel.PAIR_ACTION)
    within(moves, lambda: panel(nb10)["last"], lambda last: last == "yes", "lb2 answers: the last mark green again",
           since=stopped)
    failed = panel(nb10)["failed"] - before["failed"]

    page.click(sel.PAIR_RESTORE)
    restored = time.monotonic()
    back = within(RESTART + moves, lambda: panel(nb10),
                  lambda p: p["holder"] == "lb1" and p["balancers"] == {"lb1": "up", "lb2": "up"}
                  and "started" in (text(page, sel.PAIR_ACTION) or ""),  # it says "restoring ..." until settled
                  f"lb1 up and holding the address again after restore (preempt; {RESTART:g} s to start HAProxy "
                  f"+ 4 x {advert_int:g} + {PAGE:g} s)", since=restored)
    back_after = time.monotonic() - restored
    assert "started" in (text(page, sel.PAIR_ACTION) or ""), text(page, sel.PAIR_ACTION)
    within(moves, lambda: panel(nb10)["last"], lambda last: last == "yes", "lb1 answers: the last mark green",
           since=restored)
    print(f"advert_int {advert_int:g}: lb2 shown {moved:.2f} s after the stop, {failed} requests failed; "
          f"lb1 shown again {back_after:.2f} s after restore ({back['failed'] - before['failed']} failed in all)")


def test_the_page_shows_no_error(nb10):
    logged = nb10.log_console()
    assert not logged, f"a widget callback raised (JupyterLab's log console):\n{logged}"
    problems = [p for p in nb10.problems(widget_wait=5) if not p.startswith("cells never ran")]  # only some ran
    assert not problems, "\n".join(problems)
    errors = console_errors(nb10.page)
    assert not errors, "browser console errors:\n" + "\n".join(errors)
