"""A client that sends a complete request and then shuts down its sending side (``shutdown(SHUT_WR)``,
as HTTP/1.0 clients and ``nc -q`` do) still gets its answer, in mode http and mode tcp, from the
engine as from real HAProxy 2.6; then the proxy closes. The backend is ``recorder.Recorder``.
"""
from __future__ import annotations

import socket

import pytest
from recorder import TIMEOUT, Recorder, read_all, statuses

from labsupport.balancer import Balancer
from labsupport.fleet import free_ports
from labsupport.haproxy import HAProxy

DEFAULTS = ("global\n    maxconn 100\ndefaults\n    timeout connect 2s\n    timeout client 5s\n"
            "    timeout server 5s\n")
REQUESTS = {
    "get": b"GET /hc HTTP/1.1\r\nHost: lab\r\n\r\n",
    "http10": b"GET /hc10 HTTP/1.0\r\nHost: lab\r\n\r\n",
    "post": b"POST /hcp HTTP/1.1\r\nHost: lab\r\nContent-Length: 5\r\n\r\nhello",
    "two": b"GET /hc1 HTTP/1.1\r\nHost: lab\r\n\r\nGET /hc2 HTTP/1.1\r\nHost: lab\r\n\r\n",
}
BODIES = {"get": [b"GET /hc\n"], "http10": [b"GET /hc10\n"], "post": [b"POST /hcp\n"],
          "two": [b"GET /hc1\n", b"GET /hc2\n"]}


def config(http_port: int, tcp_port: int, backend: int) -> str:
    return (DEFAULTS + f"frontend fh\n    mode http\n    bind 127.0.0.1:{http_port}\n    default_backend bh\n"
            f"backend bh\n    mode http\n    server s1 127.0.0.1:{backend}\n"
            f"frontend ft\n    mode tcp\n    bind 127.0.0.1:{tcp_port}\n    default_backend bt\n"
            f"backend bt\n    mode tcp\n    server s1 127.0.0.1:{backend}\n")


@pytest.fixture(scope="module")
def backend():
    rec = Recorder()
    yield rec
    rec.close()


def _start(kind: str, backend: Recorder, haproxy_bin: str | None):
    http_port, tcp_port = free_ports(2)
    text = config(http_port, tcp_port, backend.port)
    proc = (HAProxy.from_text(text, "halfclose.cfg", binary=haproxy_bin) if kind == "haproxy"
            else Balancer.from_text(text))
    return proc.start(), {"http": http_port, "tcp": tcp_port}


@pytest.fixture(scope="module", params=["engine", "haproxy"])
def proxy(request, backend):
    haproxy_bin = request.getfixturevalue("haproxy_bin") if request.param == "haproxy" else None
    proc, ports = _start(request.param, backend, haproxy_bin)
    yield ports
    proc.stop()


def ask_then_half_close(port: int, data: bytes) -> bytes:
    """Send ``data``, shut the sending side at once, read until the proxy closes."""
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return read_all(s)


def bodies(data: bytes) -> list[bytes]:
    out = []
    while data.startswith(b"HTTP/"):
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                      if line.lower().startswith(b"content-length:"))
        out.append(rest[:length])
        data = rest[length:]
    return out


@pytest.mark.parametrize("mode", ["http", "tcp"])
@pytest.mark.parametrize("what", sorted(REQUESTS))
def test_half_closed_client_gets_its_answer(request, proxy, mode, what):
    got = ask_then_half_close(proxy[mode], REQUESTS[what])
    if what == "two" and mode == "http" and "haproxy" in request.node.callspec.id:
        # real haproxy answers the second pipelined request of a half-closed client only sometimes
        # (it may close as soon as the first answer is out); the engine answers both, always
        assert bodies(got) in (BODIES[what], BODIES[what][:1])
        return
    assert statuses(got) == ["200"] * len(BODIES[what]), got[:200]
    assert bodies(got) == BODIES[what]
