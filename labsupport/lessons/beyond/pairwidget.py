"""The balancer pair, live: both balancers, who holds the virtual address, the client's requests as they go,
and a button that makes the active balancer fail.

    panel = PairWidget(pair, lab["client"])      # starts a steady stream of requests to the virtual address
    panel                                        # shows it; print(panel) is the same as text
    panel.stop_active()                          # what the button does (how="balancer" by default)
    panel.restore()

Every ``refresh`` seconds a bounded loop (course/display/live.py; a moment when headless) reads the pair's
state (which host carries the address, which processes run) and the probe's results, and redraws. The
requests are a ``Probe`` from the client host, ``rate`` a second, bounded in count and time like the loop.
The buttons act in a thread of their own, so the panel keeps drawing while keepalived moves the address.

Compute, then draw: ``rows()`` and ``strip()`` are plain values; ``_html()`` draws them. Stable CSS classes
for browser tests (tests/browser/selectors.py): ``lab-pair`` (the panel), one ``lab-pair-balancer`` row per
balancer (``data-host``, ``data-holder`` yes/no, ``data-balancer`` up/down, ``data-keepalived`` up/down),
``lab-pair-holder`` (the line naming the holder, ``data-holder``), ``lab-pair-timeline`` with one
``lab-pair-shot`` per recent request (``data-ok`` yes/no), ``lab-pair-stop`` and ``lab-pair-restore``
(the buttons), ``lab-pair-action`` (what the last button did) and ``lab-pair-clock``.
"""
from __future__ import annotations

import html
import threading
import time

import ipywidgets as w

from ... import lifecycle
from ...course import environment
from ...course.display.charts import FAILURE_COLOR, PALETTE
from ...course.display.live import LiveLoop, LivePanel, live_seconds
from ...course.display.table import Table
from ...errors import LabError, UsageError
from .pair import HOWS, BalancerPair
from .probe import Probe

OK_COLOR = "#2e9d43"
STRIP = 120  # requests shown in the timeline (the last ones)


class PairWidget(LivePanel):
    """``pair``'s two balancers and the requests ``client_host`` sends to its address, redrawn every ``refresh`` s."""

    def __init__(self, pair: BalancerPair, client_host, rate: float = 20.0, refresh: float = 0.5,
                 max_seconds: float = 300, how: str = "balancer") -> None:
        if not isinstance(pair, BalancerPair):
            raise UsageError(f"pair: a BalancerPair, not {type(pair).__name__}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 1 <= rate <= 100:
            raise UsageError(f"rate={rate!r}: requests per second, 1 to 100")
        if isinstance(refresh, bool) or not isinstance(refresh, (int, float)) or refresh <= 0:
            raise UsageError(f"refresh is a number of seconds above 0, such as 0.5, not {refresh!r}")
        if how not in HOWS:
            raise UsageError(f"how={how!r}: one of {', '.join(HOWS)}")
        lifecycle.rerun_replaces()  # this cell ran before: its earlier panel (and its probe) stop
        self.pair, self.client, self.how = pair, client_host, how
        seconds = live_seconds(max_seconds)
        self.probe = Probe(client_host, f"http://{pair.vip}/", count=max(1, min(20_000, int(rate * seconds))),
                           interval=1 / rate, timeout=0.5, max_seconds=seconds + 5)
        self.state: dict[str, dict] = {}
        self.action = "no balancer stopped yet"
        self.error = ""
        self.frames = 0
        self._busy = threading.Lock()
        self.body = w.HTML()
        self.holder_line = w.HTML()
        self.timeline = w.HTML()
        self.action_line = w.HTML()
        self.clock = w.HTML()
        self.stop_button = w.Button(description="stop the active balancer", icon="power-off",
                                    layout=w.Layout(width="16em"))
        self.restore_button = w.Button(description="restore", icon="undo", layout=w.Layout(width="8em"))
        self.stop_button.on_click(lambda _: self._in_thread(self.stop_active))
        self.restore_button.on_click(lambda _: self._in_thread(self.restore))
        self.widget = w.VBox([self.holder_line, self.body, self.timeline,
                              w.HBox([self.stop_button, self.restore_button, self.clock]), self.action_line])
        for widget, cls in [(self.widget, "lab-pair"), (self.holder_line, "lab-pair-holder"),
                            (self.timeline, "lab-pair-timeline"), (self.action_line, "lab-pair-action"),
                            (self.clock, "lab-pair-clock"), (self.stop_button, "lab-pair-stop"),
                            (self.restore_button, "lab-pair-restore")]:
            widget.add_class(cls)
        self.tick()
        self.loop = LiveLoop(self.tick, refresh, max_seconds, on_end=self._ended)
        lifecycle.register("live", self, self.close, label="the balancer pair panel")

    # ------------------------------------------------------------------ compute
    def tick(self) -> None:
        """Read the pair's state, then redraw (the loop calls it; the buttons after acting; tests may too)."""
        try:
            state, error = self.pair.state(), ""
        except (LabError, OSError) as e:  # the lab was stopped: say so, keep the last state
            state, error = self.state, str(e)
        self.state, self.error = state, error
        self._draw()

    def holder(self) -> str | None:
        reachable = [n for n, s in self.state.items() if s["holds_vip"] and s["plugged"]]
        return (reachable or [None])[0]

    def rows(self) -> list[dict]:
        """One row per balancer: address, priority, balancer and keepalived running, cable, holds the address."""
        return [{"balancer": name, "address": s["address"], "priority": s["priority"],
                 self.pair.kind: "up" if s["balancer"] else "down", "keepalived": "up" if s["keepalived"] else "down",
                 "cable": "in" if s["plugged"] else "out", "holds VIP": "yes" if s["holds_vip"] else "",
                 "stopped": s["stopped"]} for name, s in self.state.items()]

    def strip(self) -> list[bool]:
        """The last STRIP requests: answered (True) or failed (False), oldest first."""
        return [s.ok for s in self.probe.results[-STRIP:]]

    # ------------------------------------------------------------------ actions
    def _in_thread(self, action) -> None:
        threading.Thread(target=action, daemon=True, name="lab-pair-button").start()

    def stop_active(self, how: str | None = None) -> str:
        """Make the balancer that holds the address fail (``how``: the panel's, 'balancer' by default)."""
        with self._busy:
            try:
                self.action = self.pair.stop_active(how or self.how)
            except LabError as e:
                self.action = str(e)
        self.tick()
        return self.action

    def restore(self) -> str:
        """Undo every stop (``BalancerPair.restore``)."""
        with self._busy:
            self.action = "restoring: starting what was stopped, then waiting for the address to settle ..."
            self.tick()
            try:
                self.action = "; ".join(self.pair.restore()) or "nothing to restore"
            except LabError as e:
                self.action = str(e)
        self.tick()
        return self.action

    # ------------------------------------------------------------------ draw
    def _html(self) -> str:
        td = 'style="text-align:left;padding:1px 8px"'
        columns = ["balancer", "address", "priority", self.pair.kind, "keepalived", "cable", "holds VIP"]
        head = "".join(f"<th {td}>{c}</th>" for c in columns)
        body = []
        for r in self.rows():
            colour = PALETTE[0] if r["balancer"] == "lb1" else PALETTE[1]
            cells = [f'<td {td}><b style="color:{colour}">{r["balancer"]}</b></td>']
            cells += [f"<td {td}>{html.escape(str(r[c]))}</td>" for c in columns[1:]]
            body.append(
                f'<tr class="lab-pair-balancer" data-host="{r["balancer"]}" data-holder="{r["holds VIP"] or "no"}" '
                f'data-balancer="{r[self.pair.kind]}" data-keepalived="{r["keepalived"]}">'
                + "".join(cells)
                + "</tr>")
        error = f'<div style="color:{FAILURE_COLOR}">{html.escape(self.error)}</div>' if self.error else ""
        return f'{error}<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'

    def _strip_html(self) -> str:
        cells = "".join(f'<span class="lab-pair-shot" data-ok="{"yes" if ok else "no"}" style="display:inline-block;'
                        f'width:4px;height:14px;margin-right:1px;background:{OK_COLOR if ok else FAILURE_COLOR}"></span>'
                        for ok in self.strip())
        return (f'<div style="font-size:90%">the client\'s requests to {self.pair.vip} since the panel started: '
                f'{self.probe.ok} answered, {self.probe.failed} failed, longest gap {self.probe.gap():.2f} s '
                f'(the marks: the last {len(self.strip())})</div>'
                f"<div>{cells}</div>")

    def _draw(self) -> None:
        holder = self.holder()
        self.holder_line.value = (f'<div data-holder="{holder or "none"}"><b>{self.pair.vip}</b> is on '
                                  f"<b>{holder or 'nobody'}</b> ({self.pair.why})</div>")
        self.body.value = self._html()
        self.timeline.value = self._strip_html()
        self.action_line.value = html.escape(self.action)
        self.clock.value = f'<span style="color:#666">live, {time.strftime("%H:%M:%S")}</span>'
        self.frames += 1

    def _ended(self) -> None:
        self.clock.value = '<span style="color:#666">stopped: run the cell again to watch again</span>'
        self.stop_button.disabled = self.restore_button.disabled = True
        self.probe.stop()

    def close(self) -> None:
        """Stop redrawing and stop the requests (the pair goes on)."""
        super().close()
        self.probe.stop()

    # ------------------------------------------------------------------ text
    def text(self) -> Table:
        """What the panel shows now, as a Table."""
        columns = ["balancer", "address", "priority", self.pair.kind, "keepalived", "cable", "holds VIP"]
        return Table(self.rows(), columns, title=f"{self.pair.vip} is on {self.holder() or 'nobody'}")

    def __repr__(self) -> str:
        return (repr(self.text()) + f"\nrequests: {self.probe.ok} answered, {self.probe.failed} failed, "
                f"longest gap {self.probe.gap():.2f} s\nlast action: {self.action}")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
        if environment.HEADLESS:  # nbval, CI: the text says what the picture shows
            print(repr(self))


__all__ = ["PairWidget"]
