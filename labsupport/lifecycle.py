"""One registry of everything this kernel started, and one way to stop it all.

How it works: whatever outlives the cell that made it (an application server's process, real haproxy,
the engine's balancer thread, a DNS server, a load generator's child, a traffic thread, a live
widget) registers here under its kind as it starts, and unregisters when it stops. ``stop_all()``
stops every registered thing, kind by kind in ``ORDER``; a notebook's first cell calls it, so a
re-run never meets "address already in use" from its own earlier run, and so does the interpreter's
exit (the kernel's end), so nothing outlives the kernel.

The order frees the ports first (a restarted kernel must find them free at once): balancers (they
would otherwise answer the next run's traffic), DNS servers, application servers, load generators'
children; then traffic threads; then live widgets, last, so their final look shows the servers
stopped. Stopping never raises: a thing that fails to stop must not keep the rest running.

Lives below both halves of ``labsupport``: the engine and the course register here, and it imports
neither.
"""
from __future__ import annotations

import atexit
import threading
from typing import Callable, TypeVar

ORDER = ("balancer", "dns", "server", "child", "traffic", "live")
T = TypeVar("T")

_lock = threading.Lock()
# kind -> {id(thing): (thing, how to stop it)}; insertion order is start order
_things: dict[str, dict[int, tuple[object, Callable[[], object]]]] = {kind: {} for kind in ORDER}


def register(kind: str, thing: T, stop: Callable[[], object] | None = None) -> T:
    """Remember ``thing`` (of ``kind``, one of ``ORDER``) until it stops; ``stop`` defaults to ``thing.stop``."""
    if kind not in _things:
        raise ValueError(f"unknown kind {kind!r} (expected one of: {', '.join(ORDER)})")
    how = stop if stop is not None else getattr(thing, "stop")
    with _lock:
        _things[kind][id(thing)] = (thing, how)
    return thing


def unregister(thing: object) -> None:
    """Forget ``thing`` (it stopped by itself); harmless when it was never registered."""
    with _lock:
        for registered in _things.values():
            registered.pop(id(thing), None)


def running(kind: str) -> list:
    """The things of ``kind`` registered now, oldest first."""
    with _lock:
        return [thing for thing, _ in _things[kind].values()]


def stop_all(kinds: tuple[str, ...] = ORDER) -> None:
    """Stop everything registered (of ``kinds``), in ``ORDER``; a second call finds nothing to do."""
    for kind in ORDER:
        if kind not in kinds:
            continue
        with _lock:
            batch = list(_things[kind].values())
            _things[kind].clear()
        for _thing, stop in reversed(batch):  # newest first, as a stack unwinds
            try:
                stop()
            except Exception:  # one that fails to stop must not keep the others running
                pass


atexit.register(stop_all)
