"""Rules that read the TLS layer, on the engine and on real HAProxy 2.6: ``ssl_fc`` (was the connection
TLS?), ``ssl_fc_sni`` and its ACL forms (the name the client asked for), on a frontend that listens both
in clear text and over TLS; each request reaches the same backend on both."""
from __future__ import annotations

import socket
import ssl

import pytest
from support.procs import start_together
from support.routing import NamedServer

from labsupport.course.certs import LabCA
from labsupport.course.haproxy import HAProxy
from labsupport.engine.balancer import Balancer
from labsupport.ports import free_ports

pytestmark = pytest.mark.haproxy
BACKENDS = ("b1", "b2", "b3", "web")
RULES = """
    use_backend b1 if { ssl_fc_sni -i api.lab }
    use_backend b2 if { ssl_fc_sni_end .shop.lab } || { ssl_fc_sni_reg ^img[0-9]\\. }
    use_backend b3 if { ssl_fc } !{ ssl_fc_has_sni }
    use_backend b3 if !{ ssl_fc } { path /tls-only }
    default_backend web
"""
# (over TLS?, SNI, path)
REQUESTS = [(False, None, "/"), (False, None, "/tls-only"), (True, None, "/"), (True, "api.lab", "/"),
            (True, "API.LAB", "/x"), (True, "www.lab", "/"), (True, "a.shop.lab", "/"), (True, "img3.lab", "/"),
            (True, "www.lab", "/tls-only"), (True, "shop.lab", "/")]


def ask(port: int, tls: bool, sni: str | None, path: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        s = raw
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            s = ctx.wrap_socket(raw, server_hostname=sni)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:  # bounded by the server's close and the 10 s timeout
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return body.decode() if b" 200 " in head.split(b"\r\n")[0] else head.split(b"\r\n")[0].decode()


def test_ssl_fc_and_the_sni_route_as_on_haproxy(haproxy_bin, tmp_path):
    ca = LabCA(tmp_path)
    folder = ca.crt_dir(tmp_path / "certs", ("default.lab",), ("api.lab",))
    servers = {b: NamedServer(b) for b in BACKENDS}
    plain, tls, plain2, tls2 = free_ports(4)
    text = ("defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
            f"frontend fe\n    bind 127.0.0.1:{plain}\n    bind 127.0.0.1:{tls} ssl crt {folder}\n{RULES}"
            + "".join(f"backend {b}\n    server s1 127.0.0.1:{servers[b].port}\n" for b in BACKENDS))
    lb = Balancer.from_text(text)
    hx = HAProxy.from_text(text, "tls-rules.cfg", port_map={plain: plain2, tls: tls2}, binary=haproxy_bin)
    try:
        start_together((hx, lb))
        assert [str(w) for w in lb.warnings] == []
        want = [ask(tls2 if t else plain2, t, sni, path) for t, sni, path in REQUESTS]
        got = [ask(tls if t else plain, t, sni, path) for t, sni, path in REQUESTS]
    finally:
        lb.stop()
        hx.stop()
        for srv in servers.values():
            srv.close()
    assert got == want
    assert want[:4] == ["web", "b3", "b3", "b1"]  # the oracle: clear text, then TLS without and with a name
