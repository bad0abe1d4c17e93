"""A rolling deploy through the runtime API, and the naive one beside it.

    log = rolling_deploy(lb, "app", fleet, version=2, load=load)    # each server in turn:
        set server app/s1 state drain    new clients go elsewhere; those whose cookie names s1 still arrive
        (wait until its sessions (scur in show stat) are 0, or drain_timeout)
        set server app/s1 state maint    nothing arrives any more (wait again for scur 0)
        fleet.restart(8301, version=2)   the new version starts, answers /health
        set server app/s1 state ready    back in; health checks bring it to UP (within up_timeout)
    log = kill_and_restart_deploy(lb, "app", fleet, version=2)     # each server: kill -9, start the new one

Any balancer with a runtime API ``command(line)`` and ``stats_csv()`` will do: the engine's ``Balancer``
and real ``HAProxy`` (both answer a successful ``set server`` with an empty line, a refused one with its
message, which becomes a ``CommandError``). ``rolling_steps`` is the same deploy one step at a time (a
generator of ``Step``), for a widget or a cell that wants to watch; every step is recorded with its time,
and passed to ``load.mark`` when a ``SteadyLoad`` is given, so the load's timeline shows it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ...course.display.table import Table
from ...errors import CommandError, LabError, NotFoundError, UsageError
from .servers import ServerRow, servers

DRAIN_TIMEOUT = 10.0  # seconds to wait for a drained server's sessions to end
UP_TIMEOUT = 15.0  # seconds for a server back in service to pass its health checks
POLL = 0.05


@dataclass(frozen=True)
class Step:
    """One step of a deploy: when (``time.monotonic()`` and wall clock), which server, what was done."""

    at: float
    wall: float
    server: str  # 'app/s1'
    port: int | None
    action: str  # drain, drained, maint, restart, kill, ready, up, failed
    detail: str = ""

    @property
    def label(self) -> str:
        return f"{self.server.split('/')[-1]} {self.action}"


@dataclass
class DeployLog:
    """Every step of one deploy, in order; ``ok`` once every server serves the new version and is UP."""

    method: str
    version: str
    steps: list[Step] = field(default_factory=list)
    ok: bool = False
    error: str = ""

    def first(self, action: str, port: int | None = None, server: str | None = None) -> Step | None:
        """The first step ``action`` (of the server on ``port``, or named ``server``), or None."""
        for s in self.steps:
            if s.action == action and (port is None or s.port == port) and (server is None or s.server == server):
                return s
        return None

    def table(self) -> Table:
        t0 = self.steps[0].at if self.steps else 0.0
        rows = [{"t (s)": f"{s.at - t0:.2f}", "server": s.server, "action": s.action, "detail": s.detail}
                for s in self.steps]
        return Table(rows, ["t (s)", "server", "action", "detail"], title=repr(self).splitlines()[0])

    def __repr__(self) -> str:
        took = f" in {self.steps[-1].at - self.steps[0].at:.1f} s" if self.steps else ""
        head = (f"{self.method} to version {self.version}: "
                + (f"done{took}" if self.ok else f"NOT done{took}: {self.error or 'not finished'}"))
        return head + "\n" + "\n".join(f"  {s.at - self.steps[0].at:6.2f} s  {s.server:<10} {s.action:<8} {s.detail}"
                                       for s in self.steps)


def _run(balancer, line: str) -> None:
    answer = balancer.command(line)
    if answer.strip():
        raise CommandError(f"{line!r}: {answer.strip()}")


def _wait(balancer, backend: str, name: str, done: Callable[[ServerRow], bool], timeout: float) -> ServerRow:
    """Poll the stats until ``done(row)`` or ``timeout``; the last row either way."""
    deadline = time.monotonic() + timeout
    while True:
        row = servers(balancer, backend)[name]
        if done(row) or time.monotonic() >= deadline:
            return row
        time.sleep(POLL)


def _plan(balancer, backend: str, fleet, names) -> list[ServerRow]:
    rows = servers(balancer, backend)
    names = list(rows) if names is None else [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in rows]
    if unknown:
        raise NotFoundError(f"no server {', '.join(unknown)} in backend {backend} (its servers: {', '.join(rows)})")
    ports = {s.port for s in fleet.servers}
    missing = [f"{n} ({rows[n].host}:{rows[n].port})" for n in names if rows[n].port not in ports]
    if missing:
        raise NotFoundError(f"the fleet runs no server for {', '.join(missing)}: start it with fleet.start([...])")
    return [rows[n] for n in names]


def _check_version(version) -> str:
    if version is None or not str(version).strip():
        raise UsageError("give the version to deploy, e.g. version=2")
    return str(version)


def rolling_steps(balancer, backend: str, fleet, version, *, servers_: list[str] | str | None = None,
                  drain_timeout: float = DRAIN_TIMEOUT, up_timeout: float = UP_TIMEOUT,
                  drain_at_least: float = 0.0) -> Iterator[Step]:
    """The rolling deploy, one ``Step`` at a time (see the module's help). ``drain_at_least``: seconds a
    server stays in DRAIN even once it has no session (so sticky clients finish what they do)."""
    version = _check_version(version)
    for row in _plan(balancer, backend, fleet, servers_):
        key, port = row.key, row.port

        def step(action: str, detail: str = "") -> Step:
            return Step(time.monotonic(), time.time(), key, port, action, detail)

        _run(balancer, f"set server {key} state drain")
        began = time.monotonic()
        yield step("drain", "new clients go elsewhere")
        left = _wait(balancer, backend, row.name, lambda r: r.scur == 0, drain_timeout)
        rest = drain_at_least - (time.monotonic() - began)
        if rest > 0:
            time.sleep(rest)
        yield step("drained", f"{left.scur} sessions left" if left.scur else "no session left")
        _run(balancer, f"set server {key} state maint")
        yield step("maint", "nothing arrives any more")
        _wait(balancer, backend, row.name, lambda r: r.scur == 0, drain_timeout)
        fleet.restart(port, version=version)
        yield step("restart", f"version {version} answers on port {port}")
        _run(balancer, f"set server {key} state ready")
        yield step("ready", "health checks decide")
        up = _wait(balancer, backend, row.name, lambda r: r.fully_up, up_timeout)
        if not up.fully_up:
            yield step("failed", f"still {up.status} after {up_timeout:g} s")
            raise LabError(f"{key} did not come UP within {up_timeout:g} s after 'ready' (it is {up.status}); "
                           "the deploy stopped there")
        yield step("up", f"{up.status}, version {version}")


def kill_steps(balancer, backend: str, fleet, version, *, servers_: list[str] | str | None = None,
               up_timeout: float = UP_TIMEOUT) -> Iterator[Step]:
    """The naive deploy, one ``Step`` at a time: each server killed and started again at ``version``, the
    balancer not told; the next one once this one is UP again."""
    version = _check_version(version)
    for row in _plan(balancer, backend, fleet, servers_):
        key, port = row.key, row.port

        def step(action: str, detail: str = "") -> Step:
            return Step(time.monotonic(), time.time(), key, port, action, detail)

        fleet.kill(port)
        yield step("kill", "kill -9, the balancer not told")
        fleet.restart(port, version=version)
        yield step("restart", f"version {version} answers on port {port}")
        up = _wait(balancer, backend, row.name, lambda r: r.fully_up, up_timeout)
        if not up.fully_up:
            yield step("failed", f"still {up.status} after {up_timeout:g} s")
            raise LabError(f"{key} did not come UP within {up_timeout:g} s (it is {up.status})")
        yield step("up", f"{up.status}, version {version}")


def _follow(log: DeployLog, steps: Iterator[Step], load, on_step) -> DeployLog:
    try:
        for s in steps:
            log.steps.append(s)
            if load is not None:
                load.mark(s.label, at=s.at)
            if on_step is not None:
                on_step(s)
        log.ok = True
    except LabError as e:
        log.error = str(e)
        if not log.steps:
            raise  # a wrong name or a missing server: nothing was done, say so in the cell
    return log


def rolling_deploy(balancer, backend: str, fleet, version, *, servers: list[str] | str | None = None, load=None,
                   on_step: Callable[[Step], None] | None = None, drain_timeout: float = DRAIN_TIMEOUT,
                   up_timeout: float = UP_TIMEOUT, drain_at_least: float = 0.0) -> DeployLog:
    """Drain, maint, restart at ``version``, ready, UP: each server of ``backend`` in turn (or ``servers``).
    ``load``: a SteadyLoad whose timeline gets a mark per step; ``on_step(step)``: called after each."""
    log = DeployLog("rolling deploy", _check_version(version))
    return _follow(log, rolling_steps(balancer, backend, fleet, version, servers_=servers,
                                      drain_timeout=drain_timeout, up_timeout=up_timeout,
                                      drain_at_least=drain_at_least), load, on_step)


def kill_and_restart_deploy(balancer, backend: str, fleet, version, *, servers: list[str] | str | None = None,
                            load=None, on_step: Callable[[Step], None] | None = None,
                            up_timeout: float = UP_TIMEOUT) -> DeployLog:
    """The naive way: kill each server and start the new version, the balancer never told."""
    log = DeployLog("kill and restart", _check_version(version))
    return _follow(log, kill_steps(balancer, backend, fleet, version, servers_=servers, up_timeout=up_timeout),
                   load, on_step)
