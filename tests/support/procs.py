"""Starting several balancers (engine or real haproxy) for one test module, all or none."""
from __future__ import annotations


def start_together(procs) -> list:
    """Start each of ``procs`` in order; if one fails, stop those already started and re-raise."""
    started: list = []
    try:
        for proc in procs:
            started.append(proc.start())
    except BaseException:
        for proc in reversed(started):
            proc.stop()
        raise
    return started
