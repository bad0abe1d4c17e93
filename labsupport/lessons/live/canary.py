"""A canary: one server at the new version gets a small share of the traffic, set by weights; measure what
share each version really got, and roll back in one call.

    c = set_canary(lb, "app", "s4", 10, fleet=fleet, version=2)   # s4 runs version 2 (rolled through a
                                                                   # drain first), and gets 10 % of requests
    measure_shares(lb.urls[0], 2000, lb, "app", fleet)  -> version, requests, measured %, intended %, errors
    shares_figure(table)                                -> bars: measured beside intended, per version
    rollback(lb, "app", "s4", fleet=fleet, version=1)   # s4 out of rotation, back to version 1, weights as before

The weights: with k other servers of weight W and the canary of weight C, the canary's share is
C / (C + k W); C = p k and W = 100 - p give exactly p %, reduced by their common divisor (so 10 % of 4
servers is 1 against 3 each). Weights are set with the runtime API's ``set weight backend/server N``, which
both the engine and HAProxy implement; ``100%`` restores a server's weight from the configuration.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from matplotlib.figure import Figure

from ...course.display.charts import FAILURE_COLOR, PALETTE
from ...course.display.table import Table
from ...course.traffic.sender import send
from ...errors import CommandError, UsageError
from .deploy import rolling_deploy
from .servers import servers

MAX_WEIGHT = 256


@dataclass(frozen=True)
class Canary:
    backend: str
    server: str
    percent: float
    weights: dict  # server name -> weight set

    @property
    def intended(self) -> float:
        """The canary's share the weights give, in percent."""
        total = sum(self.weights.values())
        return 100.0 * self.weights[self.server] / total if total else 0.0

    def __repr__(self) -> str:
        ws = ", ".join(f"{k}={v}" for k, v in self.weights.items())
        return f"canary {self.backend}/{self.server}: {self.intended:.1f} % of new requests (weights {ws})"


def canary_weights(percent: float, others: int) -> tuple[int, int]:
    """(canary weight, weight of each other server) for ``percent`` % among ``others`` other servers."""
    if not 0 <= percent <= 100:
        raise UsageError(f"percent is a share from 0 to 100, not {percent!r}")
    if others == 0 or percent == 100:
        return 1, 0
    if percent == 0:
        return 0, 1
    scale = 10  # tenths of a percent are enough
    c, w = round(percent * scale) * others, round((100 - percent) * scale)
    g = math.gcd(c, w)
    c, w = c // g, w // g
    if max(c, w) > MAX_WEIGHT:  # too fine for weights of at most 256: the nearest that fits
        f = MAX_WEIGHT / max(c, w)
        c, w = max(1, round(c * f)), max(1, round(w * f))
        g = math.gcd(c, w)
        c, w = c // g, w // g
    return c, w


def _set_weight(balancer, key: str, weight) -> None:
    answer = balancer.command(f"set weight {key} {weight}")
    if answer.strip():
        raise CommandError(f"set weight {key} {weight}: {answer.strip()}")


def set_canary(balancer, backend: str, server: str, percent: float, *, fleet=None, version=None) -> Canary:
    """Give ``server`` of ``backend`` ``percent`` % of the new requests, the others the rest in equal parts.
    With ``fleet`` and ``version``, first roll ``server`` to that version (drain, maint, restart, ready)."""
    rows = servers(balancer, backend)
    if server not in rows:
        raise UsageError(f"no server {server!r} in backend {backend} (its servers: {', '.join(rows)})")
    if (fleet is None) != (version is None):
        raise UsageError("give both fleet and version to start the canary at a new version, or neither")
    c, w = canary_weights(percent, len(rows) - 1)
    if fleet is not None:
        log = rolling_deploy(balancer, backend, fleet, version, servers=[server])
        if not log.ok:
            raise UsageError(f"the canary did not start: {log.error}")
    weights = {name: (c if name == server else w) for name in rows}
    for name, weight in weights.items():
        _set_weight(balancer, f"{backend}/{name}", weight)
    return Canary(backend, server, float(percent), weights)


def intended_shares(balancer, backend: str, fleet) -> dict[str, float]:
    """Per version, the share of new requests the weights give it now (servers in rotation only)."""
    versions = {s.port: (s.options.get("version") or "1") for s in fleet.servers}
    weight: Counter = Counter()
    for row in servers(balancer, backend).values():
        if row.state == "UP" and row.port in versions:
            weight[versions[row.port]] += row.weight
    total = sum(weight.values())
    return {v: 100.0 * n / total for v, n in weight.items()} if total else {}


def measure_shares(url: str, n: int = 2000, balancer=None, backend: str | None = None, fleet=None,
                   concurrency: int = 8) -> Table:
    """Send ``n`` requests: per version (``X-Version``), how many, the measured share, the intended share (with
    ``balancer``, ``backend`` and ``fleet``), failures and error rate. Answers without a version (the
    balancer's own 503, a refused connection) are the row ``none``."""
    if not isinstance(n, int) or not 1 <= n <= 100_000:
        raise UsageError(f"n is a number of requests from 1 to 100000, not {n!r}")
    run = send(url, n, concurrency=concurrency)
    intended = intended_shares(balancer, backend, fleet) if balancer is not None and fleet is not None else {}
    by_version: dict[str, list] = {}
    for r in run:
        by_version.setdefault(r.version or "none", []).append(r)
    rows = []
    for v in sorted(set(by_version) | set(intended), key=lambda v: (v == "none", v)):
        rs = by_version.get(v, [])
        errors = sum(not r.ok for r in rs)
        rows.append({"version": v, "requests": len(rs), "measured %": round(100.0 * len(rs) / n, 1),
                     "intended %": round(intended[v], 1) if v in intended else "",
                     "errors": errors, "error rate %": round(100.0 * errors / len(rs), 2) if rs else ""})
    return Table(rows, ["version", "requests", "measured %", "intended %", "errors", "error rate %"],
                 title=f"{n} requests to {url}")


def shares_figure(table: Table, title: str = "") -> Figure:
    """Bars per version: the measured share beside the intended one; errors in red on the measured bar."""
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    versions = [str(v) for v in table.column("version")]
    xs = range(len(versions))
    measured = [float(v or 0) for v in table.column("measured %")]
    intended = [float(v) if v != "" else 0.0 for v in table.column("intended %")]
    errors = [100.0 * e / max(1, sum(table.column("requests"))) for e in table.column("errors")]
    ax.bar([x - 0.2 for x in xs], measured, 0.4, color=[PALETTE[i % len(PALETTE)] for i in xs], label="measured")
    ax.bar([x - 0.2 for x in xs], errors, 0.4, color=FAILURE_COLOR, label="failed")
    ax.bar([x + 0.2 for x in xs], intended, 0.4, color="none", edgecolor="#333", hatch="//", label="intended")
    ax.set_xticks(list(xs), [f"version {v}" for v in versions])
    ax.set_ylabel("share of requests (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title or table.title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def rollback(balancer, backend: str, server: str, *, fleet=None, version=None) -> Table:
    """Undo a canary in one call: ``server`` out of rotation (weight 0), back to ``version`` (with ``fleet``:
    drained, restarted, ready), then every server of ``backend`` at its configured weight again."""
    rows = servers(balancer, backend)
    if server not in rows:
        raise UsageError(f"no server {server!r} in backend {backend} (its servers: {', '.join(rows)})")
    _set_weight(balancer, f"{backend}/{server}", 0)
    if fleet is not None and version is not None:
        log = rolling_deploy(balancer, backend, fleet, version, servers=[server])
        if not log.ok:
            raise UsageError(f"the rollback of {server} stopped: {log.error}")
    for name in rows:
        _set_weight(balancer, f"{backend}/{name}", "100%")
    now = servers(balancer, backend)
    return Table([{"server": r.name, "status": r.status, "weight": r.weight} for r in now.values()],
                 title=f"{backend} after the rollback of {server}")
