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

A cell run again: each thing remembers the cell run that started it (JupyterLab sends the cell's id
with every execution). When a cell runs again and starts its first thing, ``rerun_replaces`` stops
what the cell's earlier run started and still runs, and prints one line saying so; a fresh cell, a
widget's button or a script starts nothing of that kind and prints nothing.

Lives below both halves of ``labsupport``: the engine and the course register here, and it imports
neither.
"""
from __future__ import annotations

import atexit
import re
import sys
import threading
from typing import Callable, TypeVar

ORDER = ("balancer", "dns", "server", "child", "traffic", "live")
T = TypeVar("T")

_lock = threading.Lock()
# kind -> {id(thing): (thing, how to stop it)}; insertion order is start order
_things: dict[str, dict[int, tuple[object, Callable[[], object]]]] = {kind: {} for kind in ORDER}
# id(thing) -> (cell id, run id, what it is in a note, how to stop it when its cell runs again)
_origins: dict[int, tuple[str, str, str, Callable[[], object]]] = {}
Origin = tuple[str, str]  # (the cell's id, this run's message id)


def current_run() -> Origin | None:
    """The cell running now, as (cell id, run id); None outside a notebook cell (a script, nbval, a
    widget's button, a background thread)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    kernel = getattr(shell, "kernel", None)
    if kernel is None or threading.current_thread() is not threading.main_thread():
        return None
    try:
        parent = kernel.get_parent("shell")
    except Exception:  # an ipykernel without get_parent
        return None
    cell = (parent.get("metadata") or {}).get("cellId")
    if (parent.get("header") or {}).get("msg_type") != "execute_request" or not cell:
        return None
    return str(cell), str(parent.get("header", {}).get("msg_id", ""))


def register(kind: str, thing: T, stop: Callable[[], object] | None = None, *, label: str = "",
             origin: Origin | None = None, replace: Callable[[], object] | None = None, cell: bool = True) -> T:
    """Remember ``thing`` (of ``kind``, one of ``ORDER``) until it stops; ``stop`` defaults to ``thing.stop``.

    ``label`` names it in the one-line note a re-run of its cell prints ("the server on 127.0.0.2:8080");
    ``origin`` is the cell run it belongs to (default: the one running now; a restarted server keeps
    its first one); ``replace`` is how that re-run stops it (default: ``stop``). ``cell=False``: shared by
    every cell (a pool), so no re-run replaces it."""
    if kind not in _things:
        raise ValueError(f"unknown kind {kind!r} (expected one of: {', '.join(ORDER)})")
    how = stop if stop is not None else getattr(thing, "stop")
    origin = (origin or current_run()) if cell else None
    with _lock:
        _things[kind][id(thing)] = (thing, how)
        if origin is not None:
            _origins[id(thing)] = (*origin, label or type(thing).__name__, replace or how)
    return thing


def origin_of(thing: object) -> Origin | None:
    """The cell run that started ``thing`` (None: not started from a notebook cell, or not registered)."""
    with _lock:
        found = _origins.get(id(thing))
    return found[:2] if found else None


def unregister(thing: object) -> None:
    """Forget ``thing`` (it stopped by itself); harmless when it was never registered."""
    with _lock:
        for registered in _things.values():
            registered.pop(id(thing), None)
        _origins.pop(id(thing), None)


def _is_running(thing: object) -> bool:
    for name in ("alive", "running"):
        value = getattr(thing, name, None)
        if isinstance(value, bool):
            return value
    return True


def rerun_replaces() -> list[object]:
    """Called as something starts: when the cell running now ran before, stop everything its earlier
    runs started (all kinds, in ``ORDER``) and print one line naming what was running; returns those
    things. Outside a re-run (a first run, a script, a button) it does nothing and prints nothing."""
    now = current_run()
    if now is None:
        return []
    with _lock:
        earlier = [(kind, thing, _origins.pop(id(thing))) for kind in ORDER
                   for thing, _ in list(_things[kind].values())
                   if id(thing) in _origins and _origins[id(thing)][0] == now[0] and _origins[id(thing)][1] != now[1]]
        for kind, thing, _ in earlier:
            _things[kind].pop(id(thing), None)
    labels: list[str] = []
    for _kind, thing, (_cell, _run, label, replace) in earlier:
        if _is_running(thing) and label not in labels:
            labels.append(label)
        try:
            replace()
        except Exception:  # as in stop_all: one that fails to stop must not keep the others running
            pass
    if labels:
        print(f"restarted {_joined(labels)}: an earlier run of this cell had started "
              f"{'it' if len(labels) == 1 else 'them'}")
    return [thing for _, thing, _ in earlier]


def _joined(labels: list[str]) -> str:
    """'the server on a', 'the server on b' -> 'the servers on a and b'; other things stay apart."""
    groups: dict[str, list[str]] = {}
    for label in labels:
        sep = " on " if " on " in label else " to " if " to " in label else None
        head, where = label.rsplit(sep, 1) if sep else (label, "")
        groups.setdefault(head + (sep or ""), []).append(where)
    parts = []
    for head, wheres in groups.items():
        wheres.sort(key=lambda w: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", w)])
        if len(wheres) == 1 or not all(wheres):
            parts += [(head + w).strip() for w in wheres]
        else:
            words = head.split()  # 'the DNS server on ' -> 'the DNS servers on '
            words[-2 if len(words) > 1 else -1] += "s"
            parts.append(" ".join(words) + " " + ", ".join(wheres[:-1]) + " and " + wheres[-1])
    return ", ".join(parts)


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
            for thing, _ in batch:
                _origins.pop(id(thing), None)
        for _thing, stop in reversed(batch):  # newest first, as a stack unwinds
            try:
                stop()
            except Exception:  # one that fails to stop must not keep the others running
                pass


atexit.register(stop_all)
