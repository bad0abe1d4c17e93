"""backends/app.py run standalone, as the article runs it."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from labsupport.course.fleet import APP, Fleet


def run_app(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(APP), *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, expected", [
    ((), "app.py: error: the following arguments are required: port"),
    (("abc",), "app.py: error: argument port: invalid int value: 'abc'"),
    (("70000",), "app.py: error: port 70000 is out of range (1-65535)"),
])
def test_bad_arguments_give_one_line_and_nonzero_exit(args, expected):
    r = run_app(*args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), r.stderr
    assert "Traceback" not in r.stderr


def test_port_in_use_is_one_clear_line():
    holder = socket.create_server(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        r = run_app(str(port))
    finally:
        holder.close()
    assert r.returncode == 1
    assert r.stderr.strip() == (f"app.py: error: port {port} on 127.0.0.1 is already in use; "
                                "stop the other server or choose another port")


def test_standalone_prints_flask_banner_and_answers():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(APP), str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        body = None
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read().decode()
                break
            except OSError:
                time.sleep(0.05)
        assert body == f"Hi!! from server {port}"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=5)[0]
    assert "Serving Flask app" in out and f"Running on http://127.0.0.1:{port}" in out


def test_info_health_forwarded_for_and_failures():
    with Fleet() as fleet:
        (port,) = fleet.start(count=1, fail_rate=1.0)
        base = f"http://127.0.0.1:{port}"
        assert urllib.request.urlopen(base + "/health").status == 200
        req = urllib.request.Request(base + "/", headers={"X-Forwarded-For": "10.1.2.3"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 500
        e.value.close()
        info = json.loads(urllib.request.urlopen(base + "/info").read())
        assert info["port"] == port and info["requests"] == 1 and info["x_forwarded_for"] == "10.1.2.3"
        assert info["pid"] == fleet.servers[0].pid
