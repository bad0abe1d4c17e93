"""The delay relay (labsupport/course/delayrelay.py): bytes arrive unchanged, a round trip later; in a lab host
too. Only lower bounds on time (the delay is a sleep), never upper ones: the machine may be busy."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labsupport.course.hosts import Lab
from labsupport.ports import free_ports

RELAY = Path(__file__).resolve().parents[2] / "labsupport" / "course" / "delayrelay.py"
TIMED_FETCH = ("import sys, time, urllib.request; t = time.monotonic(); "
               "body = urllib.request.urlopen(sys.argv[1], timeout=20).read().decode(); "
               "print(round(time.monotonic() - t, 3), body)")


def _start(*args: str, run=None) -> subprocess.Popen:
    command = [sys.executable, str(RELAY), *args]
    return (run or subprocess.Popen)(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _echo_server() -> tuple[socket.socket, int]:
    srv = socket.create_server(("127.0.0.1", 0))
    return srv, srv.getsockname()[1]


def test_bytes_cross_unchanged_and_a_round_trip_later():
    srv, target = _echo_server()
    (port,) = free_ports(1)
    relay = _start(f"127.0.0.1:{port}", f"127.0.0.1:{target}", "--delay-ms", "150")
    try:
        assert relay.stdout.readline().strip() == (f"relaying 127.0.0.1:{port} -> 127.0.0.1:{target} "
                                                   "with 150 ms each way")
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
            srv.settimeout(20)
            conn, _ = srv.accept()
            with conn:
                assert time.monotonic() - started >= 0.15  # the connection travelled
                sent = time.monotonic()
                c.sendall(b"ping " * 1000)
                c.shutdown(socket.SHUT_WR)
                got = b""
                while chunk := conn.recv(65536):
                    got += chunk
                assert got == b"ping " * 1000
                assert time.monotonic() - sent >= 0.15
                conn.sendall(b"pong")
                back = time.monotonic()
                conn.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := c.recv(65536):
                    answer += chunk
                assert answer == b"pong" and time.monotonic() - back >= 0.15
    finally:
        srv.close()
        relay.kill()
        relay.wait(10)


def test_bad_arguments_are_refused_plainly():
    done = _start("10.0.0.50", "10.0.0.11:8080", run=lambda cmd, **kw: subprocess.run(cmd, timeout=30, **kw))
    assert done.returncode == 2
    assert "argument listen: '10.0.0.50': expected ADDRESS:PORT, e.g. 10.0.0.50:8080" in done.stderr
    done = _start("127.0.0.1:1", "127.0.0.1:2", "--delay-ms", "-5",
                  run=lambda cmd, **kw: subprocess.run(cmd, timeout=30, **kw))
    assert done.returncode == 2 and "--delay-ms -5: a delay cannot be negative" in done.stderr


def test_a_far_server_in_the_lab(tmp_path):
    if not Lab.available():
        reason = f"no network namespaces for this account: {Lab.why_not()}"
        if os.environ.get("LAB_REQUIRE_NETNS") == "1":
            pytest.fail(f"LAB_REQUIRE_NETNS=1 but {reason}")
        pytest.skip(reason)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("far away")
    with Lab() as lab:
        web, far, client = lab.host("web1", "10.0.0.11"), lab.host("far", "10.0.0.50"), lab.host("client")
        web.popen([sys.executable, "-m", "http.server", "8080", "--bind", "10.0.0.11", "--directory", str(site)],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        relay = far.popen([sys.executable, str(RELAY), "10.0.0.50:8080", "10.0.0.11:8080", "--delay-ms", "100"],
                          stdout=subprocess.PIPE, text=True)
        assert relay.stdout.readline().startswith("relaying 10.0.0.50:8080 -> 10.0.0.11:8080")
        deadline = time.monotonic() + 60
        while (direct := client.run([sys.executable, "-c", TIMED_FETCH, "http://10.0.0.11:8080/"])).returncode:
            assert time.monotonic() < deadline, direct.stderr
            time.sleep(0.1)
        assert direct.stdout.split(" ", 1)[1].strip() == "far away"
        via = client.run([sys.executable, "-c", TIMED_FETCH, "http://10.0.0.50:8080/"], timeout=60)
        seconds, body = via.stdout.split(" ", 1)
        assert body.strip() == "far away"
        assert float(seconds) >= 0.3  # the connection (100 ms), the request (100 ms), the answer (100 ms)
