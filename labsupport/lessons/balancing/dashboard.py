"""Lesson 03's live dashboard: requests per server (``requests_figure``) with weight sliders, an
algorithm picker and traffic controls, over a running Balancer or a real HAProxy.

ipywidgets wiring only: no computing, no printing. The refresh loop is bounded: it stops after
``max_seconds`` (a few seconds when headless, as in ``make test``) or on ``close()``. Widgets that
browser tests must find carry stable CSS classes (``lab-traffic-toggle``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import html
import threading
import time
from collections import deque

import ipywidgets as w

from ... import lifecycle
from ...course.balancerlike import BalancerLike
from ...course.cfgedit import edit_backend
from ...course.display.charts import figure_to_png
from ...course.display.live import LiveLoop, live_seconds
from ...course.snapshot import as_int, server_rows
from ...course.traffic.generator import TrafficGenerator
from ...engine.config import ALGORITHMS
from ...errors import NotRunningError, UsageError
from .plots import ServerBar, dashboard_model, requests_figure

# the dashboard's choices: every algorithm but uri (its traffic asks for one path, which uri sends to one server)
CHOICES = tuple(a for a in ALGORITHMS if a != "uri")


def _url_of(target: BalancerLike) -> str:
    if target.urls:
        return target.urls[0]
    raise UsageError("cannot tell where this balancer listens: pass url='http://127.0.0.1:PORT/'")


def _config_text(target: BalancerLike) -> str:
    """The config text the target runs (the engine's Config, or real haproxy's file)."""
    if not target.text:
        raise UsageError("this balancer has no configuration text to edit")
    return target.text


class Dashboard:
    """Requests per server, live, with the controls that change them: weights, algorithm, traffic.

        dash = Dashboard(lb)          # lb: a running Balancer (or HAProxy: same interface)
        dash                          # shows it; dash.close() stops its loops

    The chart is ``plots.requests_figure`` of ``target.snapshot()`` (total, and the last
    ``window`` seconds), redrawn by a bounded LiveLoop ``refresh`` s after the previous frame, and only
    when what it shows changed. Drawing takes 0.1-0.3 s, so a live chart reaches one to three frames a
    second (measured: 2.7-3.7/s on an idle 2-core machine, 1.0-1.9/s in Chromium on a loaded one); the
    status line shows the rate reached.
    Each weight slider calls ``target.set_weight``; the algorithm picker reloads
    the running config with its ``balance`` line (and the sliders' weights) edited, so the port
    stays open. The traffic button drives a TrafficGenerator at the rate slider's value.
    """

    def __init__(self, target: BalancerLike, url: str | None = None, *, backend: str | None = None, refresh: float = 0.15,
                 window: float = 3.0, rate: int = 20, max_weight: int = 10, max_seconds: float = 600):
        lifecycle.rerun_replaces()  # this cell ran before: what it started then stops (one line says so)
        for old in lifecycle.running("live"):  # re-running the cell: the old one stops sending and drawing
            if isinstance(old, Dashboard) and old.target is target:
                old.close()
        self.target, self.url, self.window = target, url or _url_of(target), window
        self.max_seconds = max_seconds
        snap = target.snapshot()
        rows = server_rows(snap, backend)
        if not rows:
            raise UsageError(f"no servers to show{f' in backend {backend!r}' if backend else ''}: "
                             "this configuration has no backend with servers")
        self.backend = backend or str(rows[0]["pxname"])
        rows = server_rows(snap, self.backend)
        # Totals count from the dashboard's start, across reloads (which restart the counters).
        self._raw = {(str(r["pxname"]), str(r["svname"])): as_int(r.get("lbtot")) for r in rows}
        self._counted = dict.fromkeys(self._raw, 0)
        self.generator: TrafficGenerator | None = None
        self.frames = 0
        self._frame_times: deque[float] = deque(maxlen=40)
        self._history: deque[tuple[float, dict]] = deque(maxlen=200)  # for targets without a request log
        self._last_bars = None
        self._local = threading.local()  # marks changes made by the loop itself (not by the student)
        self._refreshing = threading.Lock()
        self._traffic = threading.Lock()  # the traffic button and the loop's check of the generator
        self._generation = 0  # bumped around every action: a snapshot taken meanwhile may be stale

        self.chart = w.Image(format="png", layout=w.Layout(width="660px"))
        algo = self._algorithm_of(snap) or "roundrobin"
        self.algorithm = w.Dropdown(options=CHOICES if algo in CHOICES else CHOICES + (algo,),
                                    value=algo, description="balance", layout=w.Layout(width="16em"))
        if not target.reloads_config:  # real haproxy changes its algorithm only by a restart
            self.algorithm.disabled = True
            self.algorithm.tooltip = "real HAProxy changes 'balance' only when restarted with an edited file"
        self.sliders: dict[str, w.IntSlider] = {}
        for r in rows:
            name, weight = str(r["svname"]), as_int(r.get("weight"))
            s = w.IntSlider(value=weight, min=0, max=max(max_weight, weight), description=name,
                            continuous_update=False, layout=w.Layout(width="20em"))
            s.add_class("lab-weight")
            s.add_class(f"lab-weight-{name}")
            s.observe(lambda ch, name=name: self._on_weight(name, ch), names="value")
            self.sliders[name] = s
        self.toggle = w.ToggleButton(description="start traffic", icon="play", layout=w.Layout(width="10em"))
        self.rate = w.IntSlider(value=rate, min=1, max=200, description="requests/s", continuous_update=True)
        self.summary = w.HTML()  # the chart's numbers as text: readers (and browser tests) need no PNG
        self.message = w.HTML()
        self.status = w.HTML()
        self.algorithm.observe(self._on_algorithm, names="value")
        self.toggle.observe(self._on_toggle, names="value")
        self.rate.observe(self._on_rate, names="value")
        weights = w.VBox([w.HTML("<b>weights</b> (0 = no traffic)")] + list(self.sliders.values()))
        self.widget = w.VBox([w.HBox([self.algorithm, self.toggle, self.rate]),
                              w.HBox([self.chart, weights]), self.summary, self.message, self.status])
        for widget, cls in [(self.widget, "lab-dashboard"), (self.chart, "lab-chart"),
                            (self.algorithm, "lab-algorithm"), (self.toggle, "lab-traffic-toggle"),
                            (self.rate, "lab-rate"), (self.summary, "lab-dashboard-summary"),
                            (self.message, "lab-dashboard-message"),
                            (self.status, "lab-dashboard-status")]:
            widget.add_class(cls)
        self.refresh()
        self.loop = LiveLoop(self.refresh, refresh, max_seconds)
        lifecycle.register("live", self, self.close, label="the dashboard")

    # ----- what the chart shows (no display needed)
    def _algorithm_of(self, snap) -> str | None:
        for r in snap.get("backends", ()):
            if r.get("pxname") == getattr(self, "backend", r.get("pxname")) and r.get("algo"):
                return str(r["algo"])
        return None

    def model(self, snapshot=None) -> list[ServerBar]:
        """One ServerBar per server: state, weight, requests since the dashboard started, and those of
        the last ``window`` s."""
        snap = self.target.snapshot() if snapshot is None else snapshot
        if "requests" in snap:  # the engine logs each request: count the window exactly
            bars = dashboard_model(snap, backend=self.backend, window=self.window)
        else:
            now = snap.get("time", time.time())  # real haproxy: compare with a snapshot `window` s old
            self._history.append((now, snap))
            old = next((s for t, s in self._history if t >= now - self.window), snap)
            bars = dashboard_model(snap, old, backend=self.backend)
        return [self._since_start(b) for b in bars]

    def _since_start(self, bar: ServerBar) -> ServerBar:
        key = (bar.backend, bar.server)
        last = self._raw.get(key, 0)
        self._counted[key] = self._counted.get(key, 0) + (bar.total - last if bar.total >= last else bar.total)
        self._raw[key] = bar.total
        return dataclasses.replace(bar, total=self._counted[key])

    def figure(self, bars: list[ServerBar]):
        fig = requests_figure(bars, title=f"Requests per server since this dashboard started ({self.algorithm.value})")
        if len(fig.axes) > 1:
            fig.axes[1].set_title(f"last {self.window:g} s", fontsize=9)
        return fig

    def summary_html(self, bars: list[ServerBar]) -> str:
        """One line under the chart: each server's requests in the last ``window`` s (class ``lab-last-NAME``)."""
        cells = " &middot; ".join(
            f'{html.escape(b.server)} <span class="lab-last lab-last-{html.escape(b.server)}">{b.recent}</span>'
            for b in bars)
        return f'<span style="color:#666">last {self.window:g} s: {cells}</span>'

    # ----- the loop
    def refresh(self) -> None:
        """Take a snapshot; redraw the chart if what it shows changed; follow outside changes."""
        with self._refreshing:  # the loop and a control's callback may both redraw: one at a time
            self._refresh()

    def _refresh(self) -> None:
        generation = self._generation
        snap = self.target.snapshot()
        bars = self.model(snap)
        algo = self._algorithm_of(snap)
        key = (tuple(bars), algo)
        if key != self._last_bars:
            self.chart.value = figure_to_png(self.figure(bars))
            self.summary.value = self.summary_html(bars)
            self._last_bars = key
            self.frames += 1
            self._frame_times.append(time.monotonic())
        if generation == self._generation:  # follow weights/algorithm changed from code (not a stale view)
            with self._by_loop():
                for b in bars:
                    s = self.sliders.get(b.server)
                    if s is not None and s.value != b.weight:
                        s.max = max(s.max, b.weight)
                        s.value = b.weight
                if algo and algo in self.algorithm.options and self.algorithm.value != algo:
                    self.algorithm.value = algo
        gen = self.generator
        if self._traffic.acquire(blocking=False):  # not while the button is starting or stopping it
            try:
                if self.toggle.value and gen is not None and not gen.running:  # it ran its course
                    with self._by_loop():
                        self.toggle.value = False
                    self._show_toggle()
            finally:
                self._traffic.release()
        self._show_status(gen)

    def _show_status(self, gen) -> None:
        traffic = (f"traffic {gen.rate:g}/s, {gen.sent} sent" if gen is not None and gen.running
                   else "no traffic yet: press &#9654; start traffic")
        if getattr(self, "loop", None) is None or self.loop.running:
            self.status.value = (f'<span style="color:#666">live &middot; {self.fps:.1f} frames/s &middot; '
                                 f'{traffic} &middot; {html.escape(self.url)}</span>')
        elif getattr(self, "_closed", False):  # a still picture: say why, and how to bring it back to life
            self.status.value = ('<span style="color:#b35c00"><b>paused</b>: stopped by a clean-up (stop_all() or '
                                 'close()). To use it, run the cells from the top down to this one, then press '
                                 '&#9654; start traffic.</span>')
        else:
            self.status.value = ('<span style="color:#b35c00"><b>paused</b> after its time ran out: run this cell '
                                 'again (Shift+Enter) to bring it back, then press &#9654; start traffic.</span>')

    @property
    def fps(self) -> float:
        """Frames drawn per second over the last few seconds (0 when nothing changed)."""
        times = [t for t in self._frame_times if t >= time.monotonic() - 3.0]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0

    # ----- controls
    @contextlib.contextmanager
    def _by_loop(self):
        """Widget changes made inside are the dashboard following the engine, not the student acting."""
        self._local.loop = True
        try:
            yield
        finally:
            self._local.loop = False

    def _from_loop(self) -> bool:
        return getattr(self._local, "loop", False)

    def _act(self, action, *args) -> bool:
        try:
            action(*args)
        except Exception as e:  # shown above the status line: a slider has nowhere else to report
            self.message.value = f'<span style="color:#d64541">{type(e).__name__}: {html.escape(str(e))}</span>'
            return False
        self.message.value = ""
        return True

    def _on_weight(self, name: str, change) -> None:
        if self._from_loop():
            return
        self._generation += 1
        self._act(self.target.set_weight, f"{self.backend}/{name}", change["new"])
        self._generation += 1
        self.refresh()  # if the engine refused (static-rr...), this puts the slider back

    def _on_algorithm(self, change) -> None:
        if not self._from_loop():
            self._apply_algorithm(change["new"])

    def _apply_algorithm(self, name: str) -> None:
        self._generation += 1
        weights = {n: s.value for n, s in self.sliders.items()}
        self._act(lambda: self.target.reload(
            edit_backend(_config_text(self.target), backend=self.backend, balance=name, weights=weights)))
        self._generation += 1
        self.refresh()

    def _on_toggle(self, change) -> None:
        if self._from_loop():
            return
        with self._traffic:
            if change["new"]:
                if not self._act(self._start_generator):  # the message says why; the button goes back
                    with self._by_loop():
                        self.toggle.value = False
            elif self.generator is not None:
                self.generator.stop()
            self._show_toggle()

    def _open(self) -> None:
        if getattr(self, "_closed", False):  # closed: traffic now would run with no chart to show it
            raise NotRunningError("this dashboard is closed (close() or stop_all()): run the cell that makes it again")

    def _start_generator(self) -> None:
        self._open()
        if self.generator is not None:
            self.generator.stop()
        self.generator = TrafficGenerator(self.url, rate=self.rate.value, duration=live_seconds(self.max_seconds),
                                          timeout=2.0).start()

    def _show_toggle(self) -> None:
        on = self.toggle.value
        self.toggle.description, self.toggle.icon = ("stop traffic", "stop") if on else ("start traffic", "play")
        self.toggle.button_style = "warning" if on else ""

    def _on_rate(self, change) -> None:
        if self.generator is not None:
            self.generator.rate = change["new"]

    # ----- the same actions from code (what the widgets do)
    def set_weight(self, server: str, weight: int) -> None:
        """Move ``server``'s slider (which calls ``target.set_weight``)."""
        s = self.sliders[server]
        s.max = max(s.max, weight)
        s.value = weight

    def set_algorithm(self, name: str) -> None:
        """Pick ``name`` in the algorithm list (reloads the config, even if it is already the one shown)."""
        if self.algorithm.value == name:
            self._apply_algorithm(name)
        else:
            self.algorithm.value = name

    def start_traffic(self, rate: int | None = None) -> "Dashboard":
        self._open()
        if rate is not None:
            self.rate.value = rate
        self.toggle.value = True
        return self

    def close(self) -> None:
        """Stop the live loop and the traffic."""
        lifecycle.unregister(self)
        self._closed = True
        self.loop.stop()
        if self.generator is not None:
            self.generator.stop()
        with self._by_loop():
            self.toggle.value = False
        self._show_toggle()
        self._show_status(None)

    def __repr__(self) -> str:
        bars = self._last_bars[0] if self._last_bars else ()
        servers = ", ".join(f"{b.server} w{b.weight} {b.total} req" for b in bars)
        return f"<Dashboard {self.backend} {self.algorithm.value}: {servers}>"

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
