"""The ``connection`` header, hop by hop: the bundled engine against real HAProxy 2.6 (the oracle).

In mode http (default http-keep-alive) HAProxy treats ``connection`` as hop-by-hop on both sides:
toward the server it drops the client's close/keep-alive tokens (other tokens stay) and asks an
HTTP/1.0 server to keep the connection alive; toward the client it removes the server's close and
keep-alive tokens and writes its own header by its own rules. For every (client version) x (client
connection header) x (server answer) this test sends the same raw request to haproxy and to the
engine (same config text, ``port_map``) and compares what the client got -- status, connection
header, whether the connection stays open -- and the request head each tiny raw server received.
"""
from __future__ import annotations

import socket

import pytest
from support.procs import start_together
from support.rawserver import RawListener

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy
from labsupport.errors import PortInUseError, ServerStartError

TIMEOUT = 5.0  # every socket wait here is bounded by this
# server answer kinds: the raw bytes after the status line, and whether the server closes after it
ANSWERS: dict[str, tuple[bytes, bool]] = {
    "11_close": (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n", True),
    "11_plain": (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", False),
    "10_plain": (b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n", True),
    "11_keepalive": (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n", False),
}
VERSIONS = ("HTTP/1.1", "HTTP/1.0")
CLIENT_HEADERS = (None, "close", "keep-alive", "keep-alive, foo", "Keep-Alive", "close, foo", "foo")
DEFAULTS = ("global\n    maxconn 200\ndefaults\n    mode http\n    timeout connect 2s\n"
            "    timeout client 5s\n    timeout server 5s\n")

# Real differences between the engine and haproxy, found by this test: (version, header, answer) -> reason.
KNOWN: dict[tuple[str, str | None, str], str] = {}


class RawServer(RawListener):
    """A backend that always gives the same raw answer and records each request head by its path."""

    def __init__(self, kind: str) -> None:
        self.answer, self.closes = ANSWERS[kind]
        self.heads: dict[str, bytes] = {}
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        """Answer request after request (GETs, no body) until the answer says close or the peer leaves."""
        conn.settimeout(TIMEOUT)
        data = b""
        try:
            for _ in range(1000):  # bounded: a proxy sends a handful of requests per connection here
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
                self.heads[path] = head  # recorded before answering: the client's response implies it
                conn.sendall(self.answer)
                if self.closes:
                    return
        except OSError:
            pass
        finally:
            conn.close()


def start_proxies(haproxy_bin: str, servers: dict[str, RawServer]):
    """One frontend/backend pair per answer kind, on haproxy and on the engine; (started, ports)."""
    ports = free_ports(2 * len(servers))
    engine_ports = {kind: ports[2 * i] for i, kind in enumerate(servers)}
    haproxy_ports = {kind: ports[2 * i + 1] for i, kind in enumerate(servers)}
    text = DEFAULTS + "".join(
        f"frontend f_{kind}\n    bind 127.0.0.1:{engine_ports[kind]}\n    default_backend b_{kind}\n"
        f"backend b_{kind}\n    server s1 127.0.0.1:{srv.port}\n" for kind, srv in servers.items())
    port_map = {engine_ports[k]: haproxy_ports[k] for k in servers}
    started = start_together((HAProxy.from_text(text, "connection.cfg", port_map=port_map, binary=haproxy_bin),
                              Balancer.from_text(text)))
    return started, {"haproxy": haproxy_ports, "engine": engine_ports}


@pytest.fixture(scope="module")
def lab(haproxy_bin):
    """A raw server per answer kind, and one haproxy and one engine in front of them."""
    servers = {kind: RawServer(kind) for kind in ANSWERS}
    started: list = []
    try:
        for attempt in range(3):  # another program may take a chosen port before we bind it: choose again
            try:
                started, ports = start_proxies(haproxy_bin, servers)
                break
            except (PortInUseError, ServerStartError):
                if attempt == 2:
                    raise
        yield servers, ports
    finally:
        for proc in reversed(started):
            proc.stop()
        for srv in servers.values():
            srv.close()


# ----- the raw client
def read_response(s: socket.socket) -> bytes | None:
    """One response (head + content-length body); None when the connection ends before a full one."""
    data = b""
    for _ in range(1000):  # bounded: responses here are tiny
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                      if line.lower().startswith(b"content-length:")]
            if len(body) >= (length[0] if length else 0):
                return data
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return None
        if not chunk:
            return None
        data += chunk
    raise AssertionError(f"response never ended: {data[:200]!r}")


def connection_values(head: bytes) -> list[str]:
    """The values of every ``connection`` header line (names compared case-insensitively)."""
    values = []
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"connection":
            values.append(value.strip().decode())
    return values


def exchange(port: int, server: RawServer, tag: str, version: str, header: str | None) -> dict:
    """The request on a raw socket, then a second one on the same socket to learn whether it stayed open."""
    conn_line = f"Connection: {header}\r\n" if header is not None else ""
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(f"GET /{tag}/1 {version}\r\nHost: lab\r\n{conn_line}\r\n".encode())
        first = read_response(s)
        assert first is not None, f"{tag}: no response"
        head = first.partition(b"\r\n\r\n")[0]
        # A proxy that decided to close never answers a request sent after its response: EOF or reset,
        # whether or not the close has happened yet; one that keeps the connection answers it.
        try:
            s.sendall(f"GET /{tag}/2 HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n".encode())
            second = read_response(s)
        except (BrokenPipeError, ConnectionResetError):
            second = None
    return {
        "status": head.split(b" ", 2)[1].decode(),
        "connection": connection_values(head),
        "stays_open": second is not None and second.split(b" ", 2)[1] == b"200",
        "server_saw": connection_values(server.heads.get(f"/{tag}/1", b"")),
        "server_got_it": f"/{tag}/1" in server.heads,
    }


def case_id(version: str, header: str | None, kind: str) -> str:
    return f"{version[5:]}-{(header or 'none').replace(', ', '+').replace(' ', '')}-{kind}"


def cases() -> list:
    out = []
    for version in VERSIONS:
        for header in CLIENT_HEADERS:
            for kind in ANSWERS:
                reason = KNOWN.get((version, header, kind))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                out.append(pytest.param(version, header, kind, id=case_id(version, header, kind), marks=marks))
    return out


@pytest.mark.parametrize("version, header, kind", cases())
def test_connection_header_like_haproxy(lab, version, header, kind):
    servers, ports = lab
    tag = case_id(version, header, kind)
    want = exchange(ports["haproxy"][kind], servers[kind], "hx-" + tag, version, header)
    got = exchange(ports["engine"][kind], servers[kind], "lb-" + tag, version, header)
    assert want["status"] == "200" and want["server_got_it"], want  # the oracle itself worked
    assert got == want, f"{tag}: haproxy {want}, engine {got}"
