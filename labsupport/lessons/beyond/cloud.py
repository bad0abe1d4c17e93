"""Servers on other machines: can the balancer reach them, and a balancer in front of them.

    preflight("../haproxy/cloud.cfg", from_host=lab["client"])   # each server line: reached? if not, why
    start_app(lab["web4"], 8080, bind="0.0.0.0")                  # what you would run on the machine itself
    lb = cloud_balancer("../haproxy/cloud.cfg", where=lab["client"]).start()

The article's last "try it yourself" is to balance real cloud instances. What goes wrong there first is
rarely HAProxy: a server that listens on 127.0.0.1 (its own machine only), a firewall or security group that
drops the port, an address from another private network. ``preflight`` tries every ``server`` line of a
config from where the balancer will run, the way HAProxy's first health check would (a TCP connection, then
``GET /health``), and names the likely cause of each failure:

    refused       nothing listens on that address and port: started with --host 0.0.0.0, on that port?
    timed out     no answer at all: a firewall drops it (the security group must allow the port)
    unreachable   no route: a private address of another network

One code path for both worlds: ``from_host``/``where`` is a lab host (lesson 10 runs it against the
namespace hosts, so the tests cover it) or None, this machine (a student with real machines). The checks run
as a small script (``python -c``), in the host or here.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from labsupport.course.display.table import Table
from labsupport.course.haproxy import HAProxy, find_haproxy
from labsupport.course.hosts import Host, HostProcess
from labsupport.engine.balancer import Balancer
from labsupport.engine.config import parse
from labsupport.errors import LabError, UsageError

from .balancerhost import HostBalancer
from .labsite import APP, url_of, wait_answering

# run where the balancer will: for each (name, address, port), a TCP connect then GET /health; one JSON line
_CHECK = r"""
import errno, json, socket, sys, time
out = []
for name, address, port in json.loads(sys.argv[1]):
    row = {"server": name, "address": f"{address}:{port}", "result": "", "ms": None, "answer": ""}
    start = time.monotonic()
    try:
        with socket.create_connection((address, port), timeout=float(sys.argv[2])) as s:
            row["ms"] = round((time.monotonic() - start) * 1000, 1)
            s.settimeout(float(sys.argv[2]))
            s.sendall(f"GET /health HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
            row["answer"] = s.recv(200).decode("latin-1").split("\r\n")[0]
            row["result"] = "ok"
    except socket.timeout:
        row["result"] = "timed out"
    except ConnectionRefusedError:
        row["result"] = "refused"
    except OSError as e:
        row["result"] = "unreachable" if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) else f"error: {e.strerror or e}"
    out.append(row)
print(json.dumps(out))
"""

HINTS = {
    "ok": "",
    "refused": "nothing listens there: start app.py with --host 0.0.0.0 on that port (127.0.0.1 is its own machine only)",
    "timed out": "no answer at all: a firewall drops it (on a cloud: allow this port from the balancer in the security group)",
    "unreachable": "no route to it: an address of another private network? use one this machine can reach",
}


def _text(config: str | Path) -> tuple[str, str]:
    """(text, name) of a config given as a path or as the text itself."""
    if isinstance(config, Path) or "\n" not in str(config):
        path = Path(config)
        try:
            return path.read_text(), path.name
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror}") from None
    return str(config), "haproxy.cfg"


def servers_of(config: str | Path) -> list[tuple[str, str, int]]:
    """Every ``server`` line of every backend: (backend/name, address, port)."""
    text, name = _text(config)
    found = [(f"{b.name}/{s.name}", s.host, s.port) for b in parse(text, name).backends for s in b.servers
             if s.host and s.port]
    if not found:
        raise UsageError(f"{name} has no server line with an address and a port")
    return found


def preflight(config: str | Path, from_host: Host | None = None, timeout: float = 2.0) -> Table:
    """Each server of ``config`` tried from ``from_host`` (None: this machine): reached, how fast, or why not."""
    if not 0 < timeout <= 10:
        raise UsageError(f"timeout={timeout}: give seconds in (0, 10]")
    servers = servers_of(config)
    command = [sys.executable, "-c", _CHECK, json.dumps(servers), str(timeout)]
    budget = timeout * 2 * len(servers) + 30
    done = from_host.run(command, timeout=budget) if from_host else subprocess.run(
        command, capture_output=True, text=True, timeout=budget)
    try:
        rows = json.loads(done.stdout)
    except ValueError:
        raise LabError(f"the check did not run: {(done.stderr or done.stdout).strip()[-300:]}") from None
    for row in rows:
        row["hint"] = HINTS.get(row["result"], "")
        row["ms"] = "" if row["ms"] is None else row["ms"]
    where = f"host {from_host.name} ({from_host.address})" if from_host else "this machine"
    return Table(rows, ["server", "address", "result", "ms", "answer", "hint"],
                 title=f"each server, as the balancer on {where} would reach it")


def cloud_balancer(config: str | Path, where: Host | None = None, *, engine: bool | None = None) -> HAProxy | Balancer:
    """``config`` run by real HAProxy (the course's engine without it) in host ``where``, or on this machine."""
    text, name = _text(config)
    if where is not None:
        return HostBalancer(where, text, name, engine=engine)
    if engine or (engine is None and find_haproxy() is None):
        return Balancer(parse(text, name))
    return HAProxy.from_text(text, name)


def start_app(host: Host, port: int = 8080, bind: str = "127.0.0.1", timeout: float = 20.0) -> HostProcess:
    """``python3 backends/app.py PORT --host BIND`` in ``host``, as a student types it on a machine of their
    own; returns once it answers on that machine itself (``bind`` 127.0.0.1, app.py's default, answers there
    and nowhere else). Stop it with ``.terminate()``; it ends with its lab anyway."""
    if not 1 <= port <= 65535:
        raise UsageError(f"port {port}: give 1 to 65535")
    process = host.popen([sys.executable, str(APP), str(port), "--host", bind],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    local = "127.0.0.1" if bind in ("0.0.0.0", "127.0.0.1") else bind
    wait_answering(host, {host.name: url_of(local, port)}, {host.name: process}, timeout=timeout)
    return process
