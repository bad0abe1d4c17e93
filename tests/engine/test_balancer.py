"""Balancer: life cycle, ports, repr, live controls with HAProxy's messages, reload, command line."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from support.httpbackend import Backend, free_port, get, wait_for
from support.paths import ROOT

from labsupport.engine.balancer import Balancer, CommandError
from labsupport.errors import PortInUseError


def config(port: int, servers: str, balance: str = "roundrobin", bind: str = "127.0.0.1") -> str:
    return f"""
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend http-in
    bind {bind}:{port}
    default_backend application_nodes
backend application_nodes
    balance {balance}
{servers}
"""


@pytest.fixture
def two():
    bs = [Backend("server01"), Backend("server02")]
    yield bs
    for b in bs:
        b.stop()


def servers(bs, extra: str = "") -> str:
    return "\n".join(f"    server {b.name} 127.0.0.1:{b.port} {extra}" for b in bs)


def test_repr_shows_frontend_backend_and_servers(two):
    port = free_port()
    lb = Balancer.from_text(config(port, servers(two)))
    assert repr(lb) == (f"<Balancer (stopped) http-in :{port} -> application_nodes roundrobin: "
                        "server01 UP w1, server02 UP w1>")
    with lb:
        assert repr(lb) == f"<Balancer http-in :{port} -> application_nodes roundrobin: server01 UP w1, server02 UP w1>"
        lb.disable("server02")
        lb.set_weight("server01", 3)
        assert repr(lb).endswith("server01 UP w3, server02 MAINT w1>")


def test_repr_of_the_course_config():
    lb = Balancer.from_file(ROOT / "haproxy" / "myhaproxy.cfg")
    assert repr(lb) == ("<Balancer (stopped) http-in :3000 -> application_nodes roundrobin: server01 UP w1, "
                        "server02 UP w1, server03 UP w1, server04 UP w1>")
    assert lb.ports == [3000] and lb.urls == ["http://127.0.0.1:3000/"]


def test_stop_releases_the_port_and_is_idempotent(two):
    port = free_port()
    lb = Balancer.from_text(config(port, servers(two))).start()
    assert get(port) == (200, "server01")
    lb.stop()
    lb.stop()
    with socket.socket() as s:  # the port is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    with lb:  # and the same balancer starts again
        assert get(port)[0] == 200


def test_star_bind_listens_on_loopback_only(two):
    port = free_port()
    with Balancer.from_text(config(port, servers(two), bind="*")) as lb:
        assert get(port)[0] == 200
        assert list(lb._engine.listeners) == [("127.0.0.1", port)]


def test_port_in_use_names_the_port_and_its_holder(two):
    port = free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen(1)
    try:
        lb = Balancer.from_text(config(port, servers(two)))
        with pytest.raises(PortInUseError) as e:
            lb.start()
        msg = str(e.value)
        assert f"port {port} on 127.0.0.1 is already in use" in msg
        assert f"(pid {os.getpid()})" in msg
        assert "frontend 'http-in' cannot listen on it" in msg
        assert not lb.running
    finally:
        holder.close()


def test_weights_and_states_with_haproxy_messages(two):
    port = free_port()
    text = config(port, servers(two, "weight 10"))
    with Balancer.from_text(text) as lb:
        lb.set_weight("application_nodes/server01", "50%")
        assert lb.get_weight("server01") == "5 (initial 10)"
        cases = [
            (lambda: lb.set_weight("application_nodes/server09", 1), "No such server."),
            (lambda: lb.set_weight("nowhere/server01", 1), "No such backend."),
            (lambda: lb.set_weight("server01", 300), "Absolute weight can only be between 0 and 256 inclusive."),
            (lambda: lb.set_state("server01", "sleep"), "'set server <srv> state' expects 'ready', 'drain' and 'maint'."),
        ]
        for call, message in cases:
            with pytest.raises(CommandError) as e:
                call()
            assert str(e.value) == message
        lb.set_state("server02", "drain")
        assert lb.snapshot().server("application_nodes", "server02")["status"] == "DRAIN"
        assert [get(port)[1] for _ in range(3)] == ["server01"] * 3
        lb.set_state("server02", "ready")
        lb.set_health("server01", "down")
        assert lb.snapshot().server("application_nodes", "server01")["status"] == "DOWN"
        assert any("application_nodes/server01 is DOWN, changed from CLI" in line for line in lb.events()[0])
        assert [get(port)[1] for _ in range(2)] == ["server02"] * 2


def test_static_rr_refuses_other_weights(two):
    port = free_port()
    with Balancer.from_text(config(port, servers(two), balance="static-rr")) as lb:
        with pytest.raises(CommandError, match="only accepts weights '0%' and '100%'"):
            lb.set_weight("server01", 3)


def test_reload_swaps_the_algorithm_without_dropping_the_listener(two):
    port = free_port()
    lb = Balancer.from_text(config(port, servers(two))).start()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/")
        assert c.getresponse().read() == b"server01"
        lb.reload(config(port, servers(two), balance="first"))
        assert "application_nodes first:" in repr(lb)
        for _ in range(3):  # the kept-alive connection still works, now with 'first'
            c.request("GET", "/")
            assert c.getresponse().read() == b"server01"
        c.close()
        assert lb.snapshot().frontend("http-in")["stot"] == 1
    finally:
        lb.stop()


def test_request_log_reads_from_an_index(two):
    port = free_port()
    with Balancer.from_text(config(port, servers(two))) as lb:
        for _ in range(3):
            get(port)
        first, nxt = lb.requests()
        assert [e["server"] for e in first] == ["server01", "server02", "server01"] and nxt == 3
        get(port)
        more, nxt = lb.requests(nxt)
        assert [(e["backend"], e["server"], e["status"], e["client"]) for e in more] == [
            ("application_nodes", "server02", 200, "127.0.0.1")]
        assert nxt == 4


def test_controls_from_other_threads_while_traffic_flows(two):
    port = free_port()
    with Balancer.from_text(config(port, servers(two))) as lb:
        errors = []

        def traffic():
            for _ in range(40):
                if get(port)[0] != 200:
                    errors.append("non-200")

        t = threading.Thread(target=traffic)
        t.start()
        for w in (3, 1, 2, 1):
            lb.set_weight("server01", w)
            time.sleep(0.01)
        t.join(20)
        assert not errors
        assert lb.snapshot().backend("application_nodes")["stot"] == 40


# ----- command line
def run_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labsupport.balancer", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, **kw)


def test_cli_check_only():
    done = run_cli("-c", "-f", "haproxy/myhaproxy.cfg")
    assert done.returncode == 0
    assert done.stdout.endswith("Configuration file is valid\n")


def test_cli_check_reports_errors(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("frontend fe\n    bind 127.0.0.1:3000\n    balanc roundrobin\n")
    done = run_cli("-c", "-f", str(bad))
    assert done.returncode == 1
    assert "unknown keyword 'balanc'" in done.stderr


def test_cli_runs_in_the_foreground_until_ctrl_c(tmp_path, two):
    port = free_port()
    cfg = tmp_path / "lb.cfg"
    cfg.write_text(config(port, servers(two)))
    proc = subprocess.Popen([sys.executable, "-m", "labsupport.balancer", "-f", str(cfg)], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _answers(port), timeout=15)
        assert get(port) == (200, "server02")  # _answers took server01
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert "<Balancer http-in" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _answers(port: int) -> bool:
    try:
        return get(port)[0] == 200
    except OSError:
        return False
