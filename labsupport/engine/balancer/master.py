"""Master-worker mode (``-W``, global ``master-worker``) and its master CLI (``-S``), as HAProxy 2.6 does.

How it works: the master parses the configuration, binds every listener itself and starts one worker
(``python -m labsupport.balancer --worker``, worker.py) that inherits the listening sockets
(``pass_fds``) and runs the engine. A reload (``reload`` on the master CLI, SIGUSR2 or SIGHUP) checks the
file again: an invalid file leaves the old worker serving and counts a failure (``show proc``'s
``[failed: N]``); a valid one binds the new listeners, closes those no longer configured, starts a new
worker and, once it is ready, sends the old one SIGUSR1 (soft stop: it finishes what is in flight and
exits). SIGTERM/SIGINT stop every worker and the master. Workers die with the master (parent-death
signal). ``@1 cmd`` / ``@!pid cmd`` on the master CLI go to a worker's private runtime socket.
Follows HAProxy's src/mworker.c and src/cli.c (master CLI: pcli_*), 2.6 branch; the answers were
observed on HAProxy 2.6.12.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from .. import config as _config
from ..config import Config
from ..config.report import engine_version, haproxy_line
from ..proxy.runtime import usage_message

HELP = [  # the master CLI's commands at admin level, as 'help' lists them (cli.c)
    ("@!<pid>", "send a command to the <pid> process"),
    ("@<relative pid>", "send a command to the <relative pid> process"),
    ("@master", "send a command to the master process"),
    ("operator", "lower the level of the current CLI session to operator"),
    ("reload", "reload haproxy"),
    ("show cli level", "display the level of the current CLI session"),
    ("show cli sockets", "dump list of cli sockets"),
    ("show proc", "show processes status"),
    ("show version", "show version of the current process"),
    ("user", "lower the level of the current CLI session to user"),
]
# (words, usage) as cli.c registers them: an '@' prefix is one word
KEYWORDS = tuple(((c,) if c.startswith("@") else tuple(c.split()), f"{c:<40}: {t}") for c, t in HELP)
READY_TIMEOUT = 30.0


def listen_addresses(config: Config, host: str = "127.0.0.1") -> list[tuple[str, int]]:
    """Every (host, port) the configuration listens on, as the engine keys its listeners ('*' and ''
    are ``host``), and each kept ``peers`` section's local peer address: the new worker of a reload
    serves it, so the old one can hand its stick tables over (proxy/peers.py)."""
    out = []
    for fe in config.frontends:
        for b in fe.binds:
            key = (b.host if b.host not in ("", "*", "0.0.0.0", "::") else host, b.port)
            if key not in out:
                out.append(key)
    for sec in config.peers:
        if sec.address is not None and tuple(sec.address) not in out:
            out.append(tuple(sec.address))
    return out


def bind(addr: tuple[str, int]) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def uptime(since: float) -> str:
    s = int(time.time() - since)
    return f"{s // 86400}d{s % 86400 // 3600:02d}h{s % 3600 // 60:02d}m{s % 60:02d}s"


def exit_text(code: int) -> str:
    """'143 (Terminated)' as the master prints a worker's end (mworker.c)."""
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    if sig:
        names = {signal.SIGTERM: "Terminated", signal.SIGKILL: "Killed", signal.SIGINT: "Interrupt"}
        return f"{128 + sig} ({names.get(sig, 'Signal')})"
    return f"{code} (Exit)"


@dataclass
class Worker:
    proc: subprocess.Popen
    ctl: str  # its private runtime socket
    started: float = field(default_factory=time.time)
    reloads: int = 0
    old: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid


class Master:
    def __init__(self, path: str, cli: list[tuple[str, str]], host: str = "127.0.0.1", quiet: bool = False) -> None:
        self.path, self.cli, self.host, self.quiet = path, cli, host, quiet
        self.pid, self.started = os.getpid(), time.time()
        self.reloads = self.failed = 0
        self.last_failed = False
        self.sockets: dict[tuple[str, int], socket.socket] = {}
        self.workers: list[Worker] = []
        self.dir = tempfile.mkdtemp(prefix="lab-master-")
        self.seq = 0
        self.done: asyncio.Future | None = None
        self.code = 0
        self._reloading = False

    def say(self, level: str, text: str) -> None:
        if not self.quiet or level == "ALERT":
            print(haproxy_line(level, text, self.pid, config=False), file=sys.stderr, flush=True)

    @property
    def current(self) -> Worker | None:
        return next((w for w in reversed(self.workers) if not w.old), None)

    # ----- life cycle
    async def run(self, config: Config) -> int:
        loop = asyncio.get_running_loop()
        self.done = loop.create_future()
        self.rebind(config)
        servers = []
        for path, _level in self.cli:
            if os.path.exists(path):
                os.unlink(path)
            servers.append(await asyncio.start_unix_server(self.client, path))
        if await self.spawn() is None:
            self.say("ALERT", "Failed to start the worker. Exiting...")
            await self.shutdown()
            return 1
        self.say("NOTICE", "Loading success.")
        for sig in (signal.SIGUSR2, signal.SIGHUP):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.reload()))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: self.finish(0, "Exiting Master process..."))
        watcher = asyncio.ensure_future(self.watch())
        try:
            await self.done
        finally:
            watcher.cancel()
            for s in servers:
                s.close()
            for path, _level in self.cli:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            await self.shutdown()
        return self.code

    def finish(self, code: int, why: str) -> None:
        if self.done is not None and not self.done.done():
            self.say("WARNING", why)
            self.code = code
            self.done.set_result(None)

    async def shutdown(self) -> None:
        """SIGTERM to every worker (a hard stop), wait for them, then close the listeners."""
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while any(w.proc.poll() is None for w in self.workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
            self._ended(w)
        self.workers = []
        if self.done is not None:
            self.say("WARNING", f"All workers exited. Exiting... ({self.code})")
        for s in self.sockets.values():
            s.close()
        self.sockets = {}

    def _ended(self, w: Worker) -> None:
        code = w.proc.returncode
        if w.old:
            self.say("WARNING", f"Former worker ({w.pid}) exited with code {exit_text(code)}")
        else:
            self.say("ALERT", f"Current worker ({w.pid}) exited with code {exit_text(code)}")

    async def watch(self) -> None:
        """Reap the workers; the current one dying ends the master, as HAProxy's exit-on-failure."""
        while True:
            await asyncio.sleep(0.05)
            for w in list(self.workers):
                if w.proc.poll() is not None:
                    self.workers.remove(w)
                    self._ended(w)
                    if not w.old:
                        self.finish(1, "Exiting Master process...")

    def rebind(self, config: Config) -> None:
        """Listen on every address of ``config`` (new ones bound now, kept ones reused); close the rest."""
        wanted = listen_addresses(config, self.host)
        fresh = {}
        for addr in wanted:
            fresh[addr] = self.sockets.get(addr) or bind(addr)
        for addr, sock in self.sockets.items():
            if addr not in fresh:
                sock.close()
        self.sockets = fresh

    async def spawn(self) -> Worker | None:
        """Start a worker on the current sockets; it is returned once it serves (None if it failed)."""
        self.seq += 1
        ctl = os.path.join(self.dir, f"worker-{self.seq}.sock")
        r, w = os.pipe()
        fds = ",".join(f"{h}:{p}={s.fileno()}" for (h, p), s in self.sockets.items())
        argv = [sys.executable, "-m", "labsupport.balancer", "--worker", "-f", self.path, "--host", self.host,
                "--ctl", ctl, "--ready-fd", str(w), "--master-pid", str(self.pid)]
        if fds:
            argv += ["--fds", fds]
        if self.quiet:
            argv.append("-q")
        proc = subprocess.Popen(argv, pass_fds=[w, *(s.fileno() for s in self.sockets.values())])
        os.close(w)
        worker = Worker(proc, ctl)
        self.say("NOTICE", f"New worker ({proc.pid}) forked")
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        os.set_blocking(r, False)

        def readable() -> None:
            try:
                data = os.read(r, 16)
            except BlockingIOError:
                return
            if not got.done():
                got.set_result(data)

        loop.add_reader(r, readable)
        try:
            ready = await asyncio.wait_for(got, READY_TIMEOUT)
        except asyncio.TimeoutError:
            ready = b""
        finally:
            loop.remove_reader(r)
            os.close(r)
        if ready != b"R":
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            return None
        self.workers.append(worker)
        return worker

    async def reload(self) -> None:
        """Check the file again; on success a new worker takes over and the old ones soft-stop."""
        if self._reloading:
            return
        self._reloading = True
        try:
            self.say("NOTICE", "Reloading HAProxy")
            self.reloads += 1
            for w in self.workers:
                w.reloads += 1
            code, out, err = _config.check(self.path, pid=self.pid)
            if code != 0:
                sys.stderr.write(err)
                sys.stderr.flush()
                self.fail()
                return
            try:
                config = _config.load(self.path)
                self.rebind(config)
            except Exception as e:  # a port taken by another program, a file gone meanwhile
                self.say("ALERT", str(e))
                self.fail()
                return
            old = [w for w in self.workers if not w.old]
            if await self.spawn() is None:
                self.say("ALERT", "the new worker did not start; the old one keeps serving")
                self.fail()
                return
            self.last_failed = False
            self.failed = 0  # HAProxy counts the failures since the last successful load
            self.say("NOTICE", "Loading success.")
            for w in old:
                w.old = True
                if w.proc.poll() is None:
                    w.proc.send_signal(signal.SIGUSR1)
        finally:
            self._reloading = False

    def fail(self) -> None:
        self.failed += 1
        self.last_failed = True
        self.say("WARNING", "Loading failure!")

    # ----- the master CLI
    def show_proc(self) -> str:
        row = "{:<15} {:<15} {:<15} {:<15} {:<15}\n"
        out = "#" + "{:<14} {:<15} {:<15} {:<15} {:<15}\n".format("<PID>", "<type>", "<reloads>", "<uptime>",
                                                                  "<version>")
        version = engine_version()
        out += row.format(self.pid, "master", f"{self.reloads} [failed: {self.failed}]", uptime(self.started),
                          version)
        out += "# workers\n"
        for w in self.workers:
            if not w.old:
                out += row.format(w.pid, "worker", w.reloads, uptime(w.started), version)
        old = [w for w in self.workers if w.old]
        if old:
            out += "# old workers\n"
            for w in old:
                out += row.format(w.pid, "worker", w.reloads, uptime(w.started), version)
        return out + "# programs\n\n"

    def target(self, prefix: str) -> Worker | str | None:
        """'@master'/'@0' -> 'master'; '@1' -> the current worker; '@!pid' -> that worker; else None."""
        word = prefix[1:]
        if word in ("master", "0"):
            return "master"
        if word == "1":
            return self.current
        if word.startswith("!") and word[1:].isdigit():
            return next((w for w in self.workers if w.pid == int(word[1:])), None)
        return None

    async def forward(self, worker: Worker, line: str) -> str:
        try:
            reader, writer = await asyncio.open_unix_connection(worker.ctl)
        except OSError:
            return f"The worker {worker.pid} does not answer (it is stopping).\n"
        try:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            return (await asyncio.wait_for(reader.read(), 30)).decode("utf-8", "replace")
        except (OSError, asyncio.TimeoutError):
            return ""
        finally:
            writer.close()

    def master_command(self, words: list[str], level: dict) -> str | None:
        """The answer to a master command (None: 'reload', handled by the caller)."""
        cmd = " ".join(words)
        if cmd == "show proc":
            return self.show_proc()
        if cmd == "show version":
            return engine_version() + "\n\n"
        if cmd == "show cli level":
            return level["level"] + "\n\n"
        if cmd in ("operator", "user"):
            if cmd == "operator" and level["level"] == "user":
                return "Permission denied\n\n"
            level["level"] = cmd
            return ""
        if cmd == "show cli sockets":
            return "The course engine's master does not implement 'show cli sockets'.\n\n"
        return usage_message(words, words[:1] == ["help"], KEYWORDS) + "\n"

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One master CLI connection: lines of commands until the client ends it (HAProxy 2.6 keeps
        the connection after an answer); 'reload' and 'quit' close it, as does an unknown target."""
        state = {"level": "admin", "target": "master", "prompt": False}
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(reader.readline(), 600)
                except (asyncio.TimeoutError, ValueError):
                    break
                if not raw:
                    break
                out, close = await self.line(raw.decode("utf-8", "replace").rstrip("\r\n"), state)
                if state["prompt"] and not close:
                    out += "master[ReloadFailed]> " if self.last_failed else "master> "
                writer.write(out.encode())
                await writer.drain()
                if close:
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def line(self, text: str, state: dict) -> tuple[str, bool]:
        """One line: '@target rest' sends the rest (every command of it) to that process; a bare
        prefix sends this connection's later lines there; else ';'-separated master commands."""
        tgt, words = state["target"], text.split(None, 1)
        if words and words[0].startswith("@"):
            tgt = self.target(words[0])
            if tgt is None:
                return f"Can't find the target PID matching the prefix '{words[0]}'\n", True
            if len(words) == 1:
                state["target"] = tgt
                return "", False
            text = words[1]
        out = ""
        for part in text.split(";"):
            args = part.split()
            if args == ["quit"]:
                return out, True
            if args == ["prompt"]:
                state["prompt"] = not state["prompt"]
            elif tgt != "master":
                return out + await self.forward(tgt, text), False  # the worker runs every command of the line
            elif args == ["reload"]:
                asyncio.ensure_future(self.reload())
                return out, True  # 2.6 answers nothing and closes
            else:
                out += self.master_command(args, state)
        return out, False


def run(path: str, cli: list[tuple[str, str]], host: str, quiet: bool) -> int:
    """The master's main: returns its exit code."""
    try:
        config = _config.load(path)
    except _config.ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    master = Master(path, cli, host, quiet)
    try:
        return asyncio.run(master.run(config))
    except OSError as e:
        print(haproxy_line("ALERT", f"Starting frontend: cannot bind socket: {e}", os.getpid(), config=False),
              file=sys.stderr)
        return 1
