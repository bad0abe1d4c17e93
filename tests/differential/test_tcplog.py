"""``option tcplog`` on the engine and on real HAProxy 2.6: one line per mode tcp connection, for a
connection closed by the client, one the server closes, a reset from either side, one that sends
nothing (with ``option dontlognull``), a server that refuses (one retry), a backend without
servers, and an idle timeout. Lines are compared with the client's port, the date and the durations
other than -1 left out (tcplog.py says what each field means). Also ``haproxy -c`` on the log options."""
from __future__ import annotations

import re
import socket
import struct
import time

import pytest
from support.procs import start_together
from support.rawserver import RawListener

from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.engine.balancer import Balancer
from labsupport.ports import free_ports

from .test_config import run_engine, run_haproxy

pytestmark = pytest.mark.haproxy
CONFIG = """global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend f
    bind 127.0.0.1:{f}
    default_backend be
frontend g
    bind 127.0.0.1:{g}
    default_backend dead
frontend h
    bind 127.0.0.1:{h}
    default_backend empty
frontend n
    bind 127.0.0.1:{n}
    option dontlognull
    default_backend be
frontend i
    bind 127.0.0.1:{i}
    timeout client 500ms
    default_backend be
backend be
    server s1 127.0.0.1:{echo}
backend dead
    retries 1
    server s1 127.0.0.1:{dead}
backend empty
"""
# (a client that closes at once without 'dontlognull' is left out: HAProxy logs it '--' or 'CC', as its
# server connection happens to be up or not when it sees the close)
CASES = [("f", "echo"), ("f", "server-closes"), ("f", "server-resets"), ("f", "client-resets"), ("n", "nothing"),
         ("n", "echo"), ("g", "wait"), ("h", "wait"), ("i", "idle")]
RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


class Echo(RawListener):
    """Echoes; 'close' makes it answer 'bye' and close, 'rst' makes it reset the connection."""

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                if data.startswith(b"close"):
                    conn.sendall(b"bye")
                    break
                if data.startswith(b"rst"):
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
                    break
                conn.sendall(data)
        except OSError:
            pass
        conn.close()


def _drain(s: socket.socket) -> None:
    try:
        while s.recv(100):
            pass
    except OSError:
        pass


def client(port: int, how: str) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        if how in ("echo", "client-resets", "idle"):
            s.sendall(b"hello")
            s.recv(100)
            if how == "client-resets":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
            elif how == "idle":
                _drain(s)  # until the proxy's 'timeout client'
        elif how in ("server-closes", "server-resets"):
            s.sendall(b"close" if how == "server-closes" else b"rst")
            _drain(s)
        elif how == "wait":
            _drain(s)  # until the proxy gives up
    finally:
        s.close()


def normalise(line: str, nbytes: bool = True) -> str:
    """The line without what differs from run to run: the client's port, the date, durations but -1 (and
    a byte count but 0 unless ``nbytes``: a TLS handshake's size varies a little)."""
    line = re.sub(r"^127\.0\.0\.1:\d+ \[[^]]+\]", "127.0.0.1:P [DATE]", line)
    return re.sub(r" (-?\d+)/(-?\d+)/(-?\d+) (\d+) ", lambda m: " " + "/".join(
        v if v == "-1" else "T" for v in m.groups()[:3]) + " " + (m[4] if nbytes or m[4] == "0" else "B") + " ",
        line, count=1)


def _open_connections(proxy) -> int:
    return sum(int(r["scur"] or 0) for r in parse_stat_csv(proxy.stats_csv()) if r["svname"] == "FRONTEND")


def run(ports: dict[str, int], proxy) -> list:
    out = []
    for fe, how in CASES:
        before = proxy.logs(0)[1]
        client(ports[fe], how)
        deadline = time.monotonic() + 5  # the line is written when the connection ends
        while proxy.logs(0)[1] == before and time.monotonic() < deadline and (fe, how) != ("n", "nothing"):
            time.sleep(0.02)
        # and the proxy has let go of it: the next line's connection counts must not see this one still open
        # (a busy machine once showed 2/2/1/1 instead of 1/1/0/0 after 'nothing', on HAProxy)
        while _open_connections(proxy) and time.monotonic() < deadline + 5:
            time.sleep(0.02)
        out.append((fe, how, [normalise(x) for x in proxy.logs(before)[0]]))
    return out


def test_tcplog_lines_match_haproxy(haproxy_bin):
    echo = Echo()
    dead = free_ports(1)[0]
    names = ("f", "g", "h", "n", "i")
    ours, theirs = free_ports(5), free_ports(5)
    text = CONFIG.format(**dict(zip(names, ours)), echo=echo.port, dead=dead)
    lb = Balancer.from_text(text)
    hx = HAProxy.from_text(text, "tcplog.cfg", port_map=dict(zip(ours, theirs)), binary=haproxy_bin)
    try:
        start_together((hx, lb))
        want = run(dict(zip(names, theirs)), hx)
        got = run(dict(zip(names, ours)), lb)
    finally:
        lb.stop()
        hx.stop()
        echo.close()
    assert got == want
    assert want[0][2] == ["127.0.0.1:P [DATE] f be/s1 T/T/T 5 -- 1/1/0/0/0 0/0"]  # the oracle, as observed


OPTION_LINES = ["option tcplog", "option httplog", "no option tcplog", "default option httplog", "option tcplog x",
                "option httplog\n    option tcplog", "option tcplog\n    option httplog", "no option dontlognull",
                "option httplog\n    option httplog", "option tcplog\n    option tcplog"]


@pytest.mark.parametrize("mode", ["tcp", "http"])
@pytest.mark.parametrize("where", ["frontend", "defaults"])
@pytest.mark.parametrize("line", OPTION_LINES)
def test_log_options_agree_with_haproxy(haproxy_bin, tmp_path, mode, where, line):
    path = tmp_path / "o.cfg"
    here = f"    {line}\n"
    path.write_text(f"global\n    log stdout format raw local0\ndefaults\n    mode {mode}\n    log global\n"
                    "    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                    + (here if where == "defaults" else "") + "frontend f\n    bind 127.0.0.1:9\n"
                    + (here if where == "frontend" else "") + "    default_backend b\nbackend b\n"
                    "    server s 127.0.0.1:1\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)
