"""A backend's servers as the stats see them: state, sessions now, weight, address; one read of ``show stat``.

    servers(lb, "app")   -> {"s1": ServerRow(name="s1", status="UP", state="UP", scur=0, port=8301, ...), ...}

Works on anything with ``stats_csv()`` (the engine's ``Balancer`` and real ``HAProxy``): both print
HAProxy's CSV, read by the course's one parser (``parse_stat_csv``); a status text becomes a state (UP,
DOWN, MAINT, DRAIN, NOLB) by the engine's ``server_state``, the mapping every chart of the course uses.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...course.display.charts import state_of
from ...course.haproxy import parse_stat_csv
from ...errors import NotFoundError, UsageError


@dataclass(frozen=True)
class ServerRow:
    """One server of a backend, as one ``show stat`` line says it is now."""

    backend: str
    name: str
    status: str  # HAProxy's text: "UP", "UP 1/2", "DRAIN", "MAINT", "DOWN 1/2", "no check"
    scur: int  # sessions on it now
    weight: int
    host: str | None
    port: int | None

    @property
    def state(self) -> str:
        """UP, DOWN, MAINT, DRAIN or NOLB (``'UP 1/2'`` is UP)."""
        return state_of(self.status)

    @property
    def fully_up(self) -> bool:
        """UP and not on its way down or up (``'UP'``, or ``'no check'``), so it takes new clients."""
        return self.status in ("UP", "no check")

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.name}"


def _address(addr) -> tuple[str | None, int | None]:
    if not addr or ":" not in str(addr):
        return None, None
    host, port = str(addr).rsplit(":", 1)
    return host, int(port) if port.isdigit() else None


def servers(balancer, backend: str) -> dict[str, ServerRow]:
    """The servers of ``backend`` on ``balancer`` now, by name, in the configuration's order."""
    if not isinstance(backend, str) or not backend or "/" in backend:
        raise UsageError(f"backend is the name of a backend, e.g. 'app', not {backend!r}")
    rows = parse_stat_csv(balancer.stats_csv())
    out: dict[str, ServerRow] = {}
    names = set()
    for r in rows:
        names.add(r.get("pxname"))
        if r.get("pxname") != backend or r.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        host, port = _address(r.get("addr"))
        out[r["svname"]] = ServerRow(backend, r["svname"], str(r.get("status") or ""), int(r.get("scur") or 0),
                                     int(r.get("weight") or 0), host, port)
    if backend not in names:
        known = ", ".join(sorted(str(n) for n in names if n)) or "none"
        raise NotFoundError(f"no backend {backend!r} on this balancer (its proxies: {known})")
    return out


def split(server: str, backend: str | None = None) -> tuple[str, str]:
    """``'app/s1'`` -> ``('app', 's1')``; ``'s1'`` with ``backend='app'`` -> the same."""
    if isinstance(server, str) and "/" in server:
        be, name = server.split("/", 1)
        if be and name:
            return be, name
    if backend and isinstance(server, str) and server:
        return backend, server
    raise UsageError(f"name the server as backend/server, e.g. 'app/s1', not {server!r}")
