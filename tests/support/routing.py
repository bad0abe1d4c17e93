"""Content switching's lab: one frontend holding every kind of rule the course uses (``config``: RULES), in
an order where first-match-wins matters, and tiny raw servers (``NamedServer``) that answer their own
backend's name, so the body of each answer says which backend the request was routed to (``routed_to``).
``ROUTES`` is what HAProxy 2.6's rules say should happen."""
from __future__ import annotations

import socket

from labsupport.course.fleet import free_ports
from labsupport.errors import PortInUseError, ServerStartError
from support.rawserver import RawListener

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
    return routed(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())


def routed(port: int, request: bytes, src: str = "127.0.0.1") -> str:
    """The name of the backend that answered the raw ``request`` sent from address ``src`` (or the
    status when it is not 200)."""
    with socket.create_connection(("127.0.0.1", port), TIMEOUT, source_address=(src, 0)) as s:
        s.sendall(request)
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
