"""CPU time used by a process so far: what "CPU per request" figures divide by the requests answered."""
from __future__ import annotations

import os


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system, s) used so far by process ``pid`` (this process when None)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
