"""The bundled load balancer: read a haproxy.cfg, balance real traffic, control it live.

    with Balancer.from_file("haproxy/myhaproxy.cfg") as lb:   # listening once this returns
        lb.set_weight("application_nodes/server01", 3)
        print(lb.stats_csv())

The engine (labsupport.engine.proxy) runs in its own thread with its own event loop, so a busy notebook
cell never stalls traffic. Every method may be called from any thread: it hops onto the engine's
loop and waits for the answer. Listeners on ``*`` or an empty address bind ``host`` (127.0.0.1
by default: the course listens on loopback only).

Command line, like haproxy:  python -m labsupport.balancer -f haproxy/myhaproxy.cfg [-c] [-q]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ... import lifecycle
from ...errors import NotRunningError
from .. import config as _config
from ..config import Config
from ..logs import texts
from ..proxy import CommandError, Engine
from ..stats import Snapshot, collect
from .worker import new_loop

__all__ = ["Balancer", "CommandError", "main", "stop_all"]


def stop_all() -> None:
    """Stop every balancer this process started (engines and real haproxy: both register as balancers)."""
    lifecycle.stop_all(("balancer",))


class Balancer:
    """A running (or ready to run) engine for one configuration."""

    reloads_config = True  # reload(config) swaps the configuration while the ports stay open

    def __init__(self, config: Config, host: str = "127.0.0.1", request_log: int = 10000) -> None:
        self.config, self.host = config, host
        self._loop = new_loop()
        self._hooks: list[Callable[[float, str, str], None]] = []  # kept across restarts and reloads
        self._engine = self._new_engine(config, request_log)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False  # stopped after running: actions then say so (before a start they prepare it)

    def _new_engine(self, config: Config, request_log: int) -> Engine:
        engine = Engine(config, self._loop, self.host, request_log)
        engine.event_hooks = self._hooks
        return engine

    @classmethod
    def from_file(cls, path: str | Path, **kw: Any) -> "Balancer":
        return cls(_config.load(str(path)), **kw)

    @classmethod
    def from_text(cls, text: str, **kw: Any) -> "Balancer":
        return cls(_config.parse(text), **kw)

    # ----- life cycle
    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, timeout: float = 10.0) -> "Balancer":
        """Open the listeners and start the health checks; returns once listening.
        Raises PortInUseError (naming the port and, when found, its holder) if a port is taken."""
        if self._thread is None:
            lifecycle.rerun_replaces()  # this cell ran before: its earlier balancer frees the ports first
        with self._lock:
            if self._thread is not None:
                return self
            if self._loop.is_closed():  # started again after stop(): a fresh loop and engine
                self._loop = new_loop()
                self._engine = self._new_engine(self.config, self._engine.requests.entries.maxlen)
            self._thread = threading.Thread(target=self._loop.run_forever, name="labsupport-balancer", daemon=True)
            self._thread.start()
            try:
                asyncio.run_coroutine_threadsafe(self._engine.start(), self._loop).result(timeout)
            except BaseException:
                self._halt()
                raise
            # stop_all() (a notebook's first cell) frees its ports
            lifecycle.register("balancer", self, label=f"the balancer on {', '.join(self.urls)}")
            self._stopped = False
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close every port and connection and stop the thread; calling it again does nothing."""
        with self._lock:
            if self._thread is None:
                return
            try:
                asyncio.run_coroutine_threadsafe(self._engine.stop(), self._loop).result(timeout)
            finally:
                self._halt()
                self._stopped = True
                lifecycle.unregister(self)

    def _halt(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

        def finish() -> None:
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

        # In a thread of its own: the caller's thread may be running a loop already (a Jupyter
        # kernel does), and run_until_complete refuses to run inside another running loop.
        closer = threading.Thread(target=finish, name="labsupport-balancer-close", daemon=True)
        closer.start()
        closer.join(10)

    def __enter__(self) -> "Balancer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # a forgotten balancer must not keep its ports
        try:
            if self._thread is not None:
                self.stop(2.0)
        except Exception:
            pass

    # ----- calling into the engine's loop
    def _call(self, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        if self._thread is None or threading.current_thread() is self._thread:
            return fn(*args)

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def _act(self, fn: Callable[..., Any], *args: Any) -> Any:
        """An action on the running engine; on a stopped balancer, a one-line error (reads still answer)."""
        if self._stopped:
            raise NotRunningError(f"this balancer on {', '.join(self.urls)} is stopped (stop() or stop_all()), so "
                                  "nothing would change: start it again (.start()) or run the cell that starts it")
        return self._call(fn, *args)

    # ----- live controls (HAProxy runtime API meanings and messages)
    def set_weight(self, server: str, weight: int | str) -> None:
        """``set server be/s weight N`` (0..256, or 'N%' of the initial weight); 'be/s' or 's'."""
        self._act(self._engine.set_weight, server, weight)

    def get_weight(self, server: str) -> str:
        """``get weight be/s`` -> '5 (initial 10)'."""
        return self._call(self._engine.get_weight, server)

    def set_state(self, server: str, state: str) -> None:
        """``set server be/s state ready|drain|maint``."""
        self._act(self._engine.set_state, server, state)

    def enable(self, server: str) -> None:
        self._act(self._engine.enable, server)

    def disable(self, server: str) -> None:
        self._act(self._engine.disable, server)

    def set_health(self, server: str, state: str) -> None:
        """``set server be/s health up|down``: force the check result."""
        self._act(self._engine.set_health, server, state)

    def command(self, line: str, level: str = "admin") -> str:
        """Run a runtime API line (``show stat``, ``set server be/s state drain``...) as the stats
        socket would, at ``level``, and return HAProxy's answer text."""
        return self._act(self._engine.runtime.execute, line, level)

    @property
    def socket_path(self) -> str | None:
        """The UNIX socket of ``stats socket`` (None without one)."""
        return self.config.stats_socket

    def reload(self, config: Config | str) -> None:
        """Apply a new configuration (a Config or its text) without closing the listeners."""
        if isinstance(config, str):
            config = _config.parse(config)
        self.config = config
        if self._thread is None:
            self._engine = self._new_engine(config, self._engine.requests.entries.maxlen)
            return
        asyncio.run_coroutine_threadsafe(self._engine.reload(config), self._loop).result(10)

    # ----- reading
    def snapshot(self) -> Snapshot:
        """Every counter now (frontends, servers, backends) with HAProxy's column names."""
        return self._call(collect, self._engine)

    def stats_csv(self) -> str:
        """The stats CSV exactly as HAProxy's ``show stat`` prints it."""
        return self.snapshot().csv()

    def events(self, since: int = 0) -> tuple[list[str], int]:
        """Log lines (server UP/DOWN, ...) from index ``since`` on, and the index to ask next."""
        entries, nxt = self._call(self._engine.events.since, since)
        return [line for _, _, line in entries], nxt

    def on_event(self, callback: Callable[[float, str, str], None]) -> Callable[[], None]:
        """Call ``callback(unix_time, level, text)`` for every event from now on (server UP/DOWN,
        health-check lines, "backend X has no server available!"), in the engine's thread: keep it
        quick. ``text`` is what HAProxy sends to a ``log`` target (no "[LEVEL] (pid) :" prefix).
        Returns a function that removes the callback."""
        self._hooks.append(callback)

        def remove() -> None:
            if callback in self._hooks:
                self._hooks.remove(callback)

        return remove

    def requests(self, since: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Answered requests from index ``since`` on: time, client, backend, server, status, ms."""
        entries, nxt = self._call(self._engine.requests.since, since)
        keys = ("time", "client", "backend", "server", "status", "ms")
        return [dict(zip(keys, e)) for e in entries], nxt

    def logs(self, since: int = 0) -> tuple[list[str], int]:
        """Log lines (``option httplog`` with ``log global`` and ``log stdout``) from index ``since``
        on, and the index to ask next: what real HAProxy would write on its standard output."""
        entries, nxt = self._call(self._engine.logs.entries, since)
        return texts(entries), nxt  # written here, not on the engine's loop

    @property
    def warnings(self) -> tuple:
        """The configuration's warnings (located Messages), as ``haproxy -c`` would print them."""
        return self.config.warnings

    @property
    def ports(self) -> list[int]:
        return [b.port for p in self.config.frontends for b in p.binds]

    @property
    def text(self) -> str:
        """The configuration text this balancer runs."""
        return self.config.text

    @property
    def urls(self) -> list[str]:
        return [f"http{'s' if b.tls else ''}://{self.host if b.host in ('', '*') else b.host}:{b.port}/"
                for p in self.config.frontends for b in p.binds]

    @property
    def url(self) -> str:
        """The first frontend's address, only while the balancer runs: a cell never talks by mistake
        to whatever else holds the port after a failed start."""
        if self._thread is None:
            raise NotRunningError(f"this balancer is not running, so nothing of yours answers at {self.urls[0]} "
                                  "(did its start fail?). Fix what its start reported, then run that cell again.")
        return self.urls[0]

    def __repr__(self) -> str:
        return self._call(self._describe)

    def _describe(self) -> str:
        eng = self._engine
        parts = []
        for fe in eng.frontends.values():
            binds = " ".join(f":{b.port}{' ssl' if b.tls else ''}" for b in fe.cfg.binds)
            targets = [fe.default_backend] if fe.default_backend else []
            targets += [be for _, be in fe.rules if be is not None and be not in targets]
            routes = [_describe_backend(be) for be in targets]
            routes += [f"by request: {r.backend}" for r, be in fe.rules if be is None]  # use_backend %[...]
            routes = "; ".join(routes) or "no backend"
            parts.append(f"{fe.name} {binds} -> {routes}")
        state = "" if self.running else " (stopped)"
        return f"<Balancer{state} " + " | ".join(parts) + ">"


def _describe_backend(be) -> str:
    servers = ", ".join(
        f"{s.name} {'UP' if s.health.status == 'no check' else s.health.status} w{be.algo.weight(s.name)}"
        for s in be.servers.values()
    )
    return f"{be.name} {be.algo.name}: {servers or 'no server'}"


# ----- command line
def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labsupport.balancer",
                                 description="The course's load balancer: runs a haproxy.cfg like 'haproxy -f'.")
    ap.add_argument("-f", dest="file", required=True, help="configuration file")
    ap.add_argument("-c", dest="check", action="store_true", help="only check the configuration")
    ap.add_argument("-q", dest="quiet", action="store_true", help="print nothing but errors")
    ap.add_argument("--host", default="127.0.0.1", help="address for '*' and empty binds (default 127.0.0.1)")
    ap.add_argument("-W", dest="master", action="store_true", help="master-worker mode (reload without a refused "
                    "connection: 'reload' on the master CLI, SIGUSR2 or SIGHUP)")
    ap.add_argument("-S", dest="cli", action="append", default=[], metavar="PATH[,level LEVEL]",
                    help="the master CLI on this UNIX socket")
    ap.add_argument("-db", dest="foreground", action="store_true", help="stay in the foreground (always the case)")
    for flag in ("-sf", "-st"):
        ap.add_argument(flag, nargs="+", metavar="PID", help=argparse.SUPPRESS)
    for flag in ("--worker", "--fds", "--ctl", "--ready-fd", "--master-pid"):  # master.py starts workers so
        ap.add_argument(flag, **({"action": "store_true"} if flag == "--worker" else {}), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        from .worker import run as run_worker

        return run_worker(args.file, args.host, args.fds or "", args.ctl, int(args.ready_fd), int(args.master_pid),
                          args.quiet)
    check = getattr(_config, "check", None)
    if check is not None:
        code, out, err = check(args.file)
        if not args.quiet:
            sys.stderr.write(err)
        if args.check or code != 0:
            if not args.quiet:
                sys.stdout.write(out)
            return code
    elif args.check:
        try:
            _config.load(args.file)
        except _config.ConfigError as e:
            print(e, file=sys.stderr)
            return 1
        if not args.quiet:
            print("Configuration file is valid")
        return 0
    if args.master or args.cli or _config.load(args.file).master_worker:
        from .master import run as run_master

        for c in args.cli:
            if "," in c:  # HAProxy reads bind options there (mode, user, level ...)
                print(f"[WARNING]  ({os.getpid()}) : -S {c}: the course engine ignores the options after the "
                      "path; its master CLI is at level admin", file=sys.stderr)
        return run_master(args.file, [(c.split(",")[0], "admin") for c in args.cli], args.host, args.quiet)
    try:
        lb = Balancer.from_file(args.file, host=args.host)
        # SO_REUSEPORT unless 'noreuseport', as HAProxy binds: a later '-sf PID' process binds beside us
        lb._engine.reuse_port = not lb.config.noreuseport
        lb.start()
    except Exception as e:  # PortInUseError, ConfigError: say it plainly, exit like haproxy
        print(f"[ALERT]    : {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"{lb!r}", file=sys.stderr)
    soft: list[int] = []
    if threading.current_thread() is threading.main_thread():  # stop on SIGTERM too, like haproxy
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGUSR1, lambda *_: soft.append(1))  # soft stop, as a later '-sf' asks
    for pid in args.sf or args.st or ():  # listening now: the old processes may go (soft or hard)
        try:
            os.kill(int(pid), signal.SIGUSR1 if args.sf else signal.SIGTERM)
        except (ValueError, OSError) as e:
            print(f"[WARNING]  ({os.getpid()}) : could not signal old process {pid}: {e}", file=sys.stderr)
    seen = seen_logs = 0
    try:
        while True:
            if soft:
                asyncio.run_coroutine_threadsafe(lb._engine.soft_stop(lb.config.hard_stop_after), lb._loop).result()
                soft.clear()
                break
            lines, seen = lb.events(seen)
            for line in lines:
                if not args.quiet:
                    print(line, file=sys.stderr, flush=True)
            lines, seen_logs = lb.logs(seen_logs)
            if lines:  # 'log stdout': HAProxy writes them on its standard output
                sys.stdout.write("".join(line + "\n" for line in lines))
                sys.stdout.flush()
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        lb.stop()
    return 0

