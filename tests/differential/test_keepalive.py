"""A kept-alive client in front of servers that close after each answer (Flask's dev server does).

HAProxy removes the server's ``Connection: close`` in mode http and keeps the client's connection
open; in mode tcp the server's close ends the client's connection, so it must reconnect.
The engine must do the same as the real binary, which is the oracle here.
"""
from __future__ import annotations

import socket

import pytest

from labsupport import Balancer, Fleet, HAProxy, rebind, send

CONFIG = """
defaults
    mode {mode}
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:{p1}
    server s2 127.0.0.1:{p2}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connections_used(proxy, url: str) -> tuple[list[str], int]:
    """Six requests on one kept-alive client connection: who answered, and how many connections it took."""
    def sessions() -> int:
        return next(r["stot"] for r in proxy.snapshot()["rows"] if r["svname"] == "FRONTEND")

    before = sessions()
    servers = send(url, 6, keep_alive=True).servers
    return servers, sessions() - before


@pytest.fixture(scope="module")
def flask_pair():
    with Fleet() as fleet:
        yield fleet.start(count=2)


@pytest.mark.parametrize("mode, connections", [("http", 1), ("tcp", 6)])
def test_engine_keeps_client_connections_like_haproxy(flask_pair, haproxy_bin, mode, connections):
    p1, p2 = flask_pair
    port, real_port = free_port(), free_port()
    text = CONFIG.format(mode=mode, port=port, p1=p1, p2=p2)
    with Balancer.from_text(text) as engine, HAProxy.from_text(rebind(text, real_port), binary=haproxy_bin) as real:
        got_engine = connections_used(engine, f"http://127.0.0.1:{port}/")
        got_real = connections_used(real, f"http://127.0.0.1:{real_port}/")
    assert got_real == ([str(p1), str(p2)] * 3, connections)
    assert got_engine == got_real
