"""A stick table, live: one row per key with its request rate, a bar against the limit, and what it gets.

    watch = TableWatch(lb, "shop", limit=20)     # lb: the engine's Balancer or real HAProxy
    watch                                        # shows it; print(watch) is the table as text

Every ``refresh`` seconds a bounded loop (course/display/live.py; a moment when headless) asks
``show table NAME`` (tables.show_table) and redraws. Each key's row shows its rate (by default the first
``http_req_rate(...)`` column) as a number and a bar; with ``limit`` the bar has a line at the limit and
a key whose rate is over it (``sc_http_req_rate(0) gt 20`` in the configuration: more than 20) turns red
with the status its next request gets, 429. With the balancer's log (``option httplog``, ``log stdout``),
a line counts the answers per status of the last ``window`` seconds.

Compute, then draw: ``rows()`` and ``answers()`` are plain values; ``_html()`` draws them. Stable CSS
classes for browser tests: ``lab-tablewatch`` (the panel), ``lab-tablewatch-table``, one
``lab-tablewatch-row`` per key (``data-key``, ``data-status`` "429" or "ok", and ``lab-tablewatch-over``
when over), its cells ``lab-tablewatch-rate`` and ``lab-tablewatch-status``, ``lab-tablewatch-answers``,
``lab-tablewatch-clock`` and the ``lab-tablewatch-stop`` button.
"""
from __future__ import annotations

import html
import threading
import time
from collections import deque
from typing import Any

import ipywidgets as w

from ... import lifecycle
from ...course import environment
from ...course.display.charts import FAILURE_COLOR
from ...course.display.live import LiveLoop, LivePanel
from ...course.display.table import Table
from ...course.logtable import parse_httplog
from ...errors import LabError, UsageError
from .tables import TableDump, show_table

OVER_BACKGROUND = "#f8d7da"
BAR_COLOR = "#1f77b4"
BAR_WIDTH = 160  # px
MAX_ROWS = 40  # a table of thousands of keys shows its first 40 (and says how many more)


def over(rate: Any, limit: float | None) -> bool:
    """Is a key over the limit? HAProxy's ``gt``: a rate of 21 is over a limit of 20, 20 is not."""
    return limit is not None and isinstance(rate, (int, float)) and rate > limit


class TableWatch(LivePanel):
    """``show table`` of ``table`` on ``balancer``, redrawn every ``refresh`` s for at most ``max_seconds``."""

    def __init__(self, balancer, table: str | None = None, refresh: float = 0.5, max_seconds: float = 600, *,
                 limit: float | None = None, rate: str | None = None, window: float = 10.0) -> None:
        if limit is not None and (not isinstance(limit, (int, float)) or limit < 0):
            raise UsageError(f"limit is the highest rate let in, a number such as 20, not {limit!r}")
        if refresh <= 0:
            raise UsageError(f"refresh is a number of seconds above 0, such as 0.5, not {refresh!r}")
        self.last: TableDump = show_table(balancer, table)  # a wrong name fails here, in the cell, with the names
        lifecycle.rerun_replaces()  # this cell ran before: what it started then stops (one line says so)
        self.balancer, self.table, self.limit, self.window = balancer, self.last.name, limit, window
        self.rate = rate
        self._pick_rate(self.last)  # a wrong rate fails here; on an empty table, with its first key
        self.frames = 0
        self.error = ""
        self._lock = threading.Lock()
        self._answers: deque[tuple[float, int]] = deque()  # (monotonic time seen, status)
        self._logged = hasattr(balancer, "logs")
        self._seen = balancer.logs()[1] if self._logged else 0  # answers from now on, not the whole history
        self.body = w.HTML()
        self.answers_line = w.HTML()
        self.clock = w.HTML()
        self.stop_button = w.Button(description="stop", icon="stop", layout=w.Layout(width="8em"))
        self.stop_button.on_click(lambda _: self.close())
        self.widget = w.VBox([self.body, self.answers_line, w.HBox([self.stop_button, self.clock])])
        for widget, cls in [(self.widget, "lab-tablewatch"), (self.body, "lab-tablewatch-table"),
                            (self.answers_line, "lab-tablewatch-answers"), (self.clock, "lab-tablewatch-clock"),
                            (self.stop_button, "lab-tablewatch-stop")]:
            widget.add_class(cls)
        self._draw()
        self.loop = LiveLoop(self.tick, refresh, max_seconds, on_end=self._ended)
        lifecycle.register("live", self, self.close, label="the table watch")

    def _pick_rate(self, dump: TableDump) -> None:
        """The rate column to watch, once the table has a row to show its columns (an empty table does not)."""
        if not dump.rows or (self.rate is not None and self.rate in dump.columns):
            return
        rates = dump.rates()
        if self.rate is not None:
            raise UsageError(f"table {self.table} has no column {self.rate!r}; its rates: "
                             f"{', '.join(rates) or 'none'}")
        if not rates and self.limit is not None:
            raise UsageError(f"table {self.table} stores no rate to hold against a limit: add one to its 'store', "
                             "e.g. 'store http_req_rate(10s)'")
        self.rate = next((c for c in rates if c.startswith("http_req_rate(")), rates[0] if rates else None)

    # ------------------------------------------------------------------ compute
    def tick(self) -> None:
        """Read the table and the new log lines, then redraw (the loop calls it; tests may too)."""
        try:
            dump = show_table(self.balancer, self.table)
            self._pick_rate(dump)
            error = ""
        except LabError as e:  # a stopped balancer, a reload that removed the table: say so, keep the last rows
            dump, error = self.last, str(e)
        self._read_logs()
        with self._lock:
            self.last, self.error = dump, error
        self._draw()

    def _read_logs(self) -> None:
        if not self._logged:
            return
        try:
            lines, self._seen = self.balancer.logs(self._seen)
        except LabError:
            return
        now = time.monotonic()
        with self._lock:
            for line in lines:
                parsed = parse_httplog(line)
                if parsed is not None:
                    self._answers.append((now, parsed["status"]))
            while self._answers and self._answers[0][0] < now - self.window:
                self._answers.popleft()

    def rows(self) -> list[dict[str, Any]]:
        """One row per key: key, its rate, the status its next request gets, then the table's other columns."""
        with self._lock:
            dump = self.last
        out = []
        for r in dump.rows:
            value = r.get(self.rate) if self.rate else None
            status = "429" if over(value, self.limit) else "ok"
            row = {"key": r["key"], "rate": value, "status": status}
            row.update((c, r[c]) for c in dump.columns if c not in ("key", self.rate) and c in r)
            out.append(row)
        return out

    def answers(self) -> dict[int, int]:
        """Answers per status in the last ``window`` seconds, from the balancer's log."""
        with self._lock:
            counts: dict[int, int] = {}
            for _, status in self._answers:
                counts[status] = counts.get(status, 0) + 1
        return dict(sorted(counts.items()))

    # ------------------------------------------------------------------ draw
    def _bar(self, value: Any, scale: float) -> str:
        width = 0 if not isinstance(value, (int, float)) else min(value / scale, 1.0) * BAR_WIDTH
        color = FAILURE_COLOR if over(value, self.limit) else BAR_COLOR
        line = ""
        if self.limit is not None:
            x = min(self.limit / scale, 1.0) * BAR_WIDTH
            line = (f'<div title="limit {self.limit:g}" style="position:absolute;left:{x:.0f}px;top:-2px;'
                    f'width:2px;height:18px;background:#333"></div>')
        return (f'<div style="position:relative;width:{BAR_WIDTH}px;height:14px;background:#eee">'
                f'<div style="width:{width:.0f}px;height:14px;background:{color}"></div>{line}</div>')

    def _html(self) -> str:
        rows = self.rows()
        rates = [r["rate"] for r in rows if isinstance(r["rate"], (int, float))]
        scale = max([self.limit * 1.5 if self.limit else 1.0] + rates)
        others = [c for c in (rows[0] if rows else {}) if c not in ("key", "rate", "status")]
        th = 'style="text-align:{};padding:0 8px"'
        head = (f"<th {th.format('left')}>key</th><th {th.format('right')}>{html.escape(self.rate or '')}</th>"
                f"<th {th.format('left')}>{'limit ' + format(self.limit, 'g') if self.limit is not None else ''}</th>"
                f"<th {th.format('left')}>status</th>"
                + "".join(f"<th {th.format('right')}>{html.escape(c)}</th>" for c in others))
        body = []
        for r in rows[:MAX_ROWS]:
            hot = r["status"] == "429"
            style = f' style="background:{OVER_BACKGROUND}"' if hot else ""
            status = (f'<b style="color:{FAILURE_COLOR}">429</b>' if hot else '<span style="color:#666">let in</span>')
            body.append(
                f'<tr class="lab-tablewatch-row{" lab-tablewatch-over" if hot else ""}" '
                f'data-key="{html.escape(str(r["key"]))}" data-status="{r["status"]}"{style}>'
                f"<td {th.format('left')}><code>{html.escape(str(r['key']))}</code></td>"
                f"<td class=\"lab-tablewatch-rate\" {th.format('right')}>{'' if r['rate'] is None else r['rate']}</td>"
                f"<td {th.format('left')}>{self._bar(r['rate'], scale)}</td>"
                f"<td class=\"lab-tablewatch-status\" {th.format('left')}>{status}</td>"
                + "".join(f"<td {th.format('right')}>{html.escape(str(r.get(c, '')))}</td>" for c in others)
                + "</tr>")
        more = len(rows) - MAX_ROWS
        d = self.last
        caption = (f"table <b>{html.escape(d.name)}</b>: {d.used} of {d.size} entries used"
                   + (f", the first {MAX_ROWS} shown ({more} more)" if more > 0 else "")
                   + ("" if rows else " &mdash; no key yet: send some requests"))
        error = f'<div style="color:{FAILURE_COLOR}">{html.escape(self.error)}</div>' if self.error else ""
        return (f'<div style="margin-bottom:4px">{caption}</div>{error}'
                f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(body)}</tbody></table>')

    def _answers_text(self) -> str:
        if not self._logged:
            return ""
        counts = self.answers()
        if not counts:
            return f"answers in the last {self.window:g} s: none logged (the log needs 'option httplog')"
        return f"answers in the last {self.window:g} s: " + ", ".join(f"{s} \u00d7 {n}" for s, n in counts.items())

    def _draw(self) -> None:
        self.body.value = self._html()
        text = self._answers_text()
        red = f'<b style="color:{FAILURE_COLOR}">429</b> \u00d7'
        self.answers_line.value = html.escape(text).replace("429 \u00d7", red)
        self.clock.value = f'<span style="color:#666">live, {time.strftime("%H:%M:%S")}</span>'
        self.frames += 1

    def _ended(self) -> None:
        self.clock.value = '<span style="color:#666">stopped: run the cell again to watch again</span>'
        self.stop_button.disabled = True

    # ------------------------------------------------------------------ control and display
    def text(self) -> Table:
        """What the panel shows now, as a Table (its text form; without ``exp``, which differs from run to run,
        so that a notebook's reference output stays the same)."""
        limit = f", over {self.limit:g} gets 429" if self.limit is not None else ""
        others = [c for c in self.last.columns if c not in ("key", "exp", self.rate)]
        return Table(self.rows(), ["key", "rate", "status"] + others,
                     title=f"table {self.table}: rate = {self.rate}{limit}")

    def __repr__(self) -> str:
        out = repr(self.text())
        answers = self._answers_text()
        return out + (f"\n{answers}" if answers else "")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
        if environment.HEADLESS:  # nbval, CI: the reference output is the table as text
            print(repr(self))
