"""Results of requests sent to a balancer: who answered, how fast, with what status; and the course's
one percentile.

Failures are data, not exceptions: a refused connection or a timeout is a :class:`Result` with
``error`` set, so a run across a dying server shows exactly which requests failed. ``percentile`` is
the nearest-rank percentile every lesson uses (03's runs, 05's latency window, 06's load runs): the
value below which at least q % of the values lie, always one of the values. A q-th percentile of
fewer than ``min_samples(q)`` values is simply the largest one (p99 needs 100), so ``percentile_table``
says how many values its percentiles come from.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from ..display.table import Table

# "Hi!! from server 8081" (the course's app) and "Oops!! server 8081 failed on purpose" (--fail-rate).
_SERVER_PATTERNS = (re.compile(r"from server ([\w.:\-]+)"), re.compile(r"^Oops!! server ([\w.:\-]+)"))
# Other apps often say who they are in a header.
_SERVER_HEADERS = ("x-server", "x-served-by", "x-backend-server", "x-upstream")


def server_of(body: str, headers: Iterable[tuple[str, str]] = (), status: int | None = None) -> str | None:
    """Who answered: ``'Hi!! from server 8081'`` -> ``'8081'``; else a server header; else a short 2xx body."""
    for pattern in _SERVER_PATTERNS:
        m = pattern.search(body)
        if m:
            return m.group(1).rstrip(".:-")
    for name, value in headers:
        if name.lower() in _SERVER_HEADERS and value.strip():
            return value.strip()
    text = body.strip()
    # A student's own app ("Hello from A"): a one-line success body is the best name we have.
    if status is not None and 200 <= status < 300 and text and "\n" not in text and len(text) <= 40:
        return text
    return None


@dataclass(frozen=True)
class Result:
    """One request: when it was sent, what came back, from whom, and how long it took."""

    n: int  # order of sending, 0-based
    t: float  # seconds after the run started, when the request was sent
    status: int | None  # HTTP status, None when no response arrived
    server: str | None  # who answered (see server_of), None if unknown
    latency_ms: float
    error: str | None = None  # "connection refused", "timed out", ... when no response arrived
    source: str | None = None  # client address the socket was bound to, if one was chosen
    answer: str | None = field(default=None, repr=False)  # an error's whole answer (status >= 400), as received
    version: str | None = None  # the answer's X-Version header (lesson 09's versioned servers), if any

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400

    @property
    def label(self) -> str:
        """The server's name, else ``'HTTP 503'``, else the error: one word for charts and counts."""
        if self.server is not None:
            return self.server
        if self.status is not None:
            return f"HTTP {self.status}"
        return self.error or "no answer"


_FAILURES = ("connection refused", "timed out", "closed without a response", "connection reset",
             "cannot use source address", "no answer")


def is_failure(label: str) -> bool:
    """True for labels that name no server: ``'HTTP 503'``, ``'connection refused'``, ..."""
    return label.startswith("HTTP ") or label.startswith(_FAILURES) or bool(re.match(r"[A-Za-z]+Error: ", label))


def label_order(label: str) -> tuple:
    """Sort key: servers first ('8080' < '8081' < '8100' numerically), then 'HTTP 503', then errors."""
    if label.isdigit():
        return (0, int(label), label)
    if not is_failure(label):
        return (1, 0, label)
    return (2 if label.startswith("HTTP ") else 3, 0, label)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q % of the values at or
    below it. ``percentile(range(1, 11), 50) == 5``, ``... 90) == 9``; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered) / 100)  # q * n first: exact for integers, no 0.1-style rounding
    return ordered[max(0, min(len(ordered), rank) - 1)]


def min_samples(q: float) -> float:
    """How many values a q-th percentile needs before it is more than the largest of them:
    ``min_samples(99) == 100``, ``min_samples(99.9) == 1000`` (inf for q >= 100)."""
    return math.inf if q >= 100 else math.ceil(100 / (100 - q) - 1e-9)


def percentile_table(values: Sequence[float], qs: Sequence[float] = (50, 90, 99), unit: str = "ms",
                     what: str = "values") -> Table:
    """One row per percentile of ``values``, titled with how many values they come from; a percentile
    that needs more values than there are is shown as what it then is: the largest value."""
    values = [float(v) for v in values]
    n = len(values)
    rows = []
    for q in qs:
        value = percentile(values, q)
        shown = "-" if value is None else round(float(value), 1)
        enough = n >= min_samples(q)
        rows.append({"percentile": f"p{q:g}", f"value ({unit})": shown if enough else "-",
                     "note": "" if enough else f"needs {min_samples(q):g} {what}; the largest of these {n}: {shown}"})
    if all(not r["note"] for r in rows):
        rows = [{k: v for k, v in r.items() if k != "note"} for r in rows]
    return Table(rows, title=f"from {n} {what}")


class Run:
    """The results of a batch of requests, in sending order."""

    def __init__(self, url: str, results: Iterable[Result], duration: float, *, keep_alive: bool = False,
                 concurrency: int = 1, rate: float | None = None):
        self.url = url
        self.results: list[Result] = sorted(results, key=lambda r: r.n)
        self.duration = duration
        self.keep_alive = keep_alive
        self.concurrency = concurrency
        self.rate = rate  # requests per second asked for (steady / TrafficGenerator), else None

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self):
        return iter(self.results)

    def __getitem__(self, i):
        return self.results[i]

    @property
    def servers(self) -> list[str]:
        """Who answered each request, in order (``Result.label``: a server, 'HTTP 503', or an error)."""
        return [r.label for r in self.results]

    def counts(self, last: float | None = None) -> dict[str, int]:
        """Requests per server (and per failure kind), servers sorted by name; ``last`` seconds only."""
        rows = self.results
        if last is not None and rows:
            end = max(r.t for r in rows)
            rows = [r for r in rows if r.t >= end - last]
        c = Counter(r.label for r in rows)
        return {k: c[k] for k in sorted(c, key=label_order)}

    def by_status(self) -> dict[int | str, int]:
        """Requests per HTTP status; requests without a response are counted under their error."""
        c = Counter(r.status if r.status is not None else (r.error or "no answer") for r in self.results)
        return dict(sorted(c.items(), key=lambda kv: (isinstance(kv[0], str), str(kv[0]))))

    def latencies(self, ok_only: bool = False) -> list[float]:
        return [r.latency_ms for r in self.results if r.ok or not ok_only]

    def summary(self) -> dict[str, float | int | None]:
        lat = self.latencies()
        ok = sum(r.ok for r in self.results)
        p50, p95 = percentile(lat, 50), percentile(lat, 95)
        return {
            "requests": len(self.results),
            "ok": ok,
            "errors": len(self.results) - ok,
            "p50_ms": None if p50 is None else round(p50, 2),
            "p95_ms": None if p95 is None else round(p95, 2),
            "seconds": round(self.duration, 3),
        }

    def table(self, limit: int | None = 50) -> Table:
        """One row per request (the first ``limit``), for display in a notebook."""
        rows = [
            {"#": r.n + 1, "t (s)": f"{r.t:.3f}", "status": r.status if r.status is not None else "-",
             "server": r.server or "-", "latency (ms)": f"{r.latency_ms:.1f}", "error": r.error or "",
             **({"source": r.source or ""} if any(x.source for x in self.results) else {})}
            for r in self.results[:limit]
        ]
        more = f" (first {limit} of {len(self.results)})" if limit is not None and len(self.results) > limit else ""
        return Table(rows, title=f"{len(self.results)} requests to {self.url}{more}")

    def _headline(self) -> str:
        s = self.summary()
        lat = "" if s["p50_ms"] is None else f", latency p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms"
        how = ("kept-alive connections" if self.keep_alive else "a new connection each") + (
            f", {self.rate:g} per second" if self.rate else
            f", {self.concurrency} at a time" if self.concurrency > 1 else "")
        return (f"{s['requests']} requests to {self.url} ({how}) in {s['seconds']} s: "
                f"{s['ok']} ok, {s['errors']} failed{lat}")

    def __repr__(self) -> str:
        counts = "  ".join(f"{k}: {v}" for k, v in self.counts().items())
        return f"{self._headline()}\n  {counts}" if counts else self._headline()

    def _repr_html_(self) -> str:
        import html
        counts = Table([{"answered by": k, "requests": v} for k, v in self.counts().items()])
        return f"<p>{html.escape(self._headline())}</p>{counts._repr_html_()}"

