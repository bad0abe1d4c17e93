"""labsupport.course.haproxy's HAProxy class against the real haproxy binary (the oracle), with tiny real backends."""
from __future__ import annotations

import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import labsupport.course.haproxy as hxmod
from labsupport.course.haproxy import HAProxy
from labsupport.course.traffic.sender import send
from labsupport.errors import ConfigError, NotRunningError, PortInUseError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"Hi!! from server {self.server.server_port}".encode()
        self.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)

    def log_message(self, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # haproxy resets idle connections on exit
        pass


@pytest.fixture
def backends():
    started = []

    def make(n: int) -> list[str]:
        for _ in range(n):
            srv = _Server(("127.0.0.1", 0), _Handler)
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            started.append(srv)
        return [str(s.server_port) for s in started[-n:]]

    yield make
    for srv in started:
        srv.shutdown()
        srv.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(ports: list[str], listen: int, balance: str = "roundrobin", mode: str = "http",
           weights: list[int] | None = None) -> str:
    servers = "\n".join(f"    server s{i + 1} 127.0.0.1:{p} weight {(weights or [1] * len(ports))[i]}"
                        for i, p in enumerate(ports))
    return f"""global
    maxconn 100
defaults
    mode {mode}
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{listen}
    default_backend be
backend be
    balance {balance}
{servers}
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_version(haproxy_bin):
    assert hxmod.haproxy_available()
    assert hxmod.haproxy_version(haproxy_bin)[0].isdigit()


def test_roundrobin_sequence_stats_and_runtime_weight(haproxy_bin, backends):
    a, b = backends(2)
    port = free_port()
    with HAProxy.from_text(config([a, b], port)) as hx:
        assert hx.running and hx.ports == [port]
        url = f"http://127.0.0.1:{port}/"
        assert send(url, 6).servers == [a, b, a, b, a, b]
        csv = hx.stats_csv()
        assert csv.startswith("# pxname,svname,")
        snap = hx.snapshot()
        servers = {r["svname"]: r for r in snap["servers"]}
        assert (servers["s1"]["lbtot"], servers["s2"]["lbtot"]) == (3, 3)
        assert (servers["s1"]["hrsp_2xx"], servers["s1"]["status"]) == (3, "no check")
        assert [r["svname"] for r in snap["frontends"] + snap["backends"]] == ["FRONTEND", "BACKEND"]
        # weight 3 against 1: from the next request on, s1 gets 3 picks out of 4
        hx.set_weight("be/s1", 3)
        assert hx.get_weight("s1") == (3, 1)  # a bare server name works when only one backend has it
        after = send(url, 8)
        assert after.counts() == {a: 6, b: 2}
        assert "s1" in repr(hx.stats()) and "lbtot" in repr(hx.stats())


def test_runtime_errors_carry_haproxys_words(haproxy_bin, backends):
    a, b = backends(2)
    with HAProxy.from_text(config([a, b], free_port())) as hx:
        with pytest.raises(ValueError, match="Absolute weight can only be between 0 and 256 inclusive"):
            hx.set_weight("be/s1", 300)
        with pytest.raises(ValueError, match="No such server"):
            hx.set_weight("be/nope", 1)
        with pytest.raises(ValueError, match="no backend has a server named 'nope'"):
            hx.disable("nope")
        with pytest.raises(ValueError, match="expects 'ready', 'drain' and 'maint'"):
            hx.set_state("be/s1", "sleepy")


def test_disable_drain_enable(haproxy_bin, backends):
    a, b = backends(2)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with HAProxy.from_text(config([a, b], port)) as hx:
        hx.disable("be/s2")
        assert send(url, 4).servers == [a] * 4
        assert {r["svname"]: r["status"] for r in hx.snapshot()["servers"]}["s2"] == "MAINT"
        hx.enable("be/s2")
        hx.set_state("be/s1", "drain")
        assert send(url, 3).servers == [b] * 3
        hx.set_state("be/s1", "ready")
        assert sorted(send(url, 4).counts().values()) == [2, 2]
        assert "going DOWN for maintenance" in hx.log_tail()


def test_keep_alive_pinned_in_tcp_mode_balanced_in_http_mode(haproxy_bin, backends):
    a, b = backends(2)
    port = free_port()
    with HAProxy.from_text(config([a, b], port, mode="http")):
        assert send(f"http://127.0.0.1:{port}/", 6, keep_alive=True).servers == [a, b] * 3
    with HAProxy.from_text(config([a, b], port, mode="tcp")):
        run = send(f"http://127.0.0.1:{port}/", 6, keep_alive=True)
        assert len(set(run.servers)) == 1 and run.summary()["ok"] == 6


def test_source_addresses_pick_servers_like_the_facts_table(haproxy_bin, backends):
    ports = backends(3)
    port = free_port()
    with HAProxy.from_text(config(ports, port, balance="source")):
        run = send(f"http://127.0.0.1:{port}/", 4, source=[f"127.0.0.{i}" for i in (1, 2, 3, 4)])
    # tests/vectors/algorithms.md section 0: map-based 1,1,1 -> .1 s3, .2 s1, .3 s2, .4 s3
    assert run.servers == [ports[2], ports[0], ports[1], ports[2]]


def test_check_error_names_the_students_file_and_line(haproxy_bin, tmp_path):
    path = tmp_path / "broken.cfg"
    path.write_text(config(["8080"], 3000).replace("    balance roundrobin", "    balanc roundrobin"))
    hx = HAProxy.from_file(path)
    with pytest.raises(ConfigError) as err:
        hx.check()
    (msg,) = [m for m in err.value.messages if m.level == "ALERT"]
    assert (msg.file, msg.line) == (str(path), 12)
    assert msg.text == f"{path}:12: unknown keyword 'balanc' in 'backend' section; did you mean 'balance' maybe ?"
    assert "lab-haproxy" not in str(err.value)  # the temporary copy never shows
    with pytest.raises(ConfigError):
        hx.start()
    assert not hx.running


def test_check_reports_warnings_and_no_listener(haproxy_bin):
    text = config(["8080"], 3000).replace("    timeout client 5s\n", "")
    check = HAProxy.from_text(text, "warn.cfg").check()
    assert check.ok and check.warnings
    assert "missing timeouts for frontend 'fe'" in check.warnings[0].text
    assert "Configuration file is valid" in repr(check)
    with pytest.raises(ConfigError, match="has no 'bind' line"):
        HAProxy.from_text("defaults\n    mode http\n", "empty.cfg").check()


def test_port_map_runs_the_same_file_elsewhere_and_leaves_it_untouched(haproxy_bin, backends, tmp_path):
    (a,) = backends(1)
    path = tmp_path / "myhaproxy.cfg"
    path.write_text(config([a], 3000))
    before = path.read_text()
    moved = free_port()
    with HAProxy.from_file(path, port_map={3000: moved}) as hx:
        assert hx.ports == [moved]
        assert send(f"http://127.0.0.1:{moved}/", 2).servers == [a, a]
        assert str(path) in repr(hx)
    assert path.read_text() == before


def test_port_in_use_is_reported(haproxy_bin, backends):
    (a,) = backends(1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        hx = HAProxy.from_text(config([a], port))
        with pytest.raises(PortInUseError, match=rf"port {port} on 127.0.0.1 is already in use.*port_map="):
            hx.start()
        assert not hx.running


def test_stop_leaves_nothing_running(haproxy_bin, backends):
    (a,) = backends(1)
    hx = HAProxy.from_text(config([a], free_port())).start()
    pid, folder = hx.pid, hx._dir
    assert alive(pid) and os.path.exists(hx.socket_path)
    hx.stop()
    assert not alive(pid)  # terminated and reaped: not even a zombie
    assert not os.path.exists(folder)
    assert not hx.running and "stopped" in repr(hx)
    hx.stop()  # twice is fine
    for method, args in [("stats_csv", ()), ("command", ("show info",)), ("set_weight", ("be/s1", 2)),
                         ("snapshot", ())]:  # each a one-line course error, never a socket traceback
        with pytest.raises(NotRunningError, match="haproxy is not running .* run the cell that starts it again"):
            getattr(hx, method)(*args)


def test_a_rerun_of_the_cell_that_started_haproxy_restarts_it_in_one_line(haproxy_bin, backends, monkeypatch, capsys):
    """The same cell run again (as JupyterLab's request says): its earlier haproxy frees the port first."""
    from labsupport import lifecycle

    (a,) = backends(1)
    listen = free_port()
    started = []
    for run in ("run-1", "run-2"):
        monkeypatch.setattr(lifecycle, "current_run", lambda run=run: ("the-cell", run))
        started.append(HAProxy.from_text(config([a], listen)).start())
    monkeypatch.setattr(lifecycle, "current_run", lambda: None)
    old, new = started
    try:
        assert capsys.readouterr().out == (f"restarted real HAProxy on http://127.0.0.1:{listen}/: an earlier run of "
                                           "this cell had started it\n")
        assert not old.running and new.running and lifecycle.running("balancer") == [new]
        assert send(f"http://127.0.0.1:{listen}/", 2).servers == [a, a]
    finally:
        new.stop()
