"""Lesson 07: which of a frontend's ACLs hold for a request, as the engine evaluates them.

    edge_acls(lb)("GET", "api.lab", "/v1/users")   -> [("is_api", True), ("is_static", False), ...]

It reads the ACLs the balancer's configuration declares and evaluates each one on a request made
up from its parts (engine.sample.Ctx.of), from 127.0.0.1 like every request of the lab. Real HAProxy
cannot be asked this; the router widget shows it beside what both balancers actually did.
"""
from __future__ import annotations

from ...engine.sample import Ctx
from ...errors import UsageError


def _acls(balancer, frontend: str | None):
    config = getattr(balancer, "config", None)
    if config is None or not hasattr(config, "frontends"):
        raise UsageError("edge_acls() needs the course's Balancer (lb), whose configuration it reads")
    fronts = [p for p in config.frontends if frontend in (None, p.name)]
    if not fronts:
        raise UsageError(f"no frontend named {frontend!r} (frontends: {', '.join(p.name for p in config.frontends)})")
    return fronts[0].acls


def edge_acls(balancer, frontend: str | None = None):
    """A function (method, host, path) -> [(acl name, holds)] for ``frontend`` (the first one when None),
    read from the balancer's configuration of the moment (a reload changes the answer)."""
    _acls(balancer, frontend)  # a wrong balancer or frontend is said at once

    def explain(method: str, host: str, path: str) -> list[tuple[str, bool]]:
        ctx = Ctx.of(method, host or None, path)
        return [(name, any(a.holds(ctx) for a in group)) for name, group in _acls(balancer, frontend)]

    return explain
