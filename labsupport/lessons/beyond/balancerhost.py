"""A balancer that runs in a lab host: real HAProxy when it is installed, the course's engine otherwise.

    lb = HostBalancer(lab["lb"], CONFIG_TEXT).start()   # haproxy -db -f COPY, inside host lb
    lb.kind                                              # 'haproxy' (or 'engine' without haproxy)
    lb.stats()                                           # the runtime API, as for any balancer of the course

Why a subclass and not a new runner: ``course/haproxy.py`` already checks a configuration (``haproxy -c``,
messages under the student's file name), writes the copy with the course's stats socket, waits until that
socket answers and stops the process; only *where* the process starts differs. ``HAProxy.runs_in`` says
where: with a host there, it starts through ``Host.popen`` (nsenter into the host's namespaces), and it
leaves out its check that the ports are free on this machine (a port in a host is that host's own). The stats socket is a file in this user's temporary folder: files are shared with the
lab's hosts (only the network is theirs), so ``command``/``stats``/``set_weight`` work from the notebook.

The engine runs the same command line as ``haproxy`` (``-db -f COPY``) through ``labsupport.balancer``'s
``main``, importing this checkout's ``labsupport`` whatever the notebook's folder. It dies with its lab like anything started in a host.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ...course.haproxy import INSTALL, HAProxy, find_haproxy
from ...course.hosts import Host
from ...errors import ToolMissingError

_ROOT = str(Path(__file__).resolve().parents[3])  # the folder holding the labsupport package


class HostBalancer(HAProxy):
    """``text`` (a haproxy.cfg) run in ``host``: ``engine=None`` real HAProxy when installed, else the course's
    engine; ``engine=True`` the engine; ``engine=False`` HAProxy or ToolMissingError."""

    def __init__(self, host: Host, text: str, name: str = "haproxy.cfg", *, engine: bool | None = None):
        binary = None if engine else find_haproxy()
        if engine is False and binary is None:
            raise ToolMissingError("haproxy", INSTALL, "the course's engine can run this balancer instead "
                                                       "(engine=None picks it when haproxy is missing)")
        self.engine = binary is None
        self.host = self.runs_in = host
        super().__init__(text, name, binary=sys.executable if self.engine else binary)

    @property
    def kind(self) -> str:
        """Which balancer runs: 'haproxy' (real HAProxy) or 'engine' (``python -m labsupport.balancer``)."""
        return "engine" if self.engine else "haproxy"

    def _program(self) -> list[str]:
        if not self.engine:
            return [self.binary]
        # the engine imports this checkout's labsupport, wherever the notebook's folder is (check() runs it too)
        return [self.binary, "-c", f"import sys; sys.path.insert(0, {_ROOT!r}); from labsupport.balancer import main; "
                                   "sys.exit(main())"]

    def __repr__(self) -> str:
        where = ", ".join(self.urls)
        state = f"running in host {self.host.name} on {where}" if self.running else "stopped"
        return f"<HostBalancer {self.kind} {state}>"
