"""Watching a balancer from outside, as an operator does: the stats page's CSV/JSON, rates, percentiles.

- ``fetch_stats(url)`` reads a stats page's ``;csv`` (or ``;json``) into rows, for the engine and
  real HAProxy alike.
- ``rates(before, after)``: HAProxy's counters only grow; two snapshots a few seconds apart give
  requests, errors and bytes per second.
- ``LatencyWindow``: HAProxy 2.6 shows only averages (over the last 1024 requests). The log has
  every request's timers, so percentiles (p50, p90, p99) per server and per backend over a sliding
  window come from there: the tail the average hides.
"""
from __future__ import annotations

import base64
import collections
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterable

from ...course.balancerlike import BalancerLike
from ...course.display.table import Table
from ...course.haproxy import parse_stat_csv
from ...course.logtable import log_time, parse_httplog
from ...course.traffic.results import percentile
from ...errors import UsageError, WaitTimeout

RATE_COLUMNS = ("stot", "req_tot", "hrsp_2xx", "hrsp_5xx", "bout")


def fetch_stats(url: str, fmt: str = "csv", user: str | None = None, password: str | None = None,
                timeout: float = 5.0) -> list[dict[str, Any]]:
    """The stats page at ``url`` (its ``stats uri``) as rows keyed by HAProxy's column names.
    ``fmt``: "csv" (``;csv``) or "json" (``;json``, the same rows as ``show stat json``)."""
    if fmt not in ("csv", "json"):
        raise UsageError(f"fmt must be 'csv' or 'json' (got {fmt!r})")
    req = urllib.request.Request(url.rstrip(";") + f";{fmt}")
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        text = resp.read().decode("utf-8", "replace")
    if fmt == "csv":
        return parse_stat_csv(text)
    return [{f["field"]["name"]: f["value"]["value"] for f in row} for row in json.loads(text)]


def stats_admin(url: str, backend: str, servers: str | list[str], action: str, user: str | None = None,
                password: str | None = None, timeout: float = 5.0) -> str:
    """Post the stats page's admin form, as its 'Apply' button does: ``action`` (ready, drain, maint,
    dhlth, ehlth, hrunn, hnolb, hdown, shutdown...) on ``servers`` of ``backend``. Returns the
    page's verdict: DONE, PART, NONE, ERRP or DENY (or 'HTTP 401' without the right credentials)."""
    names = [servers] if isinstance(servers, str) else list(servers)
    body = urllib.parse.urlencode([("s", n) for n in names] + [("action", action), ("b", backend)]).encode()
    req = urllib.request.Request(url, data=body, method="POST")
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password or ''}".encode()).decode())

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kw):  # keep the 303: its location is the verdict
            return None

    try:
        resp = urllib.request.build_opener(_NoRedirect).open(req, timeout=timeout)
        location = resp.headers.get("location", "")
    except urllib.error.HTTPError as e:
        if e.code != 303:
            return f"HTTP {e.code}"
        location = e.headers.get("location", "")
    return location.rsplit(";st=", 1)[-1] if ";st=" in location else location


def wait_for_status(target: BalancerLike, server: str, status: str, timeout: float = 15.0) -> str:
    """Wait until ``server`` ('backend/server') of a Balancer or HAProxy shows a status starting with
    ``status`` ('DOWN', 'UP', 'MAINT'...); its status then. Raises TimeoutError after ``timeout`` s."""
    backend, _, name = server.rpartition("/")
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in target.snapshot()["servers"] if r["svname"] == name
                and (not backend or r["pxname"] == backend)]
        now = str(rows[0]["status"]) if rows else "?"
        if now.startswith(status) and not (status == "UP" and "/" in now):
            return now
        if time.monotonic() > deadline:
            raise WaitTimeout(f"{server} is still {now} after {timeout:g} s (waited for {status}): look at its "
                              "check_status in the stats, or wait longer with timeout=")
        time.sleep(0.1)


def _rows(snapshot: Any) -> tuple[float, list[dict[str, Any]]]:
    if isinstance(snapshot, dict):
        return snapshot["time"], snapshot["rows"]
    taken, rows = snapshot
    return taken, rows


def rates(before: Any, after: Any, columns: tuple[str, ...] = RATE_COLUMNS) -> Table:
    """Per row, each counter's growth per second between two snapshots (``Balancer.snapshot()``,
    ``HAProxy.snapshot()``, or ``(time.time(), rows)``); a counter that went down (``clear
    counters``, a restart) gives an empty cell rather than a negative rate."""
    t0, rows0 = _rows(before)
    t1, rows1 = _rows(after)
    dt = t1 - t0
    if dt <= 0:
        raise UsageError("the second snapshot must be taken after the first: rates(before, after)")
    old = {(r["pxname"], r["svname"]): r for r in rows0}
    out = []
    for r in rows1:
        prev = old.get((r["pxname"], r["svname"]))
        row: dict[str, Any] = {"pxname": r["pxname"], "svname": r["svname"]}
        for c in columns:
            a, b = (prev or {}).get(c), r.get(c)
            ok = isinstance(a, int) and isinstance(b, int) and b >= a
            row[f"{c}/s"] = round((b - a) / dt, 2) if ok else ""
        out.append(row)
    return Table(out, ["pxname", "svname", *(f"{c}/s" for c in columns)], title=f"rates over {dt:.1f} s")


class LatencyWindow:
    """Requests' times from log lines over the last ``window`` seconds, by server and by backend.

        w = LatencyWindow(window=30)
        w.add(lines)          # httplog lines (engine or real haproxy), any other lines are skipped
        w.table()             # p50 / p90 / p99 / mean / count per server, then per backend
    """

    def __init__(self, window: float = 30.0, timer: str = "Ta", maxlen: int = 100_000) -> None:
        if timer not in ("Ta", "Tr", "TR", "Tw", "Tc"):
            raise UsageError(f"timer must be one of Ta, Tr, TR, Tw, Tc (got {timer!r})")
        self.window, self.timer = window, timer
        self.entries: collections.deque[tuple[float, str, str, int]] = collections.deque(maxlen=maxlen)

    def add(self, lines: Iterable[str]) -> int:
        """Take the request lines among ``lines``; how many were taken."""
        n = 0
        for line in lines:
            r = parse_httplog(line)
            if r is None or r[self.timer] < 0 or r["server"].startswith("<"):
                continue  # no server answered: no response time to count
            self.entries.append((log_time(r["date"]) + r["Ta"] / 1000, r["backend"], r["server"], r[self.timer]))
            n += 1
        return n

    def _recent(self, now: float | None) -> list[tuple[float, str, str, int]]:
        now = time.time() if now is None else now
        return [e for e in self.entries if now - self.window <= e[0] <= now + 1]

    def stats(self, now: float | None = None) -> list[dict[str, Any]]:
        """Rows {backend, server ('(all)' for the whole backend), count, mean, p50, p90, p99} in ms."""
        recent = self._recent(now)
        groups: dict[tuple[str, str], list[int]] = {}
        for _, be, srv, ms in recent:
            groups.setdefault((be, srv), []).append(ms)
            groups.setdefault((be, ""), []).append(ms)
        rows = []
        for (be, srv), values in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] == "", kv[0][1])):
            rows.append({"backend": be, "server": srv or "(all)", "count": len(values),
                         "mean": round(sum(values) / len(values), 1), "p50": percentile(values, 50),
                         "p90": percentile(values, 90), "p99": percentile(values, 99)})
        return rows

    def table(self, now: float | None = None) -> Table:
        return Table(self.stats(now), ["backend", "server", "count", "mean", "p50", "p90", "p99"],
                     title=f"{self.timer} in ms over the last {self.window:g} s")


__all__ = ["fetch_stats", "stats_admin", "wait_for_status", "rates", "LatencyWindow"]
