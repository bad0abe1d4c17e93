"""The engine's TLS parts without real HAProxy: the SNI choice (proxy.tls.FrontTLS.pick), the bind and
server models the parser builds, located warnings, the client contexts towards servers, and the TLS state a
client connection exposes (``ssl_object``, ``sni``: what ``ssl_fc`` and ``ssl_fc_sni`` will read)."""
from __future__ import annotations

import socket
import ssl

import pytest
from support.httpbackend import wait_for

from labsupport.course.certs import LabCA, subject_names
from labsupport.engine.balancer import Balancer
from labsupport.engine.config import parse
from labsupport.engine.config.model import CertEntry, ServerConfig, TlsBind
from labsupport.engine.proxy.tls import FrontTLS, name_mismatch, server_tls
from labsupport.errors import ConfigError
from labsupport.ports import free_ports

HEAD = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"


@pytest.fixture(scope="module")
def pems(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pems")
    ca = LabCA(folder)
    return {n: ca.bundle(*n.split("+"), folder=folder, filename=f"{i}.pem")
            for i, n in enumerate(("default.lab", "web.lab+www.lab", "*.api.lab", "exact.api.lab", "web.lab"))}


def front(pems, *entries: tuple[str, tuple[str, ...]]) -> FrontTLS:
    certs = []
    for name, filters in entries:
        names = filters or tuple(n.lower() for n in name.split("+"))
        certs.append(CertEntry(str(pems[name]), names, explicit=bool(filters)))
    return FrontTLS(TlsBind(tuple(certs)))


def test_pick_exact_then_wildcard_then_default(pems):
    f = front(pems, ("default.lab", ()), ("web.lab+www.lab", ()), ("*.api.lab", ()), ("exact.api.lab", ()),
              ("web.lab", ()))
    picks = {n: f.pick(n) for n in (None, "", "web.lab", "WWW.LAB", "x.api.lab", "a.b.api.lab", "exact.api.lab",
                                    "api.lab", "nobody.lab")}
    assert picks == {None: 0, "": 0, "web.lab": 1, "WWW.LAB": 1, "x.api.lab": 2, "a.b.api.lab": 0,
                     "exact.api.lab": 3, "api.lab": 0, "nobody.lab": 0}  # web.lab: the first loaded wins


def test_pick_with_crt_list_filters(pems):
    f = front(pems, ("default.lab", ()), ("*.api.lab", ("*.api.lab", "!secret.api.lab")),
              ("web.lab+www.lab", ("other.lab", "!www.lab")))
    assert [f.pick(n) for n in ("x.api.lab", "secret.api.lab", "other.lab", "web.lab", "www.lab")] == [1, 0, 2, 0, 0]


def test_bind_model_and_located_warnings(pems, tmp_path):
    lst = tmp_path / "l.lst"
    lst.write_text(f"# a comment\n\n{pems['default.lab']}\n{pems['*.api.lab']} [alpn h2] *.api.lab !s.api.lab\n")
    cfg = parse(HEAD + f"frontend fe\n    bind 127.0.0.1:8443 ssl crt-list {lst} ssl-min-ver TLSv1.3 alpn h2,http/1.1\n"
                     "    default_backend be\nbackend be\n"
                     "    server s1 127.0.0.1:9443 ssl verify none sni req.hdr(host) check-sni x.lab\n", path="t.cfg")
    tls = cfg.proxy("fe").binds[0].tls
    assert [(c.names, c.explicit) for c in tls.certs] == [(("default.lab",), False),
                                                          (("*.api.lab", "!s.api.lab"), True)]
    assert (tls.min_ver, tls.alpn) == ("TLSv1.3", ("http/1.1",))
    texts = [(w.line, w.text) for w in cfg.warnings]
    assert any(line == 7 and "'[alpn h2]' in crt-list" in t for line, t in texts), texts
    assert any(line == 7 and "'alpn h2,http/1.1': the course engine speaks HTTP/1.1 only" in t for line, t in texts)
    assert any(line == 10 and "'sni req.hdr(host)'" in t for line, t in texts)
    s = cfg.proxy("be").servers[0]
    assert (s.ssl, s.verify, s.sni, s.check_sni) == (True, "none", None, "x.lab")


def test_server_contexts(tmp_path, pems):
    ca = str(next(iter(pems.values())).parent / "lab_ca.pem")
    s = ServerConfig("s1", "127.0.0.1", 9443, ssl=True, verify="required", ca_file=ca, sni="app.lab",
                     check_sni="chk.lab")
    ctx, sni = server_tls(s)
    assert (sni, ctx.verify_mode, ctx.check_hostname) == ("app.lab", ssl.CERT_REQUIRED, True)
    ctx, sni = server_tls(s, check=True)
    assert sni == "chk.lab" and ctx.check_hostname
    plain = ServerConfig("s2", "127.0.0.1", 9443, check_ssl=True, verify="none")
    assert server_tls(plain) == (None, None)  # check-ssl: TLS for the checks only
    ctx, sni = server_tls(plain, check=True)
    assert (sni, ctx.verify_mode, ctx.check_hostname) == (None, ssl.CERT_NONE, False)
    no_sni = ServerConfig("s3", "127.0.0.1", 9443, ssl=True, verify="required", ca_file=ca)
    assert not server_tls(no_sni)[0].check_hostname  # without SNI, HAProxy checks the chain only


def test_name_mismatch():
    e = ssl.SSLCertVerificationError(1, "certificate verify failed: Hostname mismatch")
    e.verify_code = 62
    other = ssl.SSLCertVerificationError(1, "certificate verify failed")
    other.verify_code = 20
    assert name_mismatch(e) and not name_mismatch(other) and not name_mismatch(ConnectionRefusedError())


def test_client_connection_exposes_tls_state(pems):
    """A client connection on a TLS bind: ssl_object set and the SNI as sent; on a plain bind, None and None."""
    tls_port, plain_port = free_ports(2)
    b = Balancer.from_text(HEAD + f"frontend fe\n    bind 127.0.0.1:{tls_port} ssl crt {pems['default.lab']} "
                           f"crt {pems['web.lab+www.lab']}\n    bind 127.0.0.1:{plain_port}\n"
                           "    default_backend be\nbackend be\n")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with b:
        assert b.urls == [f"https://127.0.0.1:{tls_port}/", f"http://127.0.0.1:{plain_port}/"]
        assert repr(b) == f"<Balancer fe :{tls_port} ssl :{plain_port} -> be roundrobin: no server>"
        with socket.create_connection(("127.0.0.1", tls_port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="WWW.lab") as t, \
                socket.create_connection(("127.0.0.1", plain_port)):
            assert subject_names(t.getpeercert(True))[0] == "web.lab"
            t.sendall(b"GET / HTTP/1.1\r\n")  # a request begun: the connection stays open

            def states():
                got = b._call(lambda: sorted((c.sni or "", c.ssl_object is not None) for c in b._engine.conns))
                return got if len(got) == 2 else None
            assert wait_for(states) == [("", False), ("WWW.lab", True)]


def test_reload_reads_certificates_again(pems, tmp_path):
    """A reload re-reads a TLS bind's certificate files, and turns a clear bind into a TLS one."""
    port = free_ports(1)[0]
    pem = tmp_path / "site.pem"
    pem.write_bytes(pems["default.lab"].read_bytes())
    text = HEAD + f"frontend fe\n    bind 127.0.0.1:{port} ssl crt {pem}\n    default_backend be\nbackend be\n"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE

    def shown() -> str | None:
        try:
            with socket.create_connection(("127.0.0.1", port), 2) as raw, ctx.wrap_socket(raw) as t:
                return subject_names(t.getpeercert(True))[0]
        except OSError:
            return None
    with Balancer.from_text(text.replace(" ssl crt " + str(pem), "")) as b:
        assert shown() is None  # clear text: no handshake
        b.reload(text)
        assert wait_for(shown) == "default.lab"
        pem.write_bytes(pems["web.lab"].read_bytes())
        b.reload(text)
        assert wait_for(lambda: shown() == "web.lab")


def test_certificate_broken_after_parsing_is_a_config_error(pems, tmp_path):
    port = free_ports(1)[0]
    pem = tmp_path / "site.pem"
    pem.write_bytes(pems["default.lab"].read_bytes())
    b = Balancer.from_text(HEAD + f"frontend fe\n    bind 127.0.0.1:{port} ssl crt {pem}\n    default_backend be\n"
                           "backend be\n")
    pem.write_text("not a certificate any more\n")
    with pytest.raises(ConfigError, match=f"'bind :{port}' : unable to load certificate from file '{pem}'"):
        b.start()

