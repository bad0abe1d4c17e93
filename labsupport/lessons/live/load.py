"""A steady stream of requests while something changes, and what it saw: sent, failed, slowest, versions.

    load = SteadyLoad(lb.url, rate=100, duration=30).start()
    load.mark("reload")                 # a moment to see on the timeline (a deploy marks its own steps)
    ...
    load.stop()
    load                                 -> 3000 sent, 0 failed, slowest 41 ms; answered by version: 1: 1800, 2: 1200
    load.figure()                        -> requests per 100 ms, failures in red, the marks as labelled lines
    compare_runs({"kill and restart": naive, "drain first": rolling})   -> one row per run

The requests are the course's ``TrafficGenerator`` (course/traffic: open loop, a background thread, every
request on a new connection); each record carries the ``X-Version`` header of its answer, so the summary
counts answers per version. Marks are kept on the generator's clock (seconds since it started).
"""
from __future__ import annotations

import textwrap
import time
from collections import Counter
from typing import Iterable, Mapping

from matplotlib.colors import is_color_like
from matplotlib.figure import Figure

from ...course.display.charts import FAILURE_COLOR, PALETTE
from ...course.display.table import Table
from ...course.traffic.generator import TrafficGenerator
from ...course.traffic.results import Result
from ...errors import UsageError

BUCKET = 0.1  # seconds per bar of the timeline
MAX_RECORDS = 200_000


class SteadyLoad:
    """``rate`` requests per second to ``url`` for at most ``duration`` seconds, with marks on its timeline."""

    def __init__(self, url: str, rate: float = 100, duration: float = 60, *, timeout: float = 2.0,
                 workers: int = 16, keep_alive: bool = False, name: str = ""):
        maxlen = min(MAX_RECORDS, int(rate * duration * 1.2) + 1000)
        self.gen = TrafficGenerator(url, rate, duration, timeout=timeout, workers=workers, keep_alive=keep_alive,
                                    maxlen=maxlen)
        self.name = name
        self.marks: list[tuple[float, str]] = []  # (seconds since the start, label)

    # ------------------------------------------------------------------ running
    def start(self) -> "SteadyLoad":
        self.gen.start()
        return self

    def stop(self, timeout: float = 5.0) -> "SteadyLoad":
        """Stop sending; wait (bounded) for the requests in flight."""
        self.gen.stop(timeout)
        return self

    def wait(self, timeout: float | None = None) -> "SteadyLoad":
        """Block until its ``duration`` is over (or it was stopped)."""
        self.gen.wait(timeout)
        return self

    @property
    def running(self) -> bool:
        return self.gen.running

    @property
    def elapsed(self) -> float:
        return self.gen.elapsed

    def __enter__(self) -> "SteadyLoad":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def mark(self, label: str, at: float | None = None) -> float:
        """Note an event on the timeline, now or at ``at`` (a ``time.monotonic()`` reading); its time in
        seconds since the load started."""
        t = self.gen.elapsed - (0.0 if at is None else time.monotonic() - at)
        self.marks.append((round(t, 3), str(label)))
        return t

    # ------------------------------------------------------------------ what it saw
    @property
    def results(self) -> list[Result]:
        return sorted(self.gen.records, key=lambda r: r.n)

    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    def versions(self) -> dict[str, int]:
        """Answers per version (``X-Version``) of the requests that succeeded, versions in order."""
        c = Counter(r.version or "?" for r in self.results if r.ok)
        return {k: c[k] for k in sorted(c, key=_version_key)}

    def summary(self) -> dict:
        rs = self.results
        failed = [r for r in rs if not r.ok]
        return {"sent": len(rs), "failed": len(failed),
                "slowest_ms": round(max((r.latency_ms for r in rs), default=0.0), 1),
                "versions": self.versions(),
                "why": dict(Counter(r.label for r in failed).most_common()),
                "seconds": round(max((r.t for r in rs), default=0.0), 1)}

    def _headline(self) -> str:
        s = self.summary()
        versions = ", ".join(f"{k}: {v}" for k, v in s["versions"].items()) or "none"
        why = f" ({', '.join(f'{k} x {v}' for k, v in s['why'].items())})" if s["failed"] else ""
        name = f"{self.name}: " if self.name else ""
        return (f"{name}{s['sent']} sent, {s['failed']} failed{why}, slowest {s['slowest_ms']:g} ms; "
                f"answered by version: {versions}")

    def __repr__(self) -> str:
        return self._headline()

    def _repr_html_(self) -> str:
        import html
        return f"<p>{html.escape(self._headline())}</p>"

    # ------------------------------------------------------------------ the timeline
    def buckets(self, width: float = BUCKET) -> tuple[list[float], dict[str, list[int]], list[int]]:
        """Bars of ``width`` s: their start times, successful answers per version per bar, failures per bar."""
        rs = self.results
        end = max([r.t for r in rs] + [t for t, _ in self.marks] + [0.0])
        n = int(end / width) + 1
        starts = [round(i * width, 3) for i in range(n)]
        versions = {v: [0] * n for v in self.versions()}
        failed = [0] * n
        for r in rs:
            i = min(n - 1, int(r.t / width))
            if r.ok:
                versions[r.version or "?"][i] += 1
            else:
                failed[i] += 1
        return starts, versions, failed

    def figure(self, title: str | None = None, width: float = BUCKET) -> Figure:
        """Requests per ``width`` s (stacked by version), failures in red, each mark a labelled line."""
        starts, versions, failed = self.buckets(width)
        fig = Figure(figsize=(9, 3.2))
        ax = fig.add_subplot()
        bottom = [0] * len(starts)
        for i, (version, counts) in enumerate(versions.items()):
            named = version.isalpha() and is_color_like(version)  # blue-green: each version in its own colour
            ax.bar(starts, counts, width=width, bottom=bottom, align="edge",
                   color=version if named else PALETTE[i % len(PALETTE)],
                   label=f"version {version}", linewidth=0)
            bottom = [b + c for b, c in zip(bottom, counts)]
        if any(failed):
            ax.bar(starts, failed, width=width, bottom=bottom, align="edge", color=FAILURE_COLOR,
                   label=f"failed ({sum(failed)})", linewidth=0)
        top = max([b + f for b, f in zip(bottom, failed)] + [1])
        for t, _ in self.marks:
            ax.axvline(t, color="#333", linewidth=0.8, linestyle="--")
        for i, (t, label) in enumerate(_grouped(self.marks, (starts[-1] + width) * 0.03)):
            ax.text(t, top * (1.02 + 0.1 * (i % 4)), label, fontsize=7, ha="left", va="bottom")
        ax.set_ylim(0, top * 1.5 if self.marks else top * 1.1)
        ax.set_xlabel("seconds since the load started")
        ax.set_ylabel(f"requests per {width * 1000:g} ms")
        ax.set_title("\n".join(textwrap.wrap(title or self._headline(), 105)), fontsize=9)  # long: two lines
        ax.legend(loc="upper right", fontsize=7, ncol=4)
        fig.tight_layout()
        return fig


def _grouped(marks: list[tuple[float, str]], near: float) -> list[tuple[float, str]]:
    """Marks closer than ``near`` s to the first of their group share one label: ``'s1 drain, drained, maint'``."""
    groups: list[list[tuple[float, str]]] = []
    for t, label in sorted(marks):
        if groups and t - groups[-1][0][0] <= near:
            groups[-1].append((t, label))
        else:
            groups.append([(t, label)])
    out = []
    for g in groups:
        words = [label.split(" ", 1) for _, label in g]
        same = all(len(w) == 2 and w[0] == words[0][0] for w in words)
        text = f"{words[0][0]} " + ", ".join(w[1] for w in words) if same and len(g) > 1 else ", ".join(
            label for _, label in g)
        out.append((g[0][0], text))
    return out


def _version_key(v: str) -> tuple:
    parts = v.split(".")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def compare_runs(runs: Mapping[str, SteadyLoad] | Iterable[SteadyLoad]) -> Table:
    """One row per run: the method (its key, or the load's ``name``), sent, failed, slowest (ms), versions."""
    items = list(runs.items()) if isinstance(runs, Mapping) else [(getattr(r, "name", "") or f"run {i + 1}", r)
                                                                  for i, r in enumerate(runs)]
    if not items or not all(isinstance(r, SteadyLoad) for _, r in items):
        raise UsageError("compare_runs takes SteadyLoad runs: "
                         "compare_runs({'kill and restart': naive, 'drain first': rolling})")
    rows = []
    for method, run in items:
        s = run.summary()
        rows.append({"method": method, "sent": s["sent"], "failed": s["failed"], "slowest (ms)": s["slowest_ms"],
                     "versions": ", ".join(f"{k}: {v}" for k, v in s["versions"].items())})
    return Table(rows, ["method", "sent", "failed", "slowest (ms)", "versions"])


compare = compare_runs  # the lesson's short name; labsupport exports it as compare_runs (06 has a compare)
