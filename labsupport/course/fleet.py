"""Start, list, kill and restart the course's Flask application servers as real processes.

How it works: the parent binds each listening socket itself (port 0 lets the kernel choose a
free port, so there is no race between choosing and binding) and hands the socket to a new
``python backends/app.py PORT --fd N`` process in its own session. A server is "ready" once it
answers ``GET /health``. Servers die with the kernel: the child sets a parent-death signal and
watches the parent pid; the parent registers each one with ``lifecycle``, which ``stop_all`` and the
interpreter's exit empty.
Every child is reaped (``poll``/``wait``) so no zombie is left behind.
"""
from __future__ import annotations

import errno
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import lifecycle
from ..errors import NotFoundError, NotRunningError, ServerNotRunningError, ServerStartError
from ..ports import free_ports, in_use
from ..rundir import run_dir
from .display.table import Table

__all__ = ["APP", "Fleet", "Server", "bind_listener", "free_ports", "run_log_dir", "stop_all"]

APP = Path(__file__).resolve().parents[2] / "backends" / "app.py"

# Server logs: one folder per Python process (a notebook's kernel), <logs>/<pid>; <logs>/latest points to
# the newest. <logs> is LOG_ROOT, by default "logs" in this user's run-time folder (labsupport.rundir: never
# a /tmp folder another user owns). Folders of processes that have ended go when the next one starts.
LOG_ROOT: Path | None = None
_run_dir: Path | None = None


def log_root() -> Path:
    """Where every kernel of this user keeps its servers' logs (``latest`` inside is the newest run's)."""
    return LOG_ROOT if LOG_ROOT is not None else run_dir() / "logs"


@dataclass
class Server:
    """One application server process."""

    host: str
    port: int
    proc: subprocess.Popen
    log_path: Path
    options: dict = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    ended_as: str | None = None  # 'stopped', 'killed' or 'replaced' (its cell ran again) when we ended it

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None  # poll() also reaps a child killed from a terminal

    @property
    def state(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "running"
        if self.ended_as:
            return self.ended_as
        if code < 0:  # ended by a signal from outside, e.g. `kill -9` in a terminal
            return f"killed ({signal.Signals(-code).name})" if -code in signal.valid_signals() else "killed"
        return f"exited ({code})"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def run_log_dir() -> Path:
    """This process's log folder (made on first use); removes the folders of processes that ended."""
    global _run_dir
    if _run_dir is not None and _run_dir.is_dir():
        return _run_dir
    root = log_root()
    try:
        root.mkdir(exist_ok=True)
        for old in root.iterdir():
            if old.name.isdigit() and int(old.name) != os.getpid() and not _alive(int(old.name)):
                shutil.rmtree(old, ignore_errors=True)
        here = root / str(os.getpid())
        here.mkdir(exist_ok=True)
        link = root / f".latest-{os.getpid()}"
        link.unlink(missing_ok=True)
        link.symlink_to(here.name)
        os.replace(link, root / "latest")  # atomic: readers never see a missing 'latest'
    except OSError:  # no symlinks here, or a full disk: a private folder still works
        here = Path(tempfile.mkdtemp(prefix="lab-fleet-"))
    _run_dir = here
    return here


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind and listen on (host, port); a taken port raises PortInUseError naming its holder."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:  # the error names the holder and the call that frees the port
            raise in_use(port, host) from None
        raise
    sock.listen(128)
    return sock


def _wait_ready(server: Server, deadline: float) -> None:
    while True:
        if not server.alive:
            raise ServerStartError(
                f"server {server.host}:{server.port} exited during start-up (exit code {server.proc.returncode})",
                server.log_tail(),
            )
        try:
            if _get(server.host, server.port, "/health", max(0.1, deadline - time.time()),
                    tls=bool(server.options.get("tls")))[0] == 200:
                return
        except OSError:
            pass
        if time.time() > deadline:
            raise ServerStartError(f"server {server.host}:{server.port} did not answer in time", server.log_tail())
        time.sleep(0.02)


def _signal(server: Server, sig: int, wait: float = 5.0) -> None:
    if server.alive:
        server.ended_as = "killed" if sig == signal.SIGKILL else "stopped"
    if server.alive:
        try:
            os.kill(server.pid, sig)
        except ProcessLookupError:
            pass
    try:
        server.proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def _get(host: str, port: int, path: str, timeout: float, method: str = "GET", tls: bool = False) -> tuple[int, bytes]:
    """GET ``path`` from one server directly: (status, body); OSError when it does not answer. ``tls``: over
    HTTPS, without checking the certificate (the fleet talks to its own servers)."""
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _replace(server: Server) -> None:  # its cell ran again: a new server takes this address
    _signal(server, signal.SIGKILL, wait=2.0)
    server.ended_as = "replaced"


def _usable(server: Server, replaced_only: bool = False) -> Server:
    """``server``, when an action may use it; a one-line course error when it is stopped or replaced."""
    if server.ended_as == "replaced":
        raise NotRunningError(f"server {server.host}:{server.port} of this fleet was replaced when the cell that "
                              "started it ran again: use the new fleet that cell made")
    if not replaced_only and not server.alive:
        raise ServerNotRunningError(f"{server.host}:{server.port}", server.port)
    return server


def _asked(server: Server, path: str, method: str = "GET") -> tuple[int, bytes]:
    try:  # a server that dies meanwhile reads as not running, not as a ConnectionRefusedError
        return _get(server.host, server.port, path, 3, method=method, tls=bool(server.options.get("tls")))
    except OSError:
        if server.alive:
            raise
        raise ServerNotRunningError(f"{server.host}:{server.port}", server.port) from None


class Fleet:
    """A group of application servers.

    >>> with Fleet() as fleet:
    ...     fleet.start([8080, 8081, 8082])
    ...     fleet.kill(8081)       # a crash (SIGKILL)
    ...     fleet.restart(8081)
    """

    def __init__(self, host: str = "127.0.0.1", log_dir: str | Path | None = None, app: str | Path = APP):
        self.host = host
        self.app = Path(app)
        self.log_dir = Path(log_dir) if log_dir else run_log_dir()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._servers: dict[tuple[str, int], Server] = {}

    # ---------------------------------------------------------------- starting
    def start(
        self,
        ports: int | list[int] | None = None,
        *,
        count: int | None = None,
        host: str | None = None,
        delay_ms: float = 0,
        fail_rate: float = 0.0,
        workers: int = 0,
        service_ms: float = 0,
        service_dist: str = "fixed",
        name: str | None = None,
        https_only: bool = False,
        tls: tuple[str, str] | None = None,
        sessions: bool = False,
        version: str | int | None = None,
        timeout: float = 15.0,
    ) -> list[int]:
        """Start servers on ``ports`` (a list, or one port), or ``count`` servers on free ports.
        ``workers``/``service_ms``/``service_dist``: capacity mode (backends/capacity.py), e.g.
        ``workers=1, service_ms=20`` serves about 50 requests/s and queues the rest.
        ``name``: service mode (lesson 07): every path answers with this name and what the request
        carried; ``https_only`` makes it redirect to https unless X-Forwarded-Proto says https.
        ``tls=(cert, key)``: the server answers over HTTPS (PEM files, e.g. ``LabCA().cert_and_key("api.lab")``).
        ``sessions``: session mode (lesson 08, backends/sessions.py): a login and a cart kept in the server's
        own memory, keyed by a SESSIONID cookie (POST /login?user=NAME, GET and POST /cart?item=X).
        ``version``: the version the servers run (lesson 09): every answer's ``X-Version`` header, ``/version``.

        Returns the ports, once every server answers HTTP.
        """
        host = host or self.host
        if ports is None:
            ports = [0] * (count or 1)
        elif isinstance(ports, int):
            ports = [ports]
        opts = {"delay_ms": delay_ms, "fail_rate": fail_rate, "workers": workers, "service_ms": service_ms,
                "service_dist": service_dist, "name": name, "https_only": https_only,
                "tls": tuple(map(str, tls)) if tls else None, "sessions": bool(sessions),
                "version": None if version is None else str(version)}
        lifecycle.rerun_replaces()  # this cell ran before: its earlier servers make way (one line says so)
        started = [self._spawn(host, p, opts) for p in ports]
        deadline = time.time() + timeout
        try:
            for s in started:
                _wait_ready(s, deadline)
        except ServerStartError:
            for s in started:
                self._forget(s)
                _signal(s, signal.SIGKILL)
            raise
        return [s.port for s in started]

    def _spawn(self, host: str, port: int, opts: dict, origin: lifecycle.Origin | None = None, cell=True) -> Server:
        sock = bind_listener(host, port)
        port = sock.getsockname()[1]
        log_path = self.log_dir / f"server-{host}-{port}.log"
        cmd = [sys.executable, "-u", str(self.app), str(port), "--host", host, "--fd", str(sock.fileno()),
               "--parent-pid", str(os.getpid())]
        if opts["delay_ms"]:
            cmd += ["--delay-ms", str(opts["delay_ms"])]
        if opts["fail_rate"]:
            cmd += ["--fail-rate", str(opts["fail_rate"])]
        if opts.get("workers") or opts.get("service_ms"):
            cmd += ["--workers", str(opts["workers"]), "--service-ms", str(opts["service_ms"]),
                    "--service-dist", opts["service_dist"]]
        if opts.get("name"):
            cmd += ["--name", opts["name"]] + (["--https-only"] if opts.get("https_only") else [])
        if opts.get("tls"):
            cmd += ["--tls", *opts["tls"]]
        if opts.get("sessions"):
            cmd += ["--sessions"]
        if opts.get("version") is not None:
            cmd += ["--version", opts["version"]]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    pass_fds=(sock.fileno(),), start_new_session=True)
        sock.close()  # the child holds the listening socket now
        server = Server(host, port, proc, log_path, dict(opts))
        self._servers[(host, port)] = server
        lifecycle.register("server", server, lambda: _signal(server, signal.SIGKILL, wait=2.0),
                           label=f"the server on {host}:{port}", origin=origin, cell=cell, replace=lambda: _replace(server))
        return server

    def _forget(self, server: Server) -> None:
        lifecycle.unregister(server)

    # ---------------------------------------------------------------- control
    def _find(self, port: int | str | tuple[str, int]) -> Server:
        known = ", ".join(f"{h}:{p}" for h, p in self._servers) or "none yet: start some with fleet.start([...])"
        try:
            if isinstance(port, tuple):
                key = (port[0], int(port[1]))
            elif isinstance(port, str) and ":" in port:
                h, p = port.rsplit(":", 1)
                key = (h, int(p))
            else:
                matches = [k for k in self._servers if k[1] == int(port)]
                if len(matches) != 1:
                    what = "no server" if not matches else "several servers"
                    raise NotFoundError(f"{what} on port {port} in this fleet (servers: {known})")
                key = matches[0]
        except (TypeError, ValueError, IndexError, OverflowError):
            raise NotFoundError(f"{port!r} is not a server of this fleet: give its port, like 8080 "
                                f"(servers: {known})") from None
        if key not in self._servers:
            raise NotFoundError(f"no server {key[0]}:{key[1]} in this fleet (servers: {known})")
        return self._servers[key]

    def pid(self, port: int | str) -> int:
        """The process id of a server, e.g. to ``kill -9`` it from a terminal."""
        return self._find(port).pid

    def kill(self, port: int | str) -> None:
        """Crash a server: SIGKILL, as ``kill -9 PID`` from a terminal."""
        _signal(self._find(port), signal.SIGKILL)

    def stop(self, port: int | str) -> None:
        """Stop a server politely: SIGINT, the Ctrl+C of the article."""
        _signal(self._find(port), signal.SIGINT)

    def restart(self, port: int | str, timeout: float = 15.0, *, delay_ms: float | None = None,
                fail_rate: float | None = None, version: str | int | None = None) -> int:
        """Start a stopped or killed server again on the same address (stopping it first if alive),
        with its options, or new ones (``delay_ms``, ``fail_rate``, ``version``) when given."""
        old = _usable(self._find(port), replaced_only=True)
        origin = lifecycle.origin_of(old)  # a re-run of the cell that first started it replaces it still
        if old.alive:
            _signal(old, signal.SIGINT)
        self._forget(old)
        options = dict(old.options)
        if delay_ms is not None:
            options["delay_ms"] = delay_ms
        if fail_rate is not None:
            options["fail_rate"] = fail_rate
        if version is not None:
            options["version"] = str(version)
        new = self._spawn(old.host, old.port, options, origin, cell=origin is not None)
        _wait_ready(new, time.time() + timeout)
        return new.port

    def stop_all(self) -> None:
        """Stop every server of this fleet and reap it."""
        for s in list(self._servers.values()):
            _signal(s, signal.SIGINT, wait=2.0)
            self._forget(s)

    # ---------------------------------------------------------------- looking
    @property
    def servers(self) -> list[Server]:
        return list(self._servers.values())

    @property
    def ports(self) -> list[int]:
        return [p for _, p in self._servers]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self._servers.values()]

    def ask(self, port: int | str, path: str = "/") -> str:
        """GET a page from one server directly (no balancer): its answer, or the error in words."""
        s = self._find(port)
        try:
            return _get(s.host, s.port, path, 3, tls=bool(s.options.get("tls")))[1].decode(errors="replace")
        except OSError as e:
            return f"no answer from {s.host}:{s.port}: {e.strerror or e}"

    def slow_down(self, port: int | str, factor: float) -> dict:
        """Make one server's service time ``factor`` times longer, live (1 = normal speed again).
        Needs capacity mode (``service_ms``); answers the server's capacity state."""
        s = _usable(self._find(port))
        status, body = _asked(s, f"/admin/slowdown?factor={factor}", method="POST")
        if status != 200:
            raise ValueError(json.loads(body).get("error", body.decode(errors="replace")))
        return json.loads(body)

    def capacity(self, port: int | str) -> dict:
        """One server's capacity state: workers, service_ms, slowdown, busy, waiting, served."""
        return json.loads(_asked(_usable(self._find(port)), "/admin/capacity")[1])

    # ---------------------------------------------------------------- sick on demand
    def _admin(self, port: int | str, path: str) -> str:
        s = _usable(self._find(port))
        status, body = _asked(s, path)
        if status != 200:
            raise ValueError(body.decode(errors="replace").strip())
        return body.decode(errors="replace").strip()

    def make_sick(self, port: int | str, how: str = "fail") -> None:
        """Make a server's ``/health`` answer 503 (``how="fail"``) or never answer (``"hang"``),
        while ``/`` keeps answering: alive, but sick. ``make_healthy`` undoes it; so does a restart."""
        self._admin(port, f"/admin/health?mode={how}")

    def make_healthy(self, port: int | str) -> None:
        """``/health`` answers 200 again."""
        self._admin(port, "/admin/health?mode=ok")

    def health_mode(self, port: int | str) -> str:
        """What the server's ``/health`` does now: ``'ok'``, ``'fail'`` or ``'hang'`` (``'-'``: not running)."""
        try:
            return self._admin(port, "/admin/health")
        except (OSError, ServerNotRunningError, ValueError):
            return "-"

    def set_fail_rate(self, port: int | str, rate: float) -> None:
        """From now on the server answers ``/`` with a 500 for a fraction ``rate`` (0..1) of requests
        (its ``/health`` stays fine: only real traffic, and passive checks, see the errors)."""
        self._admin(port, f"/admin/fail-rate?rate={rate}")

    def crash_next(self, port: int | str) -> None:
        """The server's next ``GET /`` kills it while it answers: the request was delivered, the
        answer never comes (a balancer then answers 502)."""
        self._admin(port, "/admin/crash-next")

    def version(self, port: int | str) -> str:
        """The version one server runs, as it says itself (``GET /version``)."""
        return _asked(_usable(self._find(port)), "/version")[1].decode(errors="replace").strip()

    def requests_served(self, server: Server) -> int | None:
        if not server.alive:
            return None
        try:
            return int(json.loads(_get(server.host, server.port, "/info", 0.5)[1])["requests"])
        except (OSError, ValueError, KeyError):
            return None

    def status(self) -> Table:
        """A table: port, pid, state, uptime and requests served, one row per server."""
        rows = []
        now = time.time()
        for s in self._servers.values():
            alive = s.alive
            rows.append({
                "address": f"{s.host}:{s.port}",
                "pid": s.pid,
                "state": s.state,
                "uptime": f"{now - s.started_at:.1f}s" if alive else "-",
                "requests": self.requests_served(s) if alive else "-",
            })
        return Table(rows, columns=["address", "pid", "state", "uptime", "requests"])

    def __repr__(self) -> str:
        parts = [f"{s.port} {'up' if s.alive else s.state}" for s in self._servers.values()]
        return f"<Fleet {len(parts)} servers: {', '.join(parts) or 'none'}>"

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def stop_all() -> None:
    """Stop every application server this Python process started, whichever fleet it belongs to."""
    lifecycle.stop_all(("server",))
