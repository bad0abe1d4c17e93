"""Lesson 08's live table widget: rows, the limit and the 429 status, the answers per status from the log, its
classes, its text form, its bounded loop; on HAProxy's captured answers and on a live engine."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from support.sessions_lab import ratelimit_engine

from labsupport import lifecycle
from labsupport.course.traffic.sender import send
from labsupport.errors import UsageError
from labsupport.lessons.sessions.tablewatch import TableWatch, over

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "show-table.json").read_text())["vectors"]
LOG = ('127.0.0.{c}:4{n:04d} [07/Dec/2026:13:50:0{n}.123] shop carts/{srv} 0/0/0/1/1 {status} 120 - - ---- '
       '1/1/0/0/0 0/0 "GET / HTTP/1.1"')


class Recorded:
    """A balancer answering ``show table`` as HAProxy did (tests/vectors/show-table.json), with a log."""

    def __init__(self, case: str = "ratelimit") -> None:
        self.case, self.lines = case, []

    def command(self, line: str) -> str:
        return next((v["answer"] for v in VECTORS if v["case"] == self.case and v["command"] == line),
                    "No such table\n")

    def logs(self, since: int = 0) -> tuple[list[str], int]:
        return self.lines[since:], len(self.lines)


@pytest.fixture
def watches():
    made = []
    yield made
    for watch in made:
        watch.close()


def test_over_is_haproxys_gt():
    assert over(21, 20) and not over(20, 20) and not over(None, 20) and not over(50, None)


def test_rows_the_limit_and_the_status(watches):
    watches.append(watch := TableWatch(Recorded(), "shop", limit=20, max_seconds=0))
    assert watch.rate == "http_req_rate(10s)"
    rows = watch.rows()
    assert [(r["key"], r["rate"], r["status"]) for r in rows] == [("127.0.0.2", 25, "429"), ("127.0.0.3", 3, "ok"),
                                                                  ("127.0.0.10", 1, "ok")]
    assert list(rows[0]) == ["key", "rate", "status", "use", "exp", "gpc0", "conn_cur", "http_err_rate(10s)"]
    page = watch.body.value
    assert page.count('class="lab-tablewatch-row') == 3
    assert re.search(r'<tr class="lab-tablewatch-row lab-tablewatch-over" data-key="127.0.0.2" data-status="429"',
                     page)
    assert 'data-key="127.0.0.3" data-status="ok"' in page and 'title="limit 20"' in page
    assert '<td class="lab-tablewatch-rate"' in page and "3 of 102400 entries used" in page


def test_without_a_limit_no_row_is_red_and_another_rate_can_be_watched(watches):
    watches.append(watch := TableWatch(Recorded(), rate="http_err_rate(10s)", max_seconds=0))
    assert [r["rate"] for r in watch.rows()] == [5, 0, 0] and {r["status"] for r in watch.rows()} == {"ok"}
    assert "lab-tablewatch-over" not in watch.body.value and "limit" not in watch.body.value


def test_answers_per_status_from_the_log(watches):
    lb = Recorded()
    lb.lines.append(LOG.format(c=2, n=0, srv="s1", status=200))  # before the watch: not counted
    watches.append(watch := TableWatch(lb, "shop", limit=20, max_seconds=0))
    assert watch.answers() == {} and "none logged" in watch.answers_line.value
    lb.lines += [LOG.format(c=2, n=i, srv="s1", status=200) for i in range(1, 4)]
    lb.lines += [LOG.format(c=2, n=i, srv="<NOSRV>", status=429) for i in range(4, 6)] + ["not a log line"]
    watch.tick()
    assert watch.answers() == {200: 3, 429: 2}
    assert "answers in the last 10 s: 200 \u00d7 3, " in watch.answers_line.value and "429</b> \u00d7 2" in \
        watch.answers_line.value


def test_its_text_form(watches):
    watches.append(watch := TableWatch(Recorded(), "shop", limit=20, max_seconds=0))
    text = repr(watch).splitlines()
    assert text[0] == "table shop: rate = http_req_rate(10s), over 20 gets 429"
    assert text[1].split() == ["key", "rate", "status", "use", "gpc0", "conn_cur", "http_err_rate(10s)"]
    assert text[3].split()[:3] == ["127.0.0.2", "25", "429"] and text[4].split()[:3] == ["127.0.0.3", "3", "ok"]
    assert text[-1] == "answers in the last 10 s: none logged (the log needs 'option httplog')"


def test_its_classes_and_the_stop_button(watches):
    watches.append(watch := TableWatch(Recorded(), "shop", max_seconds=60, refresh=0.05))
    for widget, cls in [(watch.widget, "lab-tablewatch"), (watch.body, "lab-tablewatch-table"),
                        (watch.answers_line, "lab-tablewatch-answers"), (watch.clock, "lab-tablewatch-clock"),
                        (watch.stop_button, "lab-tablewatch-stop")]:
        assert cls in widget._dom_classes
    assert watch.running and "live" in watch.clock.value and watch in lifecycle.running("live")
    watch.stop_button.click()
    assert not watch.running and "stopped" in watch.clock.value and watch.stop_button.disabled
    assert watch not in lifecycle.running("live")


def test_running_its_cell_again_replaces_it(watches, monkeypatch, capsys):
    monkeypatch.setattr(lifecycle, "current_run", lambda: ("the-cell", "run-1"))
    watches.append(first := TableWatch(Recorded(), "shop", max_seconds=60, refresh=0.05))
    monkeypatch.setattr(lifecycle, "current_run", lambda: ("the-cell", "run-2"))
    watches.append(second := TableWatch(Recorded(), "shop", max_seconds=60, refresh=0.05))
    assert not first.running and second.running
    assert capsys.readouterr().out == "restarted the table watch: an earlier run of this cell had started it\n"


def test_it_stops_by_itself_headless(headless, watches):
    watches.append(watch := TableWatch(Recorded(), "shop", refresh=0.05))  # max_seconds 600, headless: 3 s
    assert watch.loop.max_seconds <= 3
    deadline = time.monotonic() + 10
    while watch.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not watch.running and watch.frames >= 2 and "stopped" in watch.clock.value


def test_headless_display_prints_the_table(headless, watches, capsys):
    watches.append(watch := TableWatch(Recorded(), "shop", limit=20, max_seconds=0))
    watch._ipython_display_()
    assert re.search(r"\n127\.0\.0\.2 +25 +429 ", capsys.readouterr().out)


def test_what_it_refuses(watches):
    with pytest.raises(UsageError, match="no stick table named 'shoop'"):
        TableWatch(Recorded(), "shoop")
    with pytest.raises(UsageError, match="stores no rate to hold against a limit"):
        TableWatch(Recorded("types"), "per_int", limit=5)
    with pytest.raises(UsageError, match=r"has no column 'http_req_rate\(1m\)'; its rates: http_req_rate\(10s\), "
                                         r"http_err_rate\(10s\)"):
        TableWatch(Recorded(), "shop", rate="http_req_rate(1m)")
    with pytest.raises(UsageError, match="limit is the highest rate let in"):
        TableWatch(Recorded(), "shop", limit="20")


def test_a_broken_read_is_said_and_the_last_rows_stay(watches):
    lb = Recorded()
    watches.append(watch := TableWatch(lb, "shop", limit=20, max_seconds=0))
    lb.command = lambda line: "" if line == "show table" else "No such table\n"  # a reload without the table
    watch.tick()
    assert "this balancer has no stick table" in watch.error and "no stick table" in watch.body.value
    assert len(watch.rows()) == 3


@pytest.fixture(scope="module")
def shop():
    """ratelimit.cfg on the engine, on a free port, its three servers one Flask server."""
    with ratelimit_engine() as lab:
        yield lab


def test_on_a_live_engine_the_rate_rises_and_the_row_turns_429(shop, watches):
    lb, url = shop
    lb.command("clear table shop")
    watches.append(watch := TableWatch(lb, "shop", limit=20, max_seconds=0))
    assert watch.rows() == []
    seen = []
    for _ in range(6):
        send(url, 4, source="127.0.0.4", progress=False)
        watch.tick()
        seen.append((watch.rows()[0]["rate"], watch.rows()[0]["status"]))
    assert seen == [(4, "ok"), (8, "ok"), (12, "ok"), (16, "ok"), (20, "ok"), (24, "429")]
    assert watch.answers() == {200: 20, 429: 4}
    assert 'data-key="127.0.0.4" data-status="429"' in watch.body.value
