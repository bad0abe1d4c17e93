"""Reading a stats snapshot (the engine's ``Balancer.snapshot()`` or real HAProxy's ``show stat``):
its server rows, and its numbers read leniently.

Stats values arrive as ints from the engine and as strings from HAProxy's CSV, and a cell may be
empty ("" for a server without checks): ``as_int`` reads them all the same way.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping


def as_int(value: Any, default: Any = 0) -> Any:
    """``'12'`` and ``12`` -> 12; ``''``, ``None`` or anything else that is not a whole number -> ``default``."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def server_rows(snapshot: Mapping | Iterable[Mapping], backend: str | None = None) -> list[Mapping]:
    """The per-server rows of a snapshot (or of a plain list of rows), optionally of one backend."""
    rows = snapshot.get("servers", snapshot.get("rows", [])) if isinstance(snapshot, Mapping) else snapshot
    return [r for r in rows if r.get("svname") not in ("FRONTEND", "BACKEND")
            and (backend is None or r.get("pxname") == backend)]

