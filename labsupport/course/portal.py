"""A door from this process into the lab: 127.0.0.1:PORT here leads to ADDRESS:PORT on the lab's switch.

    portal = Portal(lab["client"], "10.0.0.2", 80)   # the balancer in host lb1, as seen from host client
    urllib.request.urlopen(portal.url)               # from the notebook's own kernel

Why: the kernel stays in the machine's namespaces (JupyterLab must reach it), and no route leads from there
to 10.0.0.0/24 (labsupport/course/hosts.py). But a UNIX socket is a file, and files are shared: a relay in a
host (``delayrelay.py unix:PATH ADDRESS:PORT``) listens on a socket file in this user's run folder, and a
thread here accepts on 127.0.0.1 and hands each connection to that file. So charts, the traffic sender and
a browser can use the lab's servers by an ordinary URL; what they reach sees the host's address as the peer.

It ends with ``stop()``, ``lifecycle.stop_all()``, or its lab (the relay inside dies with it; connections
made after that fail at once).
"""
from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from labsupport import lifecycle
from labsupport.course.hosts import Host, end_process
from labsupport.errors import LabError
from labsupport.rundir import run_dir

RELAY = Path(__file__).with_name("delayrelay.py")
_numbers = itertools.count(1)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Portal:
    """127.0.0.1:``port`` in this process leads to ``address``:``target_port`` as ``host`` reaches it."""

    def __init__(self, host: Host, address: str, target_port: int, delay_ms: float = 0):
        self.host, self.address, self.target_port = host, address, target_port
        self.path = run_dir() / f"portal-{os.getpid()}-{next(_numbers)}.sock"
        self._relay = host.popen([sys.executable, str(RELAY), f"unix:{self.path}", f"{address}:{target_port}",
                                  "--delay-ms", str(delay_ms)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        first = self._relay.stdout.readline()
        if not first.startswith("relaying"):
            raise LabError(f"the portal's relay in host {host.name} did not start: "
                           f"{(first + self._relay.stderr.read()).strip()}")
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name=f"portal {self.port}", daemon=True)
        self._thread.start()
        lifecycle.register("child", self, label=f"the portal to {address}:{target_port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self._server.fileno() != -1

    def _accept(self) -> None:
        while True:
            try:
                outside, _ = self._server.accept()
            except OSError:  # stop() closed the listening socket
                return
            threading.Thread(target=self._carry, args=(outside,), daemon=True).start()

    def _carry(self, outside: socket.socket) -> None:
        """One connection: both directions, then both sockets closed."""
        with outside, socket.socket(socket.AF_UNIX) as inside:
            try:
                inside.connect(str(self.path))
            except OSError:
                return
            back = threading.Thread(target=_pump, args=(inside, outside), daemon=True)
            back.start()
            _pump(outside, inside)
            back.join()

    def stop(self) -> None:
        """Close the door: no new connection; the relay in the host ends."""
        lifecycle.unregister(self)
        self._server.close()
        end_process(self._relay)
        self.path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"<Portal {state} -> {self.address}:{self.target_port} via host {self.host.name}>"
