"""Rate limiting with a stick table, seen from the client: a burst and its 429s, and when a blocked
client is let in again.

``burst(url, count)`` sends ``count`` requests from one client address (as fast as it can, or at
``rate`` per second) and lists each one's number, time and status: with ratelimit.cfg the 21st request
of a quick burst is the first 429. ``when_let_in(url, source)`` blocks a client with a quick burst, then
retries every ``step`` seconds until a request passes (bounded by a deadline), and puts the measured
wait beside the one predicted by HAProxy's arithmetic.

The arithmetic is src/freq_ctr.c's, as the engine keeps it (engine.sticktable.FreqCtr, reused here so
the prediction and the engine cannot drift apart): a rate over a period P is the count of the current
period plus the previous period's count weighted by the part of the current period still to come. The
period starts at the client's first request, so a burst lands whole in one period: the client stays
blocked to the end of that period, then the weight of the old burst falls as the new period goes by.
Every retry counts too (``track-sc0`` runs before the ``deny``, so a denied request is a request): a
client that keeps knocking keeps itself out longer than one that waits. ``predict_let_in`` computes
both without sending anything.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from ...course.display.table import Table
from ...course.environment import HEADLESS
from ...course.traffic.sender import Target, request_once
from ...engine.sticktable import FreqCtr
from ...errors import UsageError

MAX_BURST = 500  # requests in one burst
MAX_RATE = 200.0  # requests per second in a paced burst
MAX_SECONDS = 60.0  # the longest a burst or a wait may take
SHORT = HEADLESS  # headless runs (nbval, CI) take the short defaults


def _target(url: str, timeout: float = 2.0, method: str = "GET") -> Target:
    return Target(url, timeout, False, method)


def _blocked(status: int | None) -> bool:
    """Not let through: a deny (429), a tarpit (its status), or no answer at all."""
    return status is None or not 200 <= status < 400


# --------------------------------------------------------------------------- a burst
def burst(url: str, count: int, source: str = "127.0.0.2", rate: float | None = None, *,
          method: str = "GET", timeout: float = 2.0) -> Table:
    """Send ``count`` requests to ``url`` from the client address ``source``, one after another (as fast
    as they are answered, or ``rate`` per second) and list each one: its number (1 = the first), when it
    was sent (seconds after the first), its status. The title counts the statuses and names the first
    request that was not let through."""
    if not 1 <= count <= MAX_BURST:
        raise UsageError(f"count must be between 1 and {MAX_BURST}, not {count}")
    if rate is not None and not 0 < rate <= MAX_RATE:
        raise UsageError(f"rate must be between 0 and {MAX_RATE:g} requests per second, or None (as fast as "
                         f"possible), not {rate}")
    if rate is not None and count / rate > MAX_SECONDS:
        raise UsageError(f"{count} requests at {rate:g}/s take {count / rate:.0f} s; keep a burst under "
                         f"{MAX_SECONDS:.0f} s (fewer requests or a higher rate)")
    target = _target(url, timeout, method)
    t0 = time.monotonic()
    rows = []
    for i in range(count):
        if rate is not None:
            wait = t0 + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        result, _ = request_once(target, i, t0, source, None)
        rows.append({"n": i + 1, "t (s)": round(result.t, 3), "status": result.status or result.error})
    return Table(rows, ["n", "t (s)", "status"], title=_burst_title(rows, source))


def _burst_title(rows: list[dict], source: str) -> str:
    counts: dict = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    parts = ", ".join(f"{n} x {s}" for s, n in counts.items())
    first = next((r for r in rows if not isinstance(r["status"], int) or _blocked(r["status"])), None)
    tail = (f"; first not let through: request {first['n']} at {first['t (s)']:.2f} s" if first
            else "; every request let through")
    return f"{len(rows)} requests from {source}: {parts}{tail}"


# --------------------------------------------------------------------------- the sliding window
def predict_let_in(times: list[float], limit: int, period: float, step: float | None = None,
                   horizon: float | None = None) -> float | None:
    """When a client whose requests went at ``times`` (seconds, ascending; the last ones blocked) is let
    in again, under ``if { sc_http_req_rate(0) gt limit }`` with ``http_req_rate(period)``: seconds after
    ``times[-1]``. With ``step`` the client retries every ``step`` seconds from then and each retry counts;
    without, it comes back once, at the first moment its request would pass. None: not within ``horizon``
    (default three periods)."""
    if not times:
        return 0.0
    period_ms = max(1, int(period * 1000))
    ctr = FreqCtr()
    base = 10 * period_ms  # an origin far from 0: FreqCtr's first update starts the period there
    for t in times:
        ctr.update(period_ms, 1, base + int(t * 1000))
    last = base + int(times[-1] * 1000)
    end = last + int((horizon if horizon is not None else 3 * period) * 1000)
    if step is None:  # one request at the first millisecond it would pass: read as if it were added
        for now in range(last + 1, end + 1):
            probe = _copy(ctr)
            probe.update(period_ms, 1, now)
            if probe.read(period_ms, now) <= limit:
                return (now - last) / 1000
        return None
    step_ms = max(1, int(step * 1000))
    now = last + step_ms
    while now <= end:
        ctr.update(period_ms, 1, now)  # the retry is tracked first, then the rule reads the rate
        if ctr.read(period_ms, now) <= limit:
            return (now - last) / 1000
        now += step_ms
    return None


def _copy(ctr: FreqCtr) -> FreqCtr:
    c = FreqCtr()
    c.curr_tick, c.curr_ctr, c.prev_ctr = ctr.curr_tick, ctr.curr_ctr, ctr.prev_ctr
    return c


@dataclass(frozen=True)
class LetIn:
    """What ``when_let_in`` saw: the measured wait after the client's last blocked request (None: still
    blocked at the deadline) and the waits HAProxy's arithmetic predicts for a client retrying every
    ``step`` s and for one that waits and comes back once."""

    measured: float | None
    predicted: float | None
    predicted_patient: float | None
    step: float
    limit: int
    period: float
    burst: int  # requests in the first burst
    retries: int  # requests sent while blocked, the last one let in

    def table(self) -> Table:
        def s(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f}"
        rows = [{"": "measured", "seconds after the last 429": s(self.measured),
                 "requests while blocked": self.retries},
                {"": f"predicted, retrying every {self.step:g} s", "seconds after the last 429": s(self.predicted),
                 "requests while blocked": ""},
                {"": "predicted, one patient retry", "seconds after the last 429": s(self.predicted_patient),
                 "requests while blocked": 1}]
        return Table(rows, title=f"a burst of {self.burst}, limit {self.limit} per {self.period:g} s "
                     "(HAProxy's sliding window, src/freq_ctr.c)")

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def when_let_in(url: str, source: str = "127.0.0.3", limit: int = 20, period: float = 10, *,
                step: float | None = None, extra: int = 5, deadline: float | None = None) -> LetIn:
    """Block the client ``source`` with a quick burst of ``limit + extra`` requests, then retry every
    ``step`` seconds (default: a twentieth of the period) until a request is let through or ``deadline``
    seconds passed (default: three periods, at most 60 s); the measured wait and the predicted ones,
    from the same request times. ``limit`` and ``period`` are the config's (``gt 20``,
    ``http_req_rate(10s)``). Use a client address no other cell used within the last period."""
    if not 1 <= limit <= MAX_BURST - 50 or not 0 < period <= MAX_SECONDS / 2:
        raise UsageError(f"limit must be between 1 and {MAX_BURST - 50} and period between 0 and "
                         f"{MAX_SECONDS / 2:g} s (got {limit}, {period})")
    step = period / 20 if step is None else step
    if not 0.05 <= step <= period:
        raise UsageError(f"step must be between 0.05 s and the period ({period:g} s), not {step}")
    deadline = min(MAX_SECONDS, 3 * period + 1) if deadline is None else deadline
    if not 0 < deadline <= MAX_SECONDS:
        raise UsageError(f"deadline must be between 0 and {MAX_SECONDS:g} s, not {deadline}")
    target = _target(url)
    t0 = time.monotonic()
    times: list[float] = []  # when the balancer counted each request (its answer's arrival, near enough)
    statuses: list[int | None] = []
    for i in range(limit + extra):
        result, _ = request_once(target, i, t0, source, None)
        times.append(time.monotonic() - t0)
        statuses.append(result.status)
    if not any(_blocked(s) for s in statuses):
        raise UsageError(f"{limit + extra} quick requests from {source} were all let through: is the limit "
                         f"{limit} per {period:g} s the config's (and is its rule tracking the source address)?")
    last_blocked = times[-1]
    burst_times = list(times)
    measured, retries = None, 0
    end = time.monotonic() + deadline
    k = 1
    while time.monotonic() < end:
        wait = t0 + last_blocked + k * step - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        result, _ = request_once(target, len(times), t0, source, None)
        retries += 1
        times.append(time.monotonic() - t0)
        if not _blocked(result.status):
            measured = times[-1] - last_blocked
            break
        k += 1
    return LetIn(measured, predict_let_in(burst_times, limit, period, step),
                 predict_let_in(burst_times, limit, period), step, limit, period, limit + extra, retries)


__all__ = ["burst", "when_let_in", "predict_let_in", "LetIn"]
