"""Run a haproxy.cfg on the real HAProxy binary, with the same interface as the engine's Balancer.

How it works: the student's file is never touched. ``start()`` writes a copy into a temporary
folder and runs ``haproxy -db -f COPY`` (foreground, no daemon) as a child process. The copy keeps
every line number of the original (so haproxy's messages point at the student's lines) and

- appends a second ``global`` section with ``stats socket <tmp>/admin.sock level admin`` (the
  runtime API we read stats from and change weights through) and ``noreuseport`` (so a taken
  port fails loudly instead of being silently shared with another haproxy);
- comments out lines that only make sense for a system service (``daemon``, ``user``,
  ``group``, ``chroot``, ``pidfile``, another ``stats socket``);
- rewrites ``bind`` ports through ``port_map`` ({3000: 3100}) so the same file can run next to
  the engine.

``check()`` runs ``haproxy -c`` on that copy and reports its messages under the original path.
Every process is stopped by ``stop()``, by ``atexit``, or when the kernel dies (parent-death
signal). Facts about HAProxy's runtime API: tests/vectors/runtime-api.md section 9.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import lifecycle
from ..engine.config import outline
from ..errors import CommandError, ConfigError, Message, NotRunningError, ServerStartError, ToolMissingError, UsageError
from ..ports import in_use
from .display.table import Table
from .environment import find_tool

INSTALL = "sudo apt-get install haproxy"
_WHY = "the course's bundled engine runs the same haproxy.cfg without it; real HAProxy is only needed to compare"
# global keywords for a system service, which a copy run by the course must not obey
_SERVICE_ONLY = ("daemon", "user", "group", "uid", "gid", "chroot", "pidfile", "master-worker")
_MSG = re.compile(r"^\[(ALERT|WARNING|NOTICE)\]\s*\(\d+\)\s*:\s*(?:config\s*:\s*)?(.*)$")
_LOC = re.compile(r"^(?:parsing\s+)?\[([^\]]+):(\d+)\]\s*:?\s*(.*)$")
_TRAILERS = ("haproxy version is", "path to executable is", "Error(s) found in configuration file",
             "Fatal errors found in configuration")


def find_haproxy() -> str | None:
    """Path of the haproxy binary (PATH, then /usr/sbin and /usr/local/sbin), or None."""
    return find_tool("haproxy")


def haproxy_available() -> bool:
    return find_haproxy() is not None


def haproxy_version(binary: str | None = None) -> str:
    """The installed version, e.g. ``'2.6.12-1+deb12u4'``; raises ToolMissingError when not installed."""
    binary = binary or _require_binary()
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else out.strip().splitlines()[0] if out.strip() else "unknown"


def _require_binary() -> str:
    binary = find_haproxy()
    if binary is None:
        raise ToolMissingError("haproxy", INSTALL, _WHY)
    return binary


def parse_messages(output: str) -> list[Message]:
    """haproxy's ``[ALERT] (pid) : config : parsing [file:line] : text`` lines -> Messages.

    Continuation lines (``   | ...``) join the message above; the version banner and the
    "Fatal errors found" trailers are left out (they add nothing a student can act on).
    """
    messages: list[Message] = []
    for raw in output.splitlines():
        m = _MSG.match(raw)
        if m:
            level, text = m.group(1), m.group(2).strip()
            if any(t in text for t in _TRAILERS):
                continue
            loc = _LOC.match(text)
            if loc:
                messages.append(Message(level, f"{loc.group(1)}:{loc.group(2)}: {loc.group(3)}",
                                        loc.group(1), int(loc.group(2))))
            else:
                messages.append(Message(level, text))
        elif raw.lstrip().startswith("|") and messages:
            last = messages[-1]
            messages[-1] = Message(last.level, f"{last.text} {raw.lstrip()[1:].strip()}", last.file, last.line)
    return messages


def rewrite(text: str, socket_path: str | None = None, port_map: dict[int, int] | None = None,
            keep_sockets: bool = False) -> str:
    """The copy haproxy runs: same line numbers, our stats socket, service-only lines off, ports mapped.
    ``keep_sockets`` keeps the file's own ``stats socket`` lines (next to ours)."""
    out = []
    for ln in outline(text[:-1] if text.endswith("\n") else text):
        line, words = ln.text, ln.words
        if ln.section == "global" and not ln.opens and words and (
                words[0] in _SERVICE_ONLY or (words[:2] == ("stats", "socket") and not keep_sockets)):
            out.append("#[lab: off in the course's copy] " + line)
            continue
        if words[:1] == ("bind",) and len(words) > 1 and port_map:
            addrs = []
            for addr in words[1].split(","):
                host, sep, port = addr.rpartition(":")
                if sep and port.isdigit() and int(port) in port_map:
                    addr = f"{host}:{port_map[int(port)]}"
                addrs.append(addr)
            line = ln.with_word(1, ",".join(addrs))  # the student's options and comment stay
        out.append(line)
    if socket_path:
        out += ["", "# [lab] added by labsupport.course.haproxy: the runtime API and loud port conflicts",
                "global", f"    stats socket {socket_path} level admin", "    noreuseport"]
    return "\n".join(out) + "\n"


def bind_addresses(text: str) -> list[tuple[str, int]]:
    """(host, port) of every ``bind`` line; ``*:3000`` and ``:3000`` give host ``''`` (all addresses)."""
    found = []
    for ln in outline(text):
        if ln.words[:1] != ("bind",) or len(ln.words) < 2:
            continue
        for addr in ln.words[1].split(","):
            host, sep, port = addr.rpartition(":")
            if sep and port.isdigit() and "@" not in host and not host.startswith("["):
                found.append(("" if host in ("", "*") else host, int(port)))
    return found


def check_free(host: str, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host or "0.0.0.0", port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise in_use(port, host or "*", instead="run haproxy on another port with port_map={%d: %d}"
                         % (port, port + 100)) from None
        if e.errno != errno.EADDRNOTAVAIL:  # an address this machine lacks: haproxy will say so itself
            raise
    finally:
        sock.close()


def _to_value(v: str):
    if re.fullmatch(r"-?\d+", v):
        return int(v)
    return v if v != "" else None


def parse_stat_csv(text: str) -> list[dict]:
    """``show stat`` CSV (header ``# pxname,svname,...``) -> one dict per row; numbers become ints, '' None."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("#"):
        return []
    header = lines[0].lstrip("# ").rstrip(",").split(",")
    rows = []
    for ln in lines[1:]:
        values = ln.rstrip(",").split(",") if ln.endswith(",") else ln.split(",")
        rows.append({k: _to_value(values[i]) if i < len(values) else None for i, k in enumerate(header)})
    return rows


@dataclass(frozen=True)
class ConfigCheck:
    """The result of ``haproxy -c``: ``ok``, the messages, and haproxy's output (paths as the student wrote them)."""

    ok: bool
    messages: tuple[Message, ...]
    output: str

    @property
    def warnings(self) -> list[Message]:
        return [m for m in self.messages if m.level == "WARNING"]

    def __repr__(self) -> str:
        return self.output.strip() or ("Configuration file is valid" if self.ok else "invalid configuration")


class HAProxy:
    """The real haproxy running a config file, controlled like the engine's ``Balancer``.

        with HAProxy.from_file("haproxy/myhaproxy.cfg", port_map={3000: 3100}) as hx:
            send("http://127.0.0.1:3100/", 8).servers
            hx.set_weight("application_nodes/server01", 3)
            hx.stats()
    """

    reloads_config = False  # BalancerLike: a changed file needs a restart (stop, then start)
    runs_in = None  # a lab Host (course/hosts.py) to start haproxy in, instead of this machine (lessons/beyond)

    def __init__(self, text: str, path: str | os.PathLike | None = None, *, port_map: dict[int, int] | None = None,
                 binary: str | None = None, keep_sockets: bool = False):
        self.binary = binary or _require_binary()
        self.text = text
        self.path = str(path) if path is not None else "haproxy.cfg"  # how messages name the file
        self.port_map = dict(port_map or {})
        self.keep_sockets = keep_sockets  # run the file's own 'stats socket' lines too
        self.proc: subprocess.Popen | None = None
        self.warnings: list[Message] = []
        self._dir: str | None = None
        self._log = None

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kw) -> "HAProxy":
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{path}: no such configuration file (current folder: {os.getcwd()})")
        return cls(p.read_text(), path, **kw)

    @classmethod
    def from_text(cls, text: str, name: str = "haproxy.cfg", **kw) -> "HAProxy":
        return cls(text, name, **kw)

    # ------------------------------------------------------------------ files
    def _workdir(self) -> str:
        if self._dir is None or not os.path.isdir(self._dir):
            self._dir = tempfile.mkdtemp(prefix="lab-haproxy-")
        return self._dir

    @property
    def socket_path(self) -> str:
        return os.path.join(self._workdir(), "admin.sock")

    def _write_copy(self, folder: str | None = None) -> str:
        """The copy to run; a check copy (``folder`` given) leaves out our stats socket, which would
        count as a listener and hide haproxy's "no listener" verdict on the student's file."""
        copy = os.path.join(folder or self._workdir(), Path(self.path).name or "haproxy.cfg")
        Path(copy).write_text(rewrite(self.text, None if folder else self.socket_path, self.port_map,
                                         self.keep_sockets))
        return copy

    def _program(self) -> list[str]:  # masterworker.py runs the engine's command instead
        return [self.binary]
    def _located(self, output: str, copy: str) -> str:
        return output.replace(copy, self.path)

    # ------------------------------------------------------------------ lifecycle
    def check(self) -> ConfigCheck:
        """Run ``haproxy -c -f``; return its messages, or raise ConfigError carrying them."""
        with tempfile.TemporaryDirectory(prefix="lab-haproxy-check-") as folder:
            copy = self._write_copy(folder)
            done = subprocess.run([*self._program(), "-c", "-f", copy], capture_output=True, text=True, timeout=30)
        output = self._located(done.stderr + done.stdout, copy)
        messages = parse_messages(output)
        if done.returncode != 0:
            if done.returncode == 2 and "no listener" in output:
                messages.append(Message("ALERT", f"{self.path}: the configuration has no 'bind' line, so haproxy "
                                                 "would not listen anywhere", self.path,
                                        hint="add a frontend with 'bind 127.0.0.1:3000' and a default_backend"))
            elif not any(m.level == "ALERT" for m in messages):
                messages.append(Message("ALERT", output.strip() or f"haproxy -c exited with {done.returncode}",
                                        self.path))
            raise ConfigError(messages, self.path)
        self.warnings = [m for m in messages if m.level == "WARNING"]
        return ConfigCheck(True, tuple(messages), output)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running else None

    @property
    def ports(self) -> list[int]:
        """The ports haproxy listens on (after port_map)."""
        return [p for _, p in bind_addresses(rewrite(self.text, None, self.port_map))]

    @property
    def urls(self) -> list[str]:
        """Where haproxy listens, as URLs (after port_map); a wildcard bind is reached on 127.0.0.1."""
        text = rewrite(self.text, None, self.port_map)
        tls = {port for ln in outline(text) if ln.words[:1] == ("bind",) and "ssl" in ln.words[2:]
               for _, port in bind_addresses(ln.text)}  # 'bind ... ssl': https://
        return [f"http{'s' if port in tls else ''}://{host if host not in ('', '*', '0.0.0.0') else '127.0.0.1'}:{port}/"
                for host, port in bind_addresses(text)]

    def start(self, timeout: float = 10.0) -> "HAProxy":
        """Check the config, then run haproxy in the foreground until ``stop()``; ready when its socket answers."""
        if self.running:
            return self
        lifecycle.rerun_replaces()  # this cell ran before: its earlier haproxy frees the ports first
        self.check()
        for host, port in bind_addresses(rewrite(self.text, None, self.port_map)) if self.runs_in is None else ():
            check_free(host, port)  # in a lab host, its ports are its own: haproxy reports a taken one itself
        copy = self._write_copy()
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        log_path = os.path.join(self._workdir(), "haproxy.log")
        self._log = open(log_path, "wb")
        in_main = threading.current_thread() is threading.main_thread()
        self.proc = (self.runs_in.popen if self.runs_in else subprocess.Popen)(
            [*self._program(), "-db", "-f", copy], stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent if in_main else None)
        lifecycle.register("balancer", self, label=f"real HAProxy on {', '.join(self.urls)}")
        deadline = time.monotonic() + timeout
        while True:  # bounded by the deadline
            if self.proc.poll() is not None:
                self._fail_start(f"haproxy exited during start-up (exit code {self.proc.returncode})")
            try:
                if "Name:" in self.command("show info", timeout=1.0):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._fail_start(f"haproxy did not open its stats socket within {timeout:g} s")
            time.sleep(0.02)

    def _fail_start(self, message: str) -> None:
        tail = self.log_tail()  # read before stop() deletes the log
        self.stop()
        m = re.search(r"cannot bind socket \(Address already in use\) \[([^\]]*):(\d+)\]", tail)
        if m:
            raise in_use(int(m.group(2)), m.group(1) or "*")
        raise ServerStartError(message, tail)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate haproxy, wait for it, and delete the temporary copy, socket and log. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        lifecycle.unregister(self)

    close = stop

    def __enter__(self) -> "HAProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines haproxy printed (alerts, warnings, servers going UP or DOWN)."""
        if self._dir is None:
            return ""
        try:
            text = Path(self._dir, "haproxy.log").read_text(errors="replace")
        except OSError:
            return ""
        copy = os.path.join(self._dir, Path(self.path).name or "haproxy.cfg")
        return "\n".join(self._located(text, copy).splitlines()[-lines:])

    def events(self, since: int = 0) -> tuple[list[str], int]:
        """haproxy's event lines (``[WARNING]``/``[ALERT]``/``[NOTICE]``: servers UP or DOWN, health-check
        lines...) from index ``since`` on, and the index to ask next, like ``Balancer.events``."""
        return self._printed(since, events=True)

    def logs(self, since: int = 0) -> tuple[list[str], int]:
        """The other lines haproxy printed (with ``log stdout``: its log lines) from index ``since`` on,
        and the index to ask next, like ``Balancer.logs``."""
        return self._printed(since, events=False)

    def _printed(self, since: int, events: bool) -> tuple[list[str], int]:
        if self._dir is None:
            return [], since
        try:
            text = Path(self._dir, "haproxy.log").read_text(errors="replace")
        except OSError:
            return [], since
        lines = [line for line in text.splitlines() if line.startswith("[") == events]
        return lines[since:], len(lines)

    def __repr__(self) -> str:
        where = ", ".join(f":{p}" for p in self.ports)
        state = f"running (pid {self.pid}) on {where}" if self.running else "stopped"
        return f"<HAProxy {self.path} {state}>"

    # ------------------------------------------------------------------ runtime API
    def command(self, text: str, timeout: float = 5.0) -> str:
        """Send one runtime API command (``show stat``, ``set server be/s weight 3``...) and return the reply."""
        self._need_running()
        return send_command(self.socket_path, text, timeout)

    def _need_running(self) -> None:
        if not self.running:
            raise NotRunningError(f"haproxy is not running for {self.path} (it was stopped, or its start failed): "
                                  "run the cell that starts it again")

    def stats_csv(self) -> str:
        """The stats CSV, exactly as haproxy's ``show stat`` gives it."""
        self._need_running()
        return self.command("show stat")

    def snapshot(self) -> dict:
        """Counters now: ``{'time', 'rows', 'frontends', 'backends', 'servers', 'log'}``, rows keyed by CSV column."""
        rows = parse_stat_csv(self.stats_csv())
        return {
            "time": time.time(),
            "rows": rows,
            "frontends": [r for r in rows if r.get("svname") == "FRONTEND"],
            "backends": [r for r in rows if r.get("svname") == "BACKEND"],
            "servers": [r for r in rows if r.get("svname") not in ("FRONTEND", "BACKEND")],
            "log": self.log_tail(20).splitlines(),
        }

    def stats(self, columns: tuple[str, ...] = ("pxname", "svname", "status", "weight", "scur", "stot", "lbtot",
                                                 "hrsp_2xx", "hrsp_5xx", "check_status")) -> Table:
        """The stats as a table for a notebook."""
        rows = parse_stat_csv(self.stats_csv())
        return Table([{c: "" if r.get(c) is None else r.get(c) for c in columns} for r in rows], list(columns),
                     title=f"{getattr(self, 'kind', 'haproxy')} stats for {self.path}")

    def _server(self, server: str) -> str:
        """'be/srv' as given; a bare 'srv' is found in the backends when exactly one has it."""
        if "/" in server:
            return server
        owners = [r["pxname"] for r in parse_stat_csv(self.stats_csv()) if r.get("svname") == server]
        if len(owners) != 1:
            found = "no backend has" if not owners else f"several backends have ({', '.join(owners)})"
            raise UsageError(f"{found} a server named {server!r}; write it as 'backend/server'")
        return f"{owners[0]}/{server}"

    def _admin(self, cmd: str) -> None:
        self._need_running()
        reply = self.command(cmd).strip()
        if reply:  # haproxy answers set/enable/disable with an empty line when it worked
            raise CommandError(f"haproxy refused '{cmd}': {reply}")

    def reload(self, config: object) -> None:
        """Real HAProxy run by the course takes a changed file only by a restart (``reloads_config`` is False)."""
        raise UsageError("the course runs real HAProxy without a seamless reload: stop() it, then start a new "
                         "HAProxy.from_text(...) with the edited configuration")

    def set_weight(self, server: str, weight: int | str) -> None:
        """``set server be/srv weight N`` (0..256, or 'N%' of the initial weight); from the next request."""
        self._admin(f"set server {self._server(server)} weight {weight}")

    def get_weight(self, server: str) -> tuple[int, int]:
        """(current, initial) weight, from ``get weight``."""
        self._need_running()
        reply = self.command(f"get weight {self._server(server)}").strip()
        m = re.fullmatch(r"(\d+) \(initial (\d+)\)", reply)
        if not m:
            raise CommandError(f"haproxy refused 'get weight {server}': {reply}")
        return int(m.group(1)), int(m.group(2))

    def set_state(self, server: str, state: str) -> None:
        """``set server be/srv state ready|drain|maint``."""
        self._admin(f"set server {self._server(server)} state {state}")

    def enable(self, server: str) -> None:
        self._admin(f"enable server {self._server(server)}")

    def disable(self, server: str) -> None:
        self._admin(f"disable server {self._server(server)}")


def send_command(socket_path: str | os.PathLike, text: str, timeout: float = 5.0, half_close: bool = False) -> str:
    """One line to a runtime API socket (real haproxy's or the engine's ``stats socket``), its answer:
    what ``echo "show stat" | socat stdio unix-connect:PATH`` prints. ``half_close``: for a master CLI (-S)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(os.fspath(socket_path))
        sock.sendall(text.strip().encode() + b"\n")
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks, size = [], 0
        while size < 16 << 20:  # haproxy closes after one line; the cap bounds a runaway reply
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        sock.close()
    return b"".join(chunks).decode(errors="replace")


def die_with_parent() -> None:
    """In the child: get SIGTERM when the kernel that started us dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass
