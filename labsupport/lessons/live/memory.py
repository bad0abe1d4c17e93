"""What a balancer knows that a reload may forget: its counters and its stick tables.

    before = memory(lb, "before the reload")   -> one row: the worker's pid, the frontend's request count
    lb.reload()                                    (stot) and its stick table's entries
    memory(lb, "after", earlier=before)       -> the two rows, one above the other

A read of ``show info`` (the worker's pid), ``show stat`` (the course's one CSV parser) and ``show table``; works on anything with
``command()`` and ``stats_csv()``: the engine and real HAProxy, in-thread or master-worker.
"""
from __future__ import annotations

from ...course.display.table import Table
from ...course.haproxy import parse_stat_csv
from ...errors import NotFoundError


def memory(balancer, label: str = "now", frontend: str = "www", earlier: Table | None = None) -> Table:
    """The frontend's request count (``stot``) and the number of entries in its stick table, now (below the
    rows of ``earlier``, another ``memory`` table, when given)."""
    rows = [r for r in parse_stat_csv(balancer.stats_csv())
            if r.get("pxname") == frontend and r.get("svname") == "FRONTEND"]
    if not rows:
        raise NotFoundError(f"no frontend {frontend!r} on this balancer")
    dump = balancer.command(f"show table {frontend}")
    entries = sum(1 for line in dump.splitlines() if line.startswith("0x"))
    info = dict(line.split(": ", 1) for line in balancer.command("show info").splitlines() if ": " in line)
    pid = info.get("Pid", "?")  # the worker's process id ('pid' in show stat is a process number: 1)
    row = {"when": label, "worker pid": pid, "requests counted (stot)": int(rows[0].get("stot") or 0),
           "stick-table entries": entries if dump.startswith("# table") else "no table"}
    return Table((list(earlier.rows) if earlier is not None else []) + [row],
                 ["when", "worker pid", "requests counted (stot)", "stick-table entries"])
