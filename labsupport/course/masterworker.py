"""Real HAProxy or the course's engine in master-worker mode, driven the same way (lesson 09).

    with MasterWorker.from_file("haproxy/myhaproxy.cfg", engine=False) as mw:   # real haproxy -W
        mw.reload()                       # 'reload' on the master CLI; returns once the new worker serves
        mw.show_proc()                    # [{'pid': ..., 'type': 'master', 'reloads': 1, ...}, ...]

How it works: the copy of the configuration is written as ``HAProxy`` writes it (course/haproxy.py:
same line numbers, the course's stats socket, service-only lines off, ports mapped), then the master
runs: ``haproxy -W -S <tmp>/master.sock -db -f COPY`` or ``python -m labsupport.balancer -W -S ... -f
COPY``. ``command()`` (and so stats, weights, states) talks to the current worker through the stats
socket; ``master()`` talks to the master CLI. ``reload(text)`` rewrites the copy, asks the master to
reload and waits, with a deadline, until ``show proc`` lists a new current worker that answers
(or the failure count grows: then ConfigError with HAProxy's located messages).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import lifecycle
from ..errors import ConfigError, ServerStartError
from .haproxy import HAProxy, bind_addresses, check_free, die_with_parent, parse_messages, rewrite, send_command

_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding the labsupport package


def parse_show_proc(text: str) -> list[dict]:
    """``show proc`` -> rows {'pid', 'type', 'reloads', 'failed' (master only), 'uptime', 'version', 'old'}."""
    rows, old = [], False
    for line in text.splitlines():
        if line.startswith("# "):  # a section: '# workers', '# old workers', '# programs'
            old = line.strip() == "# old workers"
            continue
        words = line.split()
        if len(words) < 4 or not words[0].isdigit():
            continue
        row = {"pid": int(words[0]), "type": words[1], "reloads": int(words[2]), "old": old}
        rest = words[3:]
        if rest[:1] == ["[failed:"]:
            row["failed"] = int(rest[1].rstrip("]"))
            rest = rest[2:]
        row["uptime"] = rest[0] if rest else ""
        row["version"] = rest[1] if len(rest) > 1 else ""
        rows.append(row)
    return rows


class MasterWorker(HAProxy):
    """A master process and its workers: real HAProxy (``engine=False``) or the course's engine."""

    reloads_config = True  # BalancerLike: reload(text) keeps every port open

    def __init__(self, text: str, path: str | os.PathLike | None = None, *, engine: bool = False,
                 port_map: dict[int, int] | None = None, binary: str | None = None) -> None:
        self.engine = engine
        super().__init__(text, path, port_map=port_map, binary=sys.executable if engine else binary)

    def _program(self) -> list[str]:
        return [self.binary, "-m", "labsupport.balancer"] if self.engine else [self.binary]

    @property
    def master_socket(self) -> str:
        return os.path.join(self._workdir(), "master.sock")

    @property
    def url(self) -> str:
        """The first listener's URL, as ``Balancer.url``: where a lesson sends its requests."""
        return self.urls[0]

    @property
    def kind(self) -> str:
        return "engine" if self.engine else "haproxy"

    def start(self, timeout: float = 20.0) -> "MasterWorker":
        """Check the file, run the master; ready once its worker answers on the stats socket."""
        if self.running:
            return self
        lifecycle.rerun_replaces()
        self.check()
        for host, port in bind_addresses(rewrite(self.text, None, self.port_map)):
            check_free(host, port)
        copy = self._write_copy()
        for path in (self.socket_path, self.master_socket):
            if os.path.exists(path):
                os.unlink(path)
        self._log = open(os.path.join(self._workdir(), "haproxy.log"), "wb")
        env = dict(os.environ)
        if self.engine:  # the engine of this source tree, whatever the current folder
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, env.get("PYTHONPATH", "")]))
        in_main = threading.current_thread() is threading.main_thread()
        self.proc = subprocess.Popen([*self._program(), "-W", "-S", self.master_socket, "-db", "-f", copy],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=env,
                                     preexec_fn=die_with_parent if in_main else None)
        lifecycle.register("balancer", self, label=f"{self.kind} (master-worker) on {', '.join(self.urls)}")
        try:
            self._wait(lambda: self._current() is not None, timeout, "its first worker did not answer")
        except ServerStartError:
            tail = self.log_tail()
            self.stop()
            raise ServerStartError(f"{self.kind} -W did not start within {timeout:g} s", tail) from None
        return self

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:  # bounded by the deadline
            if self.proc is None or self.proc.poll() is not None:
                raise ServerStartError(f"the master exited ({what})", self.log_tail())
            try:
                if ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(f"{self.kind}: {what} within {timeout:g} s", self.log_tail())
            time.sleep(0.05)

    def _current(self) -> int | None:
        """The pid of the current worker once it answers on the stats socket."""
        rows = [r for r in self.show_proc() if r["type"] == "worker" and not r["old"]]
        if rows and "Name:" in send_command(self.socket_path, "show info", 2.0):
            return rows[0]["pid"]
        return None

    # ----- the master CLI
    def master(self, cmd: str, timeout: float = 10.0) -> str:
        """One line to the master CLI (``show proc``, ``@1 show info``, ``reload``...): its answer."""
        self._need_running()
        return send_command(self.master_socket, cmd, timeout, half_close=True)

    def show_proc(self) -> list[dict]:
        return parse_show_proc(self.master("show proc"))

    @property
    def failed(self) -> int:
        return next(r.get("failed", 0) for r in self.show_proc() if r["type"] == "master")

    def reload(self, config: str | None = None, timeout: float = 30.0, *, text: str | None = None) -> int:
        """Rewrite the copy (new text in ``config`` or ``text``), send ``reload`` on the master CLI and
        wait for the new worker; returns its pid. A refused file raises ConfigError (the old worker
        keeps serving, and ``show proc`` counts the failure)."""
        self._need_running()
        text = text if text is not None else config
        if text is not None and not isinstance(text, str):
            text = getattr(text, "text", None) or str(text)  # a Config: its text
        if text is not None:
            self.text = text
            self._write_copy()
        before = {r["pid"] for r in self.show_proc() if r["type"] == "worker"}
        failed = self.failed
        log_from = len(self.log_tail(100000).splitlines())
        self.master("reload")
        state: dict = {}

        def done() -> bool:
            rows = self.show_proc()
            if next(r.get("failed", 0) for r in rows if r["type"] == "master") > failed:
                state["failed"] = True
                return True
            new = [r for r in rows if r["type"] == "worker" and not r["old"] and r["pid"] not in before]
            if new and "Name:" in send_command(self.socket_path, "show info", 2.0):
                state["pid"] = new[0]["pid"]
                return True
            return False

        self._wait(done, timeout, "the new worker did not answer")
        if state.get("failed"):
            out = "\n".join(self.log_tail(100000).splitlines()[log_from:])
            messages = [m for m in parse_messages(out) if m.level == "ALERT"]
            raise ConfigError(messages or [], self.path)
        return state["pid"]

    def __repr__(self) -> str:
        where = ", ".join(f":{p}" for p in self.ports)
        state = f"running (master pid {self.pid}) on {where}" if self.running else "stopped"
        return f"<MasterWorker {self.kind} {self.path} {state}>"
