"""TLS at the edge on the engine against real HAProxy 2.6, on the same config text.

Compared: which certificate (CN and subjectAltNames) answers each SNI name and no SNI, with ``crt DIR``,
``crt-list`` (filters, ``!name``) and several ``crt`` on one line; the bytes of a response through TLS
termination; ``ssl-min-ver TLSv1.3`` refusing a TLSv1.2 client; re-encryption to a Flask server over TLS:
check_status / check_desc with a CA that did not sign it, the 503 and the log's termination flags for a
request through it, and a name mismatch between ``sni`` and the certificate.
"""
from __future__ import annotations

import re
import socket
import ssl
import subprocess
import sys
import time

import pytest
from support.httpbackend import wait_for
from support.paths import ROOT
from support.procs import start_together

from labsupport.course.certs import LabCA, subject_names
from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.engine.balancer import Balancer
from labsupport.ports import free_ports

HEAD = ("global\n    log stdout format raw local0\ndefaults\n    mode http\n    log global\n    option httplog\n"
        "    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n")
NAMES = (None, "web.lab", "WWW.Lab", "other.lab", "x.api.lab", "a.b.api.lab", "exact.api.lab", "secret.api.lab",
         "api.lab", "nobody.lab", "default.lab")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A lab CA, a folder of bundles, crt-lists, a rogue CA, and a TLS certificate for the app server."""
    folder = tmp_path_factory.mktemp("pki")
    ca = LabCA(folder)
    d = ca.crt_dir(folder / "dir", ("default.lab",), ("web.lab", "www.lab"), ("web.lab", "other.lab"),
                   ("*.api.lab",), ("exact.api.lab",))
    pems = sorted(d.iterdir())
    lists = {
        "filters": ca.crt_list(folder / "filters.lst", [(pems[0], ()), (pems[1], ("other.lab", "!www.lab")),
                                                          (pems[3], ("*.api.lab", "!secret.api.lab")),
                                                          (pems[2], ("secret.api.lab",))]),
        "plain": ca.crt_list(folder / "plain.lst", [(pems[0], ()), (pems[2], ()), (pems[1], ()), (pems[3], ())]),
    }
    rogue = ca.rogue()
    cert, key = ca.cert_and_key("app.lab", folder=folder)
    return {"ca": ca, "dir": d, "pems": pems, "lists": lists, "rogue": rogue, "app": (cert, key), "folder": folder}


def served(port: int, sni: str | None, max_version: ssl.TLSVersion | None = None) -> tuple:
    """(CN, SANs, TLS version) of the certificate a listener shows a client sending ``sni``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if max_version is not None:
        ctx.maximum_version = max_version
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s, ctx.wrap_socket(s, server_hostname=sni) as t:
        return (*subject_names(t.getpeercert(True)), t.version())


class Pair:
    """The engine and real HAProxy on ``text`` with its bind ports moved for HAProxy."""

    def __init__(self, haproxy_bin: str, text: str, ports: list[int]) -> None:
        moved = free_ports(len(ports))
        self.ports = dict(zip(ports, moved))
        self.engine = Balancer.from_text(text)
        self.haproxy = HAProxy.from_text(text, "tls.cfg", port_map=self.ports, binary=haproxy_bin)

    def __enter__(self) -> "Pair":
        start_together((self.haproxy, self.engine))
        return self

    def __exit__(self, *exc) -> None:
        self.engine.stop()
        self.haproxy.stop()


def _answers(pair: Pair, port: int) -> list[tuple]:
    return [(name, served(port, name), served(pair.ports[port], name)) for name in NAMES]


def test_certificate_for_each_sni_name(haproxy_bin, pki):
    """crt DIR, crt-list with and without filters, and several crt on one line choose alike."""
    p = free_ports(4)
    pems = pki["pems"]
    text = HEAD + (f"frontend fe\n    bind 127.0.0.1:{p[0]} ssl crt {pki['dir']}\n"
                   f"    bind 127.0.0.1:{p[1]} ssl crt-list {pki['lists']['filters']}\n"
                   f"    bind 127.0.0.1:{p[2]} ssl crt-list {pki['lists']['plain']}\n"
                   f"    bind 127.0.0.1:{p[3]} ssl crt {pems[2]} crt {pems[3]} crt {pems[1]} crt {pems[4]}\n"
                   "    default_backend be\nbackend be\n    server s1 127.0.0.1:9\n")
    with Pair(haproxy_bin, text, p) as pair:
        rows = [row for port in p for row in _answers(pair, port)]
    differ = [(name, engine, real) for name, engine, real in rows if engine != real]
    assert not differ, differ
    by_name = {name: real[0] for name, _, real in rows[:len(NAMES)]}  # the crt DIR listener, as HAProxy does it
    assert by_name[None] == "default.lab" and by_name["WWW.Lab"] == "web.lab" and by_name["x.api.lab"] == "*.api.lab"
    assert by_name["a.b.api.lab"] == "default.lab" and by_name["exact.api.lab"] == "exact.api.lab"
    assert len(rows) == 4 * len(NAMES)


def test_min_version_and_response_bytes(haproxy_bin, pki, tmp_path):
    """ssl-min-ver TLSv1.3 refuses TLSv1.2 on both; a response through TLS termination is byte for byte
    HAProxy's (a 503 page from an empty backend: nothing varies)."""
    p = free_ports(2)
    text = HEAD + (f"frontend fe\n    bind 127.0.0.1:{p[0]} ssl crt {pki['pems'][1]} ssl-min-ver TLSv1.3\n"
                   f"    bind 127.0.0.1:{p[1]} ssl crt {pki['pems'][1]} alpn http/1.1\n"
                   "    default_backend be\nbackend be\n")
    with Pair(haproxy_bin, text, p) as pair:
        for port in (p[0], pair.ports[p[0]]):
            with pytest.raises(ssl.SSLError):
                served(port, "web.lab", ssl.TLSVersion.TLSv1_2)
            assert served(port, "web.lab")[2] == "TLSv1.3"
        assert served(p[1], "web.lab", ssl.TLSVersion.TLSv1_2)[2] == "TLSv1.2"
        got = [_https_get(port, "web.lab", pki["ca"].ca_file) for port in (p[1], pair.ports[p[1]])]
    assert got[0] == got[1] and got[0][1].startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), got
    assert got[0][0] == "http/1.1"


def test_strict_sni_and_max_version(haproxy_bin, pki):
    """strict-sni refuses no SNI and a name nobody configured, and still serves the others; without any
    certificate it refuses every handshake; ssl-max-ver TLSv1.2 caps what a default client gets."""
    p = free_ports(3)
    text = HEAD + (f"frontend fe\n    bind 127.0.0.1:{p[0]} ssl crt {pki['dir']} strict-sni\n"
                   f"    bind 127.0.0.1:{p[1]} ssl strict-sni\n"
                   f"    bind 127.0.0.1:{p[2]} ssl crt {pki['pems'][1]} ssl-max-ver TLSv1.2\n"
                   "    default_backend be\nbackend be\n")

    def outcome(port: int, sni: str | None) -> tuple | str:
        try:
            return served(port, sni)
        except ssl.SSLError:
            return "refused"
    with Pair(haproxy_bin, text, p) as pair:
        cases = [(port, sni) for port in p for sni in (None, "nobody.lab", "www.lab", "x.api.lab")]
        got = [(outcome(port, sni), outcome(pair.ports[port], sni)) for port, sni in cases]
    assert all(ours == real for ours, real in got), got
    assert [real for _, real in got[:4]] == ["refused", "refused", ("web.lab", ("web.lab", "www.lab"), "TLSv1.3"),
                                             ("*.api.lab", ("*.api.lab",), "TLSv1.3")]
    assert {real for _, real in got[4:8]} == {"refused"} and {real[2] for _, real in got[8:]} == {"TLSv1.2"}


def test_versions_from_default_bind_options(haproxy_bin, pki):
    """Mozilla's "modern" ssl-default-bind-options (no-tlsv12 ...) leaves TLSv1.3 only; a bind's force-tlsv12
    or ssl-min-ver overrides the no-* flags (HAProxy warns): the versions each listener accepts agree."""
    p = free_ports(3)
    pem = pki["pems"][1]
    text = ("global\n    ssl-default-bind-options prefer-client-ciphers no-sslv3 no-tlsv10 no-tlsv11 no-tlsv12 "
            "no-tls-tickets\n" + HEAD.removeprefix("global\n") +
            f"frontend fe\n    bind 127.0.0.1:{p[0]} ssl crt {pem}\n    bind 127.0.0.1:{p[1]} ssl crt {pem} force-tlsv12\n"
            f"    bind 127.0.0.1:{p[2]} ssl crt {pem} ssl-min-ver TLSv1.2\n    default_backend be\nbackend be\n")

    def accepts(port: int) -> list[str]:
        out = []
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            try:
                out.append(_version_only(port, v))
            except ssl.SSLError:
                out.append("refused")
        return out
    with Pair(haproxy_bin, text, p) as pair:
        got = [(accepts(port), accepts(pair.ports[port])) for port in p]
    assert all(ours == real for ours, real in got), got
    assert [real for _, real in got] == [["refused", "TLSv1.3"], ["TLSv1.2", "refused"], ["TLSv1.2", "TLSv1.3"]]


def _version_only(port: int, version: ssl.TLSVersion) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s, ctx.wrap_socket(s) as t:
        return t.version()


def _https_get(port: int, sni: str, ca_file, path: str = "/") -> tuple[str | None, bytes]:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s, ctx.wrap_socket(s, server_hostname=sni) as t:
        t.sendall(f"GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := t.recv(65536):
            data += chunk
        return t.selected_alpn_protocol(), data


def _same_case(answer: bytes) -> bytes:
    """An answer with its header names lower-cased and its Date header left out."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    fields = [n.lower() + b":" + v for n, _, v in (x.partition(b":") for x in lines[1:]) if n.lower() != b"date"]
    return b"\r\n".join([lines[0], *fields]) + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def tls_app(pki):
    """backends/app.py over TLS with the lab CA's certificate for app.lab."""
    port = free_ports(1)[0]
    cert, key = pki["app"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "backends" / "app.py"), str(port), "--tls", str(cert), str(key)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = ssl.create_default_context(cafile=str(pki["ca"].ca_file))

    def up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s, ctx.wrap_socket(s, server_hostname="app.lab"):
                return True
        except OSError:
            return proc.poll() is not None and pytest.fail("backends/app.py --tls exited")
    wait_for(up, timeout=30)
    yield port
    proc.terminate()
    proc.wait(10)


def test_reencryption_checks_and_requests(haproxy_bin, pki, tls_app):
    """Good CA, wrong CA, name mismatch, verify none: check_status, check_desc, the status and log flags."""
    p = free_ports(1)
    ca, rogue = pki["ca"].ca_file, pki["rogue"].ca_file
    a = f"127.0.0.1:{tls_app}"
    text = HEAD + (f"frontend fe\n    bind 127.0.0.1:{p[0]} ssl crt {pki['pems'][1]}\n"
                   "    use_backend good if { path_beg /good }\n    use_backend rogue if { path_beg /rogue }\n"
                   "    use_backend mismatch if { path_beg /mismatch }\n    default_backend none\n"
                   f"backend good\n    server s1 {a} ssl verify required ca-file {ca} sni str(app.lab) check inter 300\n"
                   f"backend rogue\n    server s1 {a} ssl verify required ca-file {rogue} sni str(app.lab)\n"
                   f"    server s2 {a} ssl verify required ca-file {rogue} check inter 300\n"
                   f"backend mismatch\n    server s1 {a} ssl verify required ca-file {ca} sni str(web.lab)\n"
                   f"    server s2 {a} check-ssl verify required ca-file {ca} check-sni web.lab check inter 300\n"
                   f"backend none\n    server s1 {a} ssl verify none check inter 300\n"
                   f"backend httpchk\n    option httpchk GET /health\n"
                   f"    server s1 {a} ssl verify required ca-file {ca} sni str(app.lab) check inter 300\n")
    with Pair(haproxy_bin, text, p) as pair:
        def settled(b) -> list[dict] | None:
            rows = [r for r in parse_stat_csv(b.stats_csv()) if r["svname"] not in ("FRONTEND", "BACKEND")]
            checked = [r for r in rows if r["check_status"] not in ("", None)]
            # "* L6OK": HAProxy shows a check in progress so (the engine does not): ask again
            return rows if checked and all(r["check_status"] not in ("INI",) and "/" not in str(r["status"])
                                           and not str(r["check_status"]).startswith("* ")
                                           for r in checked) and len(checked) == 5 else None
        stats = [wait_for(lambda b=b: settled(b), timeout=20) for b in (pair.engine, pair.haproxy)]
        down = [sorted(re.sub(r"check duration: \d+ms", "check duration: Xms", re.sub(r"^\[\w+\]\s+\(\d+\) : ", "", x))
                       for x in set(b.events()[0]) if " is DOWN, " in x) for b in (pair.engine, pair.haproxy)]
        assert down[0] == down[1] and any('reason: Layer6 invalid response, info: "SSL handshake failure"' in x
                                          for x in down[1]), down
        cols = ("pxname", "svname", "status", "check_status", "check_code", "check_desc")
        views = [[tuple(r[c] for c in cols) for r in s] for s in stats]
        assert views[0] == views[1], views
        results = {}
        for name, port in (("engine", p[0]), ("haproxy", pair.ports[p[0]])):
            results[name] = [_https_get(port, "web.lab", pki["ca"].ca_file, path)[1].split(b"\r\n", 1)[0]
                             for path in ("/good", "/rogue", "/mismatch", "/")]
        assert results["engine"] == results["haproxy"], results
        # a whole answer through TLS termination and re-encryption, byte for byte but for its Date line and
        # the case of header names (the engine passes them as the server wrote them: a known difference)
        whole = [_same_case(_https_get(port, "web.lab", pki["ca"].ca_file)[1]) for port in (p[0], pair.ports[p[0]])]
        assert whole[0] == whole[1] and whole[1].endswith(f"\r\n\r\nHi!! from server {tls_app}".encode()), whole
        logs = {}
        for name, b in (("engine", pair.engine), ("haproxy", pair.haproxy)):
            # five requests: the four paths and the whole answer (a line is written when its request ends, so
            # waiting for four once left HAProxy's fifth out)
            lines = wait_for(lambda b=b: [x for x in b.logs()[0] if '"GET /' in x] if len(
                [x for x in b.logs()[0] if '"GET /' in x]) >= 5 else None, timeout=10)
            # in the order the requests were sent: HAProxy's two threads may write two lines in either order (a
            # busy machine once showed the / sent after /mismatch before it)
            order = ["/good", "/rogue", "/mismatch", "/"]
            lines = sorted(lines, key=lambda x: order.index(x.split('"GET ', 1)[1].split()[0]))
            # frontend (with '~': TLS), backend/server, status, termination flags, retries (the last count)
            logs[name] = [(f[2], f[3], f[5], f[9], f[10].rsplit("/", 1)[1]) for f in (x.split() for x in lines)]
            # the unknown CA is retried 1 s apart (3 retries, about 3 s); the name mismatch is never retried
            total = [int(f[4].rsplit("/", 1)[1]) for f in (x.split() for x in lines)]
            assert total[1] >= 2900 and total[2] < 900, (name, lines)
    assert logs["engine"] == logs["haproxy"], logs
    assert [f[2:] for f in logs["haproxy"][1:3]] == [("503", "SC--", "3")] * 2
    assert {f[0] for f in logs["haproxy"]} == {"fe~"}
    by_row = {(r[0], r[1]): r for r in views[1]}
    assert (by_row[("rogue", "s2")][3], by_row[("rogue", "s2")][5]) == ("L6RSP", "Layer6 invalid response")
    assert by_row[("good", "s1")][3] == "L6OK" and by_row[("httpchk", "s1")][3:5] == ("L7OK", 200)
    assert results["haproxy"][0].startswith(b"HTTP/1.1 404")  # the app answered (it serves / only)
    assert results["haproxy"][1:3] == [b"HTTP/1.1 503 Service Unavailable"] * 2


def test_tcp_mode_terminates_and_reencrypts(haproxy_bin, pki, tls_app):
    """mode tcp: TLS from the client ends at the balancer, TLS to the server starts there; through a server
    whose CA is unknown, both close the connection without a byte."""
    p = free_ports(2)
    ca, rogue = pki["ca"].ca_file, pki["rogue"].ca_file
    text = HEAD.replace("mode http", "mode tcp").replace("    option httplog\n", "") + (
        f"frontend fe\n    bind 127.0.0.1:{p[0]} ssl crt {pki['pems'][1]}\n    default_backend good\n"
        f"frontend fe2\n    bind 127.0.0.1:{p[1]} ssl crt {pki['pems'][1]}\n    default_backend rogue\n"
        f"backend good\n    server s1 127.0.0.1:{tls_app} ssl verify required ca-file {ca} sni str(app.lab)\n"
        f"backend rogue\n    server s1 127.0.0.1:{tls_app} ssl verify required ca-file {rogue} sni str(app.lab)\n")
    with Pair(haproxy_bin, text, p) as pair:
        got = {}
        for name, ports in (("engine", p), ("haproxy", [pair.ports[x] for x in p])):
            answer = _https_get(ports[0], "web.lab", pki["ca"].ca_file)[1]
            head, _, body = answer.partition(b"\r\n\r\n")
            got[name] = (head.split(b"\r\n", 1)[0], body, _https_get(ports[1], "web.lab", pki["ca"].ca_file)[1])
    assert got["engine"] == got["haproxy"], got
    assert got["haproxy"] == (b"HTTP/1.1 200 OK", f"Hi!! from server {tls_app}".encode(), b"")


def test_silent_client_is_closed_after_timeout_client(haproxy_bin, pki):
    """A client that connects to a TLS bind and never says hello is closed after 'timeout client' on both."""
    p = free_ports(1)
    text = HEAD.replace("timeout client 5s", "timeout client 300ms") + (
        f"frontend fe\n    bind 127.0.0.1:{p[0]} ssl crt {pki['pems'][1]}\n    default_backend be\nbackend be\n")
    with Pair(haproxy_bin, text, p) as pair:
        closed = {}
        for name, port in (("engine", p[0]), ("haproxy", pair.ports[p[0]])):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                t0 = time.monotonic()
                closed[name] = (s.recv(100), time.monotonic() - t0)  # a socket.timeout here fails the test
    assert closed["engine"][0] == closed["haproxy"][0] == b""
    assert all(0.25 <= took < 3 for _, took in closed.values()), closed
