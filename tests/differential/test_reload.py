"""Lesson 09: real HAProxy -W and the engine's -W side by side, reloaded under steady load.

Both run the same file through labsupport.course.masterworker.MasterWorker; the backends are real
threaded HTTP servers (tests/support/httpbackend.py) and a streaming one (``/slow``: 20 bytes over ~2 s).
"""
from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from labsupport.course.masterworker import MasterWorker
from labsupport.course.traffic.generator import TrafficGenerator
from labsupport.errors import ConfigError
from tests.support.httpbackend import Backend, free_port

KINDS = [pytest.param(False, id="haproxy"), pytest.param(True, id="engine")]


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            self.send_response(200)
            self.send_header("Content-Length", "20")
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def backends():
    fleet = [Backend("s1"), Backend("s2")]
    slow = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    slow.daemon_threads = True
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    yield [b.port for b in fleet], slow.server_address[1]
    slow.shutdown()
    for b in fleet:
        b.stop()


def config(ports: list[int], slow: int, port: int, extra: str = "") -> str:
    servers = "".join(f"    server s{i} 127.0.0.1:{p}\n" for i, p in enumerate(ports, 1))
    return (f"global\n{extra}defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
            f"    timeout server 10s\nfrontend fe\n    bind 127.0.0.1:{port}\n    use_backend slow if {{ path_beg /slow }}\n"
            f"    default_backend be\nbackend be\n{servers}backend slow\n    server slow 127.0.0.1:{slow}\n")


@pytest.fixture
def run(haproxy_bin, backends):
    started = []

    def start(engine: bool, extra: str = "") -> MasterWorker:
        mw = MasterWorker(config(*backends, free_port(), extra), "reload.cfg", engine=engine).start()
        started.append(mw)
        return mw

    yield start
    for mw in started:
        mw.stop()


def failures(gen: TrafficGenerator) -> list:
    return [r for r in gen.records if not r.ok]


def under_load(mw: MasterWorker, keep_alive: bool, action) -> tuple[int, list]:
    gen = TrafficGenerator(mw.urls[0], rate=100, duration=20, keep_alive=keep_alive, timeout=5.0).start()
    try:
        deadline = time.monotonic() + 10
        while len(gen.records) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        action()
        time.sleep(0.5)  # some requests after the change too
    finally:
        gen.stop(10)
    return len(gen.records), failures(gen)


@pytest.mark.parametrize("keep_alive", [False, True], ids=["close", "keep-alive"])
@pytest.mark.parametrize("engine", KINDS)
def test_five_reloads_under_load_fail_no_request(run, engine, keep_alive):
    mw = run(engine)

    def reloads() -> None:
        for _ in range(5):
            mw.reload()
            time.sleep(0.2)

    sent, failed = under_load(mw, keep_alive, reloads)
    assert sent > 100
    assert failed == [], f"{mw.kind}: {len(failed)} of {sent} failed: {failed[:3]}"
    rows = mw.show_proc()
    assert rows[0]["type"] == "master" and rows[0]["reloads"] == 5 and rows[0]["failed"] == 0


@pytest.mark.parametrize("engine", KINDS)
def test_stop_then_start_fails_requests(run, engine):
    mw = run(engine)

    def restart() -> None:
        mw.stop()
        time.sleep(0.3)  # the gap a stop-then-start leaves (the article's way)
        mw.start()

    sent, failed = under_load(mw, False, restart)
    assert failed, f"{mw.kind}: a stop-then-start should refuse some of {sent} requests"
    assert any(r.error for r in failed)


def masked(text: str) -> str:
    """show proc without what differs between runs: pids, uptimes, versions."""
    out = []
    for line in text.splitlines():
        if line[:1].isdigit():
            words = line.split()
            words[0] = "PID"
            words = [w for w in words if not re.fullmatch(r"\d+d\d\dh\d\dm\d\ds", w)][:-1]  # version last
            line = " ".join(words)
        out.append(line)
    return "\n".join(out)


def slow_download(url: str) -> tuple[socket.socket, threading.Thread, dict]:
    host, port = re.match(r"http://([^:/]+):(\d+)/", url).groups()
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    got = {"data": b""}

    def read() -> None:
        try:
            while True:
                chunk = sock.recv(1000)
                if not chunk:
                    break
                got["data"] += chunk
        except OSError as e:
            got["error"] = e
        got["done"] = time.monotonic()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while b"\r\n\r\n" not in got["data"] and time.monotonic() < deadline:
        time.sleep(0.02)
    return sock, t, got


def test_show_proc_shapes_match_with_an_old_worker_finishing(run):
    shapes = []
    for engine in (False, True):
        mw = run(engine)
        sock, t, got = slow_download(mw.urls[0])
        mw.reload()
        mw.reload()
        deadline = time.monotonic() + 10
        while len([r for r in mw.show_proc() if r["old"]]) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # the idle middle worker leaves; the one with the download stays
        text = mw.master("show proc")
        shapes.append(masked(text))
        assert "# old workers" in text, text
        t.join(10)
        sock.close()
        assert got["data"].endswith(b"x" * 20), got
    assert shapes[0] == shapes[1]


@pytest.mark.parametrize("engine", KINDS)
def test_a_slow_download_outlives_the_reload(run, engine):
    mw = run(engine)
    sock, t, got = slow_download(mw.urls[0])
    mw.reload()
    t.join(10)
    sock.close()
    assert got["data"].endswith(b"\r\n\r\n" + b"x" * 20), got
    # the old worker closed the kept-alive connection after the answer, and added no header for it
    assert "error" not in got and b"connection: close" not in got["data"].lower()
    old = [r for r in mw.show_proc() if r["old"]]
    deadline = time.monotonic() + 10
    while old and time.monotonic() < deadline:  # the old worker leaves once its download ended
        time.sleep(0.1)
        old = [r for r in mw.show_proc() if r["old"]]
    assert old == []


@pytest.mark.parametrize("engine", KINDS)
def test_hard_stop_after_ends_the_download(run, engine):
    mw = run(engine, "    hard-stop-after 1s\n")
    sock, t, got = slow_download(mw.urls[0])
    mw.reload()
    t.join(10)
    sock.close()
    body = got["data"].partition(b"\r\n\r\n")[2]
    assert 0 < len(body) < 20, got  # cut: the old worker closed it after 1 s


@pytest.mark.parametrize("engine", KINDS)
def test_an_invalid_reload_keeps_serving(run, engine):
    mw = run(engine)
    good = mw.text
    gen = TrafficGenerator(mw.urls[0], rate=50, duration=20, timeout=5.0).start()
    try:
        with pytest.raises(ConfigError) as err:
            mw.reload(good + "global\n    foo bar\n")
        assert "reload.cfg:17: unknown keyword 'foo' in 'global' section" in str(err.value)
        time.sleep(0.5)
    finally:
        gen.stop(10)
    assert failures(gen) == [] and len(gen.records) > 10
    text = mw.master("show proc")
    assert re.search(r"^\d+ +master +1 \[failed: 1\] ", text, re.M), text
    workers = [r for r in mw.show_proc() if r["type"] == "worker"]
    assert len(workers) == 1 and workers[0]["reloads"] == 1 and not workers[0]["old"]
    mw.reload(good)  # a good file afterwards: HAProxy 2.6 counts failures since the last success
    text = mw.master("show proc")
    assert re.search(r"^\d+ +master +2 \[failed: 0\] ", text, re.M), text


def test_master_cli_answers_match(run):
    """The master CLI's own answers, byte for byte (pids, uptimes and versions masked)."""
    lines = ["help", "help show", "help foo", "foo", "reloa", "show", "", "show cli level", "operator", "@master",
             "@1", "@!1 show info", "@2 show info", "quit"]
    answers = []
    for engine in (False, True):
        mw = run(engine)
        answers.append({line: masked(mw.master(line)) for line in lines} | {"show proc": masked(mw.master("show proc"))})
    assert answers[0] == answers[1]


@pytest.mark.parametrize("engine", KINDS)
def test_a_connection_accepted_before_the_reload_is_still_served(run, engine):
    """A client connected to the old worker but had not sent its request yet when the reload came: the old
    worker serves it (and closes the connection after the answer); only connections idle after an answer
    are closed at once. (A reload under load once cut such a request on the engine.)"""
    mw = run(engine)
    port = mw.ports[0]

    def frontend_sessions() -> int:
        row = next(line for line in mw.command("show stat").splitlines() if line.startswith("fe,FRONTEND,"))
        return int(row.split(",")[4])

    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        deadline = time.monotonic() + 10
        while frontend_sessions() != 1:  # the worker has accepted it
            assert time.monotonic() < deadline, "the worker never counted the connection"
            time.sleep(0.02)
        mw.reload()
        time.sleep(0.3)  # the old worker's soft stop has begun: an idle connection would be closed by now
        c.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = c.recv(65536)
            assert chunk, f"{mw.kind}: closed without an answer ({answer!r})"
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
