"""TLS passthrough without real HAProxy: the ClientHello fetches (sample/clienthello.py) on real hellos
cut at every length, the three-valued conditions that make a rule wait, the tcp-request lines in the
model, and the engine routing split hellos by SNI (tests/differential/test_tls_passthrough.py compares
the same with HAProxy 2.6)."""
from __future__ import annotations

import ssl

import pytest
from support.statscsv import rows
from support.tlsbio import TlsNamedServer, client_hello, talk

from labsupport.course.certs import LabCA
from labsupport.engine.balancer import Balancer
from labsupport.engine.config import check, parse
from labsupport.engine.sample import Ctx, parse_condition
from labsupport.engine.sample.clienthello import req_len, req_ssl_ver, ssl_hello_sni, ssl_hello_type
from labsupport.ports import free_ports


def hello(sni: str | None) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    out = ssl.MemoryBIO()
    return client_hello(ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname=sni), out)


def test_a_whole_hello_gives_its_name_type_and_version():
    h = hello("Shop.Lab")
    assert ssl_hello_sni(h) == ("Shop.Lab", False)  # as sent: '-i' in the ACL makes it case-insensitive
    assert ssl_hello_type(h) == (1, False)
    assert req_ssl_ver(h) == (0x30003, False)  # TLS 1.3 clients write 1.2 there too
    assert req_len(h) == (len(h), True)  # always "may change"
    assert ssl_hello_sni(hello(None)) == (None, False)


def test_a_partial_hello_may_change_until_it_is_there():
    h = hello("www.api.lab")
    for n in range(len(h) - 4):  # payload.c wants the handshake whole but for its own 4-byte header
        assert ssl_hello_sni(h[:n]) == (None, True), n
    for n in range(len(h)):
        assert ssl_hello_type(h[:n]) == (None, True), n
    assert ssl_hello_sni(h[:len(h) - 4]) == ("www.api.lab", False)


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\n\r\n", b"\x00\x01", b"SSH-2.0-OpenSSH_9\r\n"])
def test_other_protocols_are_no_hello_at_once(data):
    assert ssl_hello_sni(data) == (None, False)
    assert ssl_hello_type(data) == (None, False)


def test_an_sslv2_hello_gives_its_version():
    ciphers, challenge = bytes(21), bytes(16)
    body = b"\x01\x03\x01" + (21).to_bytes(2, "big") + b"\x00\x00" + (16).to_bytes(2, "big") + ciphers + challenge
    assert req_ssl_ver(bytes([0x80, len(body)]) + body) == (0x30001, False)
    assert req_ssl_ver(bytes([0x80, len(body)]) + body[:20]) == (None, True)


def cond(text: str):
    return parse_condition(text.split(), {}, None, "x")


def ctx(payload: bytes, final: bool) -> Ctx:
    return Ctx(None, "127.0.0.1", 50000, payload=payload, final=final)


def test_conditions_wait_while_a_sample_may_change():
    h = hello("a.lab")
    sni = cond("{ req.ssl_sni -i A.LAB }")
    assert sni.test(ctx(h[:40], False)) is None  # MISS: wait for more bytes
    assert sni.test(ctx(h[:40], True)) is False  # final: the sample is absent
    assert sni.test(ctx(h, False)) is True
    assert cond("! { req.ssl_sni -i a.lab }").test(ctx(h[:40], False)) is None  # negation keeps a MISS
    assert cond("{ src 127.0.0.1 } || { req.ssl_sni x }").test(ctx(b"", False)) is True  # a PASS decides
    assert cond("{ src 10.0.0.1 } { req.ssl_sni x }").test(ctx(b"", False)) is False  # a FAIL decides
    assert cond("{ req.len gt 5 }").test(ctx(b"abc", False)) is None
    assert cond("{ req.len gt 5 }").test(ctx(b"abcdefg", False)) is True
    assert cond("{ req.ssl_sni x }").test(Ctx.of("GET", "lab", "/")) is False  # mode http: no buffer, no sample


def test_tcp_request_lines_in_the_model():
    cfg = parse("defaults d\n    mode tcp\n    tcp-request inspect-delay 3s\n"
                "frontend f from d\n    bind 127.0.0.1:9\n    tcp-request content accept if { req.ssl_hello_type 1 }\n"
                "    tcp-request content reject\n    default_backend b\n"
                "backend b from d\n    tcp-request content reject unless { req.ssl_sni -m end .lab }\n"
                "    server s 127.0.0.1:1\n")
    f, b = cfg.proxy("f"), cfg.proxy("b")
    assert f.inspect_delay == b.inspect_delay == 3000  # inherited from the named defaults
    assert [(r.action, r.line, r.cond is not None) for r in f.tcp_request] == [("accept", 6, True), ("reject", 7, False)]
    assert b.tcp_request[0].cond.negate


def test_rules_that_read_bytes_nothing_waits_for_get_a_located_note(tmp_path):
    path = tmp_path / "n.cfg"
    path.write_text("defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                    "frontend f\n    bind 127.0.0.1:9\n    use_backend b if { req.ssl_sni -i a }\n    default_backend b\n"
                    "frontend g\n    bind 127.0.0.1:10\n    tcp-request content reject unless { req.len gt 0 }\n"
                    "    default_backend b\nbackend b\n    server s 127.0.0.1:1\n")
    code, _, err = check(str(path), name="n.cfg")
    assert code == 0
    assert "[n.cfg:8] : this 'use_backend' rule reads the client's first bytes, but no 'tcp-request content'" in err
    assert "[n.cfg:12] : without 'tcp-request inspect-delay' this rule reads only the bytes already there" in err


CONFIG = """defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request inspect-delay 2s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    tcp-request content reject
    use_backend shop if {{ req.ssl_sni -i shop.lab }}
    default_backend web
backend shop
    server s1 127.0.0.1:{shop}
backend web
    server s1 127.0.0.1:{web}
"""


def test_the_engine_routes_split_hellos_by_name_and_rejects_the_rest(tmp_path):
    ca = LabCA(tmp_path)
    arrivals: list = []
    servers = {b: TlsNamedServer(b, *map(str, ca.cert_and_key(f"{b}.lab")), arrivals) for b in ("shop", "web")}
    port = free_ports(1)[0]
    lb = Balancer.from_text(CONFIG.format(port=port, shop=servers["shop"].port, web=servers["web"].port))
    try:
        lb.start()
        assert talk(port, "split", "shop.lab")[0] == "answered shop"
        said, sent = talk(port, "split", "other.lab")
        assert said == "answered web" and arrivals[-1] == ("web", sent)  # relayed unchanged
        assert talk(port, "plain")[0] == "closed"
        assert talk(port, "half", "shop.lab")[0] == "closed"
        fe = next(r for r in rows(lb.stats_csv()) if r["svname"] == "FRONTEND")
        assert (fe["stot"], fe["dreq"]) == ("4", "2")
    finally:
        lb.stop()
        for s in servers.values():
            s.close()
