"""Lesson 10's standard hosts: a client and a row of web servers on the lab's switch.

    lab = Lab()
    site = build_site(lab, servers=4)   # host client 10.0.0.2; hosts web1..web4 10.0.0.11..14, each serving on :80
    site.servers                        # {'web1': '10.0.0.11', 'web2': '10.0.0.12', ...}
    site.curl("client", "http://10.0.0.11/")       # 'Hi!! from server 80': fetched from inside host client
    site.curl("client", "http://10.0.0.11/info")   # JSON naming the server's own address: who answered
    site.stop()                         # the servers end (they end with the lab anyway)

Every server is the course's ``backends/app.py 80 --host ADDRESS``: the same Flask application as on
127.0.0.1 in the earlier lessons, now on a host of its own, listening on port 80 of its own address. Port 80
needs no privilege here: a command run in a host is root of that host's namespaces (course/hosts.py), and
of nothing else. The page only says the port (``Hi!! from server 80``), the same on every host now, so
``/info`` is how a client tells who answered: its ``host`` is the server's address.

``build_site`` waits until every server answers *from the client host* (a deadline, not a sleep), so when it
returns the student's first ``curl`` works. Other parts of the lesson add their own hosts to the same lab
(balancers, relays that make a server far, regions) and start servers with ``serve``/``wait_answering``.
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...course.display.table import Table
from ...course.environment import find_tool
from ...course.fleet import run_log_dir
from ...course.hosts import Host, HostProcess, Lab, require_lab
from ...errors import LabError, ServerStartError, UsageError

APP = Path(__file__).resolve().parents[3] / "backends" / "app.py"
PORT = 80
CLIENT_ADDRESS = "10.0.0.2"
FIRST_SERVER = 11  # web1 is 10.0.0.11, web2 10.0.0.12 ...
MAX_SERVERS = 9
_FETCH = ("import sys, urllib.request\n"
          "try:\n"
          "    answer = urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))\n"
          "except urllib.error.HTTPError as e:\n"
          "    answer = e\n"
          "except Exception as e:\n"
          "    sys.exit(f'{type(e).__name__}: {e}')\n"
          "sys.stdout.write(answer.read().decode('utf-8', 'replace'))\n")


def url_of(address: str, port: int = PORT, path: str = "/") -> str:
    """``http://10.0.0.11/`` (port 80 is left out, as a browser shows it)."""
    return f"http://{address}{'' if port == 80 else f':{port}'}{path}"


def fetch(host: Host, url: str, timeout: float = 5.0) -> str:
    """The page at ``url`` as ``host`` gets it (curl in that host; a Python one-liner where curl is missing).
    Any HTTP answer counts (a 503 page is a page); no answer at all raises LabError with the reason."""
    if not 0 < timeout <= 60:
        raise UsageError(f"timeout={timeout}: give seconds in (0, 60]")
    curl = find_tool("curl")
    command = ([curl, "-sS", "--max-time", f"{timeout:g}", url] if curl
               else [sys.executable, "-c", _FETCH, url, f"{timeout:g}"])
    done = host.run(command, timeout=timeout + 30)
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise LabError(f"host {host.name} got no answer from {url}: {why}")
    return done.stdout


def serve(host: Host, port: int = PORT, *options: str, log: Path | None = None) -> HostProcess:
    """Start ``backends/app.py PORT --host ADDRESS [options]`` in ``host``; returns at once (see ``wait_answering``)."""
    out = open(log, "wb") if log else subprocess.DEVNULL
    try:
        return host.popen([sys.executable, str(APP), str(port), "--host", host.address, *options],
                          stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log:
            out.close()


def wait_answering(client: Host, urls: dict[str, str], processes: dict[str, HostProcess] | None = None,
                   logs: dict[str, Path] | None = None, timeout: float = 30.0) -> None:
    """Until every URL (name -> url) answers ``client``; a process that ends first, or the deadline, raises
    ServerStartError with the end of its log."""
    left = dict(urls)
    deadline = time.monotonic() + timeout
    while left:
        for name, url in list(left.items()):
            process = (processes or {}).get(name)
            if process is not None and process.poll() is not None:
                raise ServerStartError(f"the server in host {name} ended during start-up (exit {process.returncode})",
                                       _tail((logs or {}).get(name)))
            try:
                fetch(client, url, timeout=1.0)
                del left[name]
            except LabError:
                pass
        if left and time.monotonic() > deadline:
            name = next(iter(left))
            raise ServerStartError(f"{', '.join(left)} did not answer {client.name} within {timeout:g} s "
                                   f"({left[name]})", _tail((logs or {}).get(name)))
        if left:
            time.sleep(0.05)


def _tail(log: Path | None, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log else ""
    except OSError:
        return ""


@dataclass
class Site:
    """A client host and web servers in a ``Lab``; ``servers`` maps each server's host name to its address."""

    lab: Lab
    client: Host
    servers: dict[str, str]
    port: int = PORT
    processes: dict[str, HostProcess] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def url(self, name: str, path: str = "/") -> str:
        """The URL of server ``name`` (a host name of ``servers``), as any host of the lab reaches it."""
        if name not in self.servers:
            raise UsageError(f"no server {name!r} in this site (servers: {', '.join(self.servers)})")
        return url_of(self.servers[name], self.port, path)

    def curl(self, from_host: str | Host, url: str, timeout: float = 5.0) -> str:
        """The page at ``url`` fetched from inside host ``from_host`` (a name of the lab or a Host)."""
        host = self.lab[from_host] if isinstance(from_host, str) else from_host
        return fetch(host, url, timeout)

    def who(self, from_host: str | Host, address: str, port: int | None = None) -> str:
        """Which server answers at ``address`` (its own address, from ``/info``), asked from ``from_host``."""
        page = self.curl(from_host, url_of(address, port or self.port, "/info"))
        try:
            return json.loads(page)["host"]
        except (ValueError, KeyError, TypeError):
            raise LabError(f"{address} answered /info with something that is not the course's server: "
                           f"{page[:80]!r}") from None

    def name_of(self, address: str) -> str:
        """The host name of the server at ``address`` ('' when none of this site's servers has it)."""
        return next((n for n, a in self.servers.items() if a == address), "")

    def stop(self) -> None:
        """Stop every server (the hosts stay on the switch; the lab's ``stop()`` removes them)."""
        for process in self.processes.values():
            if process.poll() is None and self.lab.running:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def table(self) -> Table:
        """One row per host of the site: name, address, role, URL, whether its server runs."""
        rows = [{"host": self.client.name, "address": self.client.address, "role": "client", "url": "",
                 "server": ""}]
        for name, address in self.servers.items():
            process = self.processes.get(name)
            rows.append({"host": name, "address": address, "role": "web server", "url": url_of(address, self.port),
                         "server": "running" if process is not None and process.poll() is None else "stopped"})
        return Table(rows, title=f"the site: {len(self.servers)} servers and a client on {self.lab.subnet}")

    def __repr__(self) -> str:
        servers = ", ".join(f"{n} {a}" for n, a in self.servers.items())
        return f"<Site client {self.client.address}; servers :{self.port} {servers}>"


def build_site(lab: Lab, servers: int = 4, *, client: str = CLIENT_ADDRESS, first: int = FIRST_SERVER,
               port: int = PORT, timeout: float = 30.0) -> Site:
    """Hosts ``client`` (address ``client``) and ``web1``..``webN`` (.``first`` up), each running the course's
    server on ``port``; returns once every server answers the client host."""
    require_lab(lab, "build_site(lab)")
    if not isinstance(servers, int) or not 1 <= servers <= MAX_SERVERS:
        raise UsageError(f"servers={servers!r}: a site has 1 to {MAX_SERVERS} servers")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise UsageError(f"port={port!r}: a TCP port is 1-65535")
    if not isinstance(first, int) or first < 1:
        raise UsageError(f"first={first!r}: the last number of web1's address, e.g. 11 for 10.0.0.11")
    base = lab.subnet.network_address
    addresses = {f"web{k}": str(base + first + k - 1) for k in range(1, servers + 1)}
    last = ipaddress.ip_address(addresses[f"web{servers}"])
    if last not in lab.subnet or last == lab.subnet.broadcast_address:
        raise UsageError(f"first={first}: web{servers} would be outside the lab's network {lab.subnet}")
    taken = [n for n in ["client", *addresses] if n in lab.hosts]
    if taken:
        raise UsageError(f"this lab already has host{'s' if len(taken) > 1 else ''} {', '.join(taken)}: "
                         "build the site in a new Lab() (run the cell that makes the lab again)")
    client_host = lab.host("client", client)
    folder = run_log_dir()
    site = Site(lab, client_host, addresses, port)
    for name, address in addresses.items():
        host = lab.host(name, address)
        site.logs[name] = folder / f"server-{name}-{address}-{port}.log"
        site.processes[name] = serve(host, port, log=site.logs[name])
    wait_answering(client_host, {n: url_of(a, port) for n, a in addresses.items()}, site.processes, site.logs,
                   timeout)
    return site
