"""Ports: free ones, and who holds a taken one. Below both halves (the engine and the course)."""
from __future__ import annotations

import re
import socket
from pathlib import Path


def port_holder(port: int, host: str = "127.0.0.1") -> str | None:
    """Describe the process listening on ``port`` ("python3 app.py 8080 (pid 1234)"), if it can be found."""
    try:
        import psutil

        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
                try:
                    p = psutil.Process(c.pid)
                    args = [Path(a).name for a in p.cmdline() if not a.startswith("-")][:3]
                    if args and re.fullmatch(r"python[\d.]*", args[0]):
                        args[0] = "python3"  # the same on every machine, whatever the venv calls it
                    cmd = " ".join(args)
                    return f"{cmd or p.name()} (pid {c.pid})"
                except psutil.Error:
                    return f"pid {c.pid}"
    except Exception:  # psutil may be refused access on some systems; the error still names the port
        pass
    return None


def free_ports(n: int = 1, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports that are free now (held together while choosing, so they differ).

    For experiments and tests that must write a port into a config; servers of a Fleet get
    theirs race-free by binding port 0 themselves.
    """
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
