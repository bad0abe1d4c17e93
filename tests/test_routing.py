"""Content switching: ``use_backend ... if|unless`` and ``default_backend``, on the engine and on real HAProxy.

One frontend holds every kind of rule the course uses, in an order where first-match-wins matters:
``hdr(host)`` with and without ``-i``, ``path_beg`` with and without ``-i``, ``path``, a named ACL with
two values, ``unless``, and ``default_backend`` for the rest. Each backend has one tiny raw server that
answers its own backend's name, so the body of each answer says which backend the request was routed
to. ``ROUTES`` is what HAProxy 2.6's rules say should happen; the engine is checked against it, and
the differential test sends the same requests to real HAProxy running the same text (``port_map``).
"""
from __future__ import annotations

import socket

import pytest

from labsupport.balancer import Balancer
from labsupport.errors import PortInUseError, ServerStartError
from labsupport.fleet import free_ports
from labsupport.haproxy import HAProxy
from rawserver import RawListener

TIMEOUT = 5.0
BACKENDS = ("web", "api", "api_v2", "static", "admin", "exact", "host_exact", "host_icase", "other")
RULES = """\
    acl is_static path_beg /static /images
    use_backend host_exact if { hdr(host) example.com }
    use_backend host_icase if { hdr(host) -i shop.example }
    use_backend api if { path_beg /api }
    use_backend api_v2 if { path_beg /api/v2 }
    use_backend static if is_static
    use_backend admin if { path_beg -i /admin }
    use_backend exact if { path /exact }
    use_backend other unless { hdr(host) lab }
    default_backend web
"""
# (Host header, path) -> the backend that answers, by HAProxy 2.6's rules
ROUTES: list[tuple[str, str, str]] = [
    ("lab", "/", "web"),  # no rule matches: default_backend
    ("lab", "/index.html", "web"),
    ("lab", "/api/users", "api"),  # path_beg
    ("lab", "/api/v2/users", "api"),  # first match wins: the /api rule comes before /api/v2
    ("lab", "/API/users", "web"),  # path_beg without -i is case-sensitive
    ("lab", "/static/app.js", "static"),  # a named ACL, first value
    ("lab", "/images/logo.png", "static"),  # ... second value
    ("lab", "/admin", "admin"),  # path_beg -i
    ("lab", "/ADMIN/users", "admin"),  # ... in any case
    ("lab", "/exact", "exact"),  # path: the whole path
    ("lab", "/exact?page=2", "exact"),  # ... without the query string
    ("lab", "/exact/more", "web"),  # ... and nothing longer
    ("example.com", "/api/users", "host_exact"),  # hdr(host): the host rule comes first
    ("EXAMPLE.COM", "/", "other"),  # hdr(host) without -i is case-sensitive; then 'unless' matches
    ("shop.example", "/", "host_icase"),  # hdr(host) -i
    ("SHOP.Example", "/api", "host_icase"),  # ... in any case, and before the /api rule
    ("other.test", "/", "other"),  # unless { hdr(host) lab }
    ("lab:8080", "/", "other"),  # hdr(host) compares the whole value, port included
    ("LAB", "/", "other"),
    ("lab", "http://lab/api/users", "api"),  # absolute-form: 'path' starts after scheme://authority
    ("lab", "http://lab/exact?x=1", "exact"),
    ("lab", "HTTP://LAB/admin", "admin"),
    ("lab", "http://lab", "web"),  # ... and is empty without a slash after the authority
    ("lab", "http://example.com/", "400"),  # an authority that is not the Host header: refused
    ("lab", "*", "web"),
]


class NamedServer(RawListener):
    """A backend that answers every request with its own name, then closes the connection."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            body = self.name.encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        finally:
            conn.close()


def config(port: int, servers: dict[str, NamedServer]) -> str:
    """The frontend on ``port`` with RULES, and one backend per name, each with its server."""
    return ("global\n    maxconn 200\ndefaults\n    mode http\n    timeout connect 2s\n"
            "    timeout client 5s\n    timeout server 5s\n"
            f"frontend f\n    bind 127.0.0.1:{port}\n" + RULES
            + "".join(f"backend {name}\n    server s1 127.0.0.1:{srv.port}\n" for name, srv in servers.items()))


def routed_to(port: int, host: str, path: str) -> str:
    """The name of the backend that answered GET ``path`` with ``Host: host`` (or the status)."""
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        for _ in range(1000):  # bounded: an answer here is ~100 bytes
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode() if head else "no response"
    return body.decode() if status == "200" else status


def start_with_retry(make):
    """``make(port)`` -> a balancer, started on a free port; choose again if another program took it."""
    for attempt in range(3):
        port = free_ports(1)[0]
        try:
            return port, make(port).start()
        except (PortInUseError, ServerStartError):
            if attempt == 2:
                raise


@pytest.fixture(scope="module")
def servers():
    named = {name: NamedServer(name) for name in BACKENDS}
    yield named
    for srv in named.values():
        srv.close()


@pytest.fixture(scope="module")
def engine(servers):
    port, lb = start_with_retry(lambda p: Balancer.from_text(config(p, servers)))
    yield port, lb
    lb.stop()


def test_the_rules_parse_without_warnings(engine):
    _, lb = engine
    assert [str(w) for w in lb.warnings] == []


@pytest.mark.parametrize("host,path,backend", ROUTES, ids=[f"{h}{p}" for h, p, _ in ROUTES])
def test_engine_routes_like_haproxy(engine, host, path, backend):
    port, _ = engine
    assert routed_to(port, host, path) == backend


def test_same_backends_as_real_haproxy(engine, servers, haproxy_bin):
    """The same requests through real HAProxy on the same config text: the same backend each time."""
    engine_port, _ = engine

    def make(port: int) -> HAProxy:
        return HAProxy.from_text(config(engine_port, servers), "routing.cfg", port_map={engine_port: port},
                                 binary=haproxy_bin)

    port, hx = start_with_retry(make)
    try:
        want = [routed_to(port, host, path) for host, path, _ in ROUTES]
    finally:
        hx.stop()
    got = [routed_to(engine_port, host, path) for host, path, _ in ROUTES]
    assert want == [backend for _, _, backend in ROUTES]  # the table above is HAProxy's behaviour
    assert got == want


# ----- conditions made of several ACLs (src/acl.c parse_acl_cond / acl_exec_cond)
ACLS = "    acl a path_beg /a\n    acl a path_beg /b\n    acl h hdr(host) -i lab\n"  # 'a' twice: OR-ed
CONDITIONS = ["if", "unless", "if a h", "if a || h", "if !a h", "if ! ! a !h", "if || a",
              "if { path /c } or FALSE", "unless a", "if !TRUE || { hdr(host) x }", "if a or !a"]
REQUESTS = [("lab", "/a"), ("x", "/a"), ("lab", "/b"), ("lab", "/c"), ("x", "/c")]


def conditions_config(ports: list[int], servers: dict[str, NamedServer]) -> str:
    """One frontend per condition: 'use_backend api <condition>', else web."""
    return ("defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
            + "".join(f"frontend f{i}\n    bind 127.0.0.1:{port}\n{ACLS}    use_backend api {cond}\n"
                      f"    default_backend web\n" for i, (port, cond) in enumerate(zip(ports, CONDITIONS)))
            + "".join(f"backend {name}\n    server s1 127.0.0.1:{servers[name].port}\n" for name in ("api", "web")))


def test_compound_conditions_route_like_haproxy(servers, haproxy_bin):
    """AND of terms side by side, || and or, ! (alone, glued, twice), a name declared twice, TRUE and
    FALSE, and an 'if' or 'unless' with nothing after it (never / always true in HAProxy 2.6)."""
    ports = free_ports(2 * len(CONDITIONS))
    mine, theirs = ports[:len(CONDITIONS)], ports[len(CONDITIONS):]
    text = conditions_config(mine, servers)
    lb = Balancer.from_text(text).start()
    hx = HAProxy.from_text(text, "conditions.cfg", port_map=dict(zip(mine, theirs)), binary=haproxy_bin).start()
    try:
        assert [str(w) for w in lb.warnings] == []
        want = {cond: [routed_to(p, h, path) for h, path in REQUESTS] for p, cond in zip(theirs, CONDITIONS)}
        got = {cond: [routed_to(p, h, path) for h, path in REQUESTS] for p, cond in zip(mine, CONDITIONS)}
    finally:
        lb.stop()
        hx.stop()
    assert got == want
    assert want["if a h"] == ["api", "web", "api", "web", "web"] and want["if"] == ["web"] * 5  # the oracle
