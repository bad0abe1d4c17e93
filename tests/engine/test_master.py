"""The engine's master-worker mode (labsupport/engine/balancer/master.py, worker.py) as a real process:
its master CLI answers (shapes observed on HAProxy 2.6.12), reloads (good and refused files, SIGUSR2,
SIGHUP), the soft stop of an old worker, and workers that never outlive their master."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labsupport.engine import config as _config
from labsupport.engine.balancer.master import HELP, listen_addresses
from tests.support.httpbackend import Backend, free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_for(cond, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def cli(path: str, line: str, half_close: bool = True, timeout: float = 10.0) -> str:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(line.encode() + b"\n")
    if half_close:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out.decode()


class Master:
    def __init__(self, tmp: Path, text: str) -> None:
        self.cfg, self.sock, self.out = tmp / "lb.cfg", str(tmp / "master.sock"), tmp / "out.txt"
        self.cfg.write_text(text)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "labsupport.balancer", "-W", "-S", self.sock, "-f",
                                      str(self.cfg)], stdout=open(self.out, "wb"), stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: os.path.exists(self.sock) and self.workers(), what="the first worker")

    def workers(self, old: bool = False) -> list[int]:
        try:
            text = cli(self.sock, "show proc")
        except OSError:
            return []
        part = text.split("# old workers\n")[1] if old and "# old workers" in text else "" if old else \
            text.split("# workers\n")[1].split("# ")[0]
        return [int(line.split()[0]) for line in part.splitlines() if line[:1].isdigit()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


@pytest.fixture
def backend():
    b = Backend("s1")
    yield b
    b.stop()


@pytest.fixture
def master(tmp_path, backend):
    port = free_port()
    text = (f"defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
            f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
            f"backend be\n    server s1 127.0.0.1:{backend.port}\n")
    m = Master(tmp_path, text)
    m.port = port
    yield m
    m.stop()


def get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = b""
        while chunk := s.recv(4096):
            out += chunk
    return out


def test_listen_addresses_lists_every_bind_once():
    cfg = _config.parse("frontend a\n    bind :8001\n    bind 127.0.0.2:8002\nlisten b\n    bind *:8001\n"
                        "    server s 127.0.0.1:9\n")
    assert listen_addresses(cfg) == [("127.0.0.1", 8001), ("127.0.0.2", 8002)]


def test_show_proc_help_and_unknown_commands_answer_as_haproxy(master):
    text = cli(master.sock, "show proc")
    lines = text.split("\n")
    assert lines[0] == "#<PID>          <type>          <reloads>       <uptime>        <version>      "
    assert re.fullmatch(rf"{master.proc.pid} +master +0 \[failed: 0\] +\d+d\d\dh\d\dm\d\ds +\S+ *", lines[1])
    assert lines[2] == "# workers" and re.fullmatch(r"\d+ +worker +0 +\d+d\d\dh\d\dm\d\ds +\S+ *", lines[3])
    assert lines[4:] == ["# programs", "", ""]
    helped = cli(master.sock, "help")
    assert helped.startswith("The following commands are valid at this level:\n  @!<pid>  ")
    assert "  reload                                  : reload haproxy\n" in helped
    assert helped.endswith("  quit                                    : disconnect\n\n")
    assert len(helped.splitlines()) == 1 + len(HELP) + 3 + 1
    unknown = cli(master.sock, "foo")
    assert unknown.startswith("Unknown command, but maybe one of the following ones is a better match:\n")
    assert unknown.endswith("  prompt                                  : toggle interactive mode with prompt\n"
                            "  quit                                    : disconnect\n\n")
    assert cli(master.sock, "").startswith("Unknown command. Please enter one of the following commands only:\n")
    assert cli(master.sock, "show cli level") == "admin\n\n"
    assert cli(master.sock, "quit") == ""


def test_commands_go_to_a_worker_by_relative_or_real_pid(master):
    worker = master.workers()[0]
    assert "Name: " in cli(master.sock, "@1 show info")
    assert f"Pid: {worker}\n" in cli(master.sock, f"@!{worker} show info")
    assert "# pxname,svname" in cli(master.sock, "@1 show stat")
    assert cli(master.sock, "@master show proc").startswith("#<PID>")
    # an unknown target answers and closes, even without our half-close
    assert cli(master.sock, "@!1 show info", half_close=False) == \
        "Can't find the target PID matching the prefix '@!1'\n"
    assert cli(master.sock, "@2 show info") == "Can't find the target PID matching the prefix '@2'\n"


def test_the_master_cli_keeps_the_connection_until_the_client_ends_it(master):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(1.0)
    s.connect(master.sock)
    s.sendall(b"show version\n")
    first = s.recv(1000)
    assert first.endswith(b"\n\n")
    with pytest.raises(socket.timeout):
        s.recv(1000)  # still open: HAProxy 2.6 waits for more
    s.sendall(b"reload\n")
    s.settimeout(10)
    assert s.recv(1000) == b""  # 'reload' answers nothing and closes
    s.close()


@pytest.mark.parametrize("how", ["cli", signal.SIGUSR2, signal.SIGHUP], ids=["cli", "SIGUSR2", "SIGHUP"])
def test_a_reload_starts_a_new_worker_and_the_old_one_leaves(master, how):
    old = master.workers()[0]
    if how == "cli":
        assert cli(master.sock, "reload") == ""
    else:
        master.proc.send_signal(how)
    new = wait_for(lambda: [w for w in master.workers() if w != old], what="a new worker")
    wait_for(lambda: not master.workers(old=True), what="the old worker to leave")
    assert get(master.port).endswith(b"s1")
    assert re.search(r"master +1 \[failed: 0\]", cli(master.sock, "show proc"))
    out = master.out.read_text()
    assert f"Former worker ({old}) exited with code 0 (Exit)" in out
    assert f"[WARNING]  ({old}) : Proxy fe stopped (cumulated conns: FE: 0, BE: 0)." in out
    assert f"[WARNING]  ({old}) : Proxy be stopped (cumulated conns: FE: 0, BE: 0)." in out
    assert new


def test_a_refused_file_keeps_the_old_worker_and_counts_the_failure(master):
    good = master.cfg.read_text()
    old = master.workers()[0]
    master.cfg.write_text(good + "global\n    foo bar\n")
    cli(master.sock, "reload")
    wait_for(lambda: "[failed: 1]" in cli(master.sock, "show proc"), what="the failure")
    text = cli(master.sock, "show proc")
    assert master.workers() == [old] and "# old workers" not in text
    assert re.search(rf"^{old} +worker +1 ", text, re.M)  # it lived through one (failed) reload
    out = master.out.read_text()
    assert f"[{master.cfg}:12] : unknown keyword 'foo' in 'global' section" in out
    assert "Loading failure!" in out
    assert get(master.port).endswith(b"s1")
    master.cfg.write_text(good)
    master.proc.send_signal(signal.SIGUSR2)
    wait_for(lambda: "2 [failed: 0]" in cli(master.sock, "show proc"), what="the good reload")


def test_a_soft_stop_closes_idle_keepalive_and_finishes_what_is_in_flight(master, backend):
    idle = socket.create_connection(("127.0.0.1", master.port), timeout=10)
    idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while not got.endswith(b"s1"):  # the head and the body may come apart
        chunk = idle.recv(4096)
        assert chunk, got
        got += chunk
    backend.delay = 1.0
    busy = socket.create_connection(("127.0.0.1", master.port), timeout=10)
    busy.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)  # the request reaches the backend (not a correctness wait: either order passes)
    old = master.workers()[0]
    cli(master.sock, "reload")
    assert idle.recv(4096) == b""  # the idle kept-alive connection is closed
    answer = b""
    while chunk := busy.recv(4096):  # the answer in flight arrives, then the connection closes
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"s1")
    assert b"connection: close" not in answer.lower()  # as HAProxy 2.6: closed without a header
    wait_for(lambda: old not in master.workers(old=True), what="the old worker to leave")
    backend.delay = 0.0
    assert get(master.port).endswith(b"s1")


def test_workers_end_with_their_master(master):
    worker = master.workers()[0]
    master.proc.send_signal(signal.SIGKILL)
    master.proc.wait(10)

    def gone() -> bool:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z"

    wait_for(gone, what="the worker to die with its master")


def test_sigterm_stops_master_and_workers(master):
    worker = master.workers()[0]
    master.proc.terminate()
    assert master.proc.wait(15) == 0
    out = master.out.read_text()
    assert f"Current worker ({worker}) exited with code 143 (Terminated)" in out
    assert "All workers exited. Exiting... (0)" in out


def test_unknown_options_are_errors(tmp_path):
    cfg = tmp_path / "x.cfg"
    cfg.write_text("frontend f\n    bind 127.0.0.1:1\n")
    bad = subprocess.run([sys.executable, "-m", "labsupport.balancer", "-f", str(cfg), "-Z"],
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "unrecognized arguments: -Z" in bad.stderr


@pytest.mark.parametrize("flag", ["-sf", "-st"])
def test_a_standalone_process_takes_over_from_an_old_one(tmp_path, backend, flag):
    """-sf: the old process finishes its request in flight (soft stop); -st: it is cut (hard stop)."""
    port = free_port()
    cfg = tmp_path / "lb.cfg"
    cfg.write_text(f"defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
                   f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
                   f"backend be\n    server s1 127.0.0.1:{backend.port}\n")
    run = [sys.executable, "-m", "labsupport.balancer", "-q", "-f", str(cfg)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    old = subprocess.Popen(run, env=env, stderr=subprocess.DEVNULL)
    new = None
    try:
        wait_for(lambda: _answers(port), what="the old process")
        # -sf: the old process waits for its answer whatever it takes. -st: it must be cut before the answer,
        # and the new process may take seconds to start on a busy machine: an answer it could never wait for
        backend.delay = 1.5 if flag == "-sf" else 60.0
        busy = socket.create_connection(("127.0.0.1", port), timeout=10)
        busy.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: backend.hits >= 2, what="the request to reach the backend")
        new = subprocess.Popen([*run, flag, str(old.pid)], env=env, stderr=subprocess.DEVNULL)
        answer = b""
        try:
            while chunk := busy.recv(4096):
                answer += chunk
        except ConnectionResetError:
            pass
        busy.close()
        assert old.wait(15) == 0
        if flag == "-sf":
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"s1")
        else:
            assert not answer.endswith(b"s1")
        backend.delay = 0.0
        assert get(port).endswith(b"s1")  # the new process serves
    finally:
        for p in (old, new):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(10)


def _answers(port: int) -> bool:
    try:
        return get(port).endswith(b"s1")
    except OSError:
        return False
