"""Cookie persistence decided without I/O (labsupport/engine/proxy/cookies.py): the Cookie header a server
receives, the server a cookie designates, the answer's Set-Cookie and Cache-Control headers. The vectors
are what HAProxy 2.6.12 did (tests/differential/test_cookies.py plays them on both)."""
from __future__ import annotations

import time
from types import SimpleNamespace as NS

import pytest

from labsupport.engine.config import parse
from labsupport.engine.proxy.cookies import CookieTxn, b64tos30, del_value, s30tob64


def _backend(cookie_line: str, extra: str = "", s3_cookie: bool = True):
    text = ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
            "frontend f\n    bind 127.0.0.1:9\n    default_backend b\n"
            f"backend b\n    {cookie_line}\n{extra}"
            "    server s1 127.0.0.1:1 cookie s1\n    server s2 127.0.0.1:2 cookie s2\n"
            f"    server s3 127.0.0.1:3{' cookie s3' if s3_cookie else ''}\n")
    cfg = parse(text).proxy("b")
    servers = {s.name: NS(name=s.name, cfg=s, health=NS(op="running")) for s in cfg.servers}
    return cfg, NS(servers=servers)


INDIRECT = [  # what the client sent -> the Cookie header the server gets (None: no header), the server
    ("a=1; SERVERID=s2; b=2", "a=1; b=2", "s2"),
    ("SERVERID=s3; theme=dark", "theme=dark", "s3"),
    ("a=1 ;  SERVERID = s1 , b", "a=1, b", "s1"),
    ("flag; SERVERID=s2; x=1", "flag; x=1", "s2"),
    ("$Version=1; SERVERID=s1; $Path=/", None, "s1"),
    ("SERVERID=s1; SERVERID=s2", None, "s1"),
    ("SERVERID=zz", None, None),
    ("SERVERID=s3|abcde", None, "s3"),
]


@pytest.mark.parametrize("sent,kept,server", INDIRECT)
def test_insert_indirect_removes_only_the_persistence_cookie(sent, kept, server):
    cfg, be = _backend("cookie SERVERID insert indirect nocache")
    ck = CookieTxn(cfg)
    headers = [b"Host: lab\r\n", b"Cookie: " + sent.encode() + b"\r\n"]
    ck.request(be, headers)
    assert headers[1:] == ([b"Cookie: " + kept.encode() + b"\r\n"] if kept is not None else [])
    assert (ck.direct.name if ck.direct else None) == server


def test_prefix_strips_the_server_from_the_value():
    cfg, be = _backend("cookie JSESSIONID prefix")
    ck = CookieTxn(cfg)
    headers = [b"cookie: x=1; JSESSIONID=s2~abc123; y=2\r\n"]
    ck.request(be, headers)
    assert headers == [b"cookie: x=1; JSESSIONID=abc123; y=2\r\n"] and ck.direct.name == "s2" and ck.req == "V"
    ck = CookieTxn(cfg)
    headers = [b"Cookie: JSESSIONID=nosuch~abc\r\n"]
    ck.request(be, headers)
    assert headers == [b"Cookie: JSESSIONID=abc\r\n"] and ck.direct is None and ck.req == "I"


@pytest.mark.parametrize("op,persist,flag,server", [("stopped", False, "D", None), ("stopped", True, "D", "s1"),
                                                     ("running", False, "V", "s1")])
def test_a_down_server_needs_option_persist(op, persist, flag, server):
    cfg, be = _backend("cookie SERVERID insert indirect", "    option persist\n" if persist else "")
    be.servers["s1"].health.op = op
    ck = CookieTxn(cfg)
    ck.request(be, [b"Cookie: SERVERID=s1\r\n"])
    assert (ck.req, ck.direct.name if ck.direct else None) == (flag, server)


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2"


@pytest.mark.parametrize("line,method,extra,added", [
    ("cookie SERVERID insert indirect nocache", b"GET", b"", [b"set-cookie: SERVERID=s1; path=/"]),
    ("cookie SERVERID insert indirect nocache", b"GET", b"\r\nCache-Control: max-age=60",
     [b"set-cookie: SERVERID=s1; path=/", b"cache-control: private"]),
    ("cookie SERVERID insert indirect nocache", b"POST", b"\r\nETag: \"v\"", [b"set-cookie: SERVERID=s1; path=/"]),
    ("cookie SRV insert httponly secure domain .a.lab domain .b.lab attr SameSite=Lax", b"GET", b"",
     [b"set-cookie: SRV=s1; path=/; domain=.a.lab; domain=.b.lab; HttpOnly; Secure; SameSite=Lax"]),
    ("cookie SRV insert postonly", b"GET", b"", []),
])
def test_insert_writes_haproxys_headers(line, method, extra, added):
    cfg, be = _backend(line)
    ck = CookieTxn(cfg)
    head = ck.response(HEAD + extra, be.servers["s1"], 200, method)
    assert head.split(b"\r\n")[len((HEAD + extra).split(b"\r\n")):] == added
    assert ck.log_flags() == ("NI" if added else "NN")


def test_a_server_without_a_value_gets_an_expired_cookie():
    cfg, be = _backend("cookie SRV insert", s3_cookie=False)
    head = CookieTxn(cfg).response(HEAD, be.servers["s3"], 200, b"GET")
    assert head.endswith(b"\r\nset-cookie: SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/")


@pytest.mark.parametrize("line,sent,got,flags", [
    ("cookie JSESSIONID prefix", b"Set-Cookie: JSESSIONID=abc123; Path=/", b"Set-Cookie: JSESSIONID=s1~abc123; Path=/",
     "NR"),
    ("cookie JSESSIONID prefix", b"Set-Cookie: JSESSIONID = v ; Path=/", b"Set-Cookie: JSESSIONID=s1~v ; Path=/", "NR"),
    ("cookie SID rewrite", b"Set-Cookie: SID=whatever; Path=/; HttpOnly", b"Set-Cookie: SID=s1; Path=/; HttpOnly", "NR"),
    ("cookie SERVERID insert indirect preserve", b"Set-Cookie: SERVERID=; Max-Age=0", b"Set-Cookie: SERVERID=; Max-Age=0",
     "NP"),
])
def test_the_applications_cookie(line, sent, got, flags):
    cfg, be = _backend(line)
    ck = CookieTxn(cfg)
    assert ck.response(HEAD + b"\r\n" + sent, be.servers["s1"], 200, b"GET") == HEAD + b"\r\n" + got
    assert ck.log_flags() == flags


def test_passive_cookies_log_dashes():
    cfg, _ = _backend("cookie SERVERID")
    assert CookieTxn(cfg).log_flags() == "--"


def test_helpers():
    buf = bytearray(b"a=1; S=2; b=3")
    delta, frm = del_value(buf, 0, len(buf), 3, 8)  # remove "; S=2" (from the ';' before it to the next ';')
    assert (bytes(buf), delta, frm) == (b"a=1; b=3", -5, 3)
    assert b64tos30(b"AAAAB") == 1 and b64tos30(b"ab=de") == -1


def test_a_second_cookie_line_starts_over_but_keeps_the_attributes():
    """cfgparse-listen.c resets the options, domains and dates of a new 'cookie' line, not its 'attr's
    (inherited from defaults too)."""
    text = ("defaults\n    mode http\n    cookie A insert httponly domain .a.lab attr x=1\n    timeout connect 1s\n"
            "    timeout client 1s\n    timeout server 1s\nfrontend f\n    bind 127.0.0.1:9\n    default_backend b\n"
            "backend b\n    cookie B prefix attr y=2\n    server s1 127.0.0.1:1 cookie s1\n")
    cfg = parse(text)
    ck = cfg.proxy("b").cookie
    assert (ck.name, ck.prefix, ck.insert, ck.httponly, ck.domain, ck.attrs) == ("B", True, False, False, None, "x=1; y=2")
    assert cfg.proxy("f").cookie is None


def _ago(seconds: int) -> str:
    """A cookie date (5 base64 digits, 4-second units) ``seconds`` before now (negative: ahead)."""
    return s30tob64(int(time.time() - seconds) >> 2)


@pytest.mark.parametrize("value,flag,server", [
    (f"s1|{_ago(-3600)}", "V", "s1"),  # seen an hour ahead: fine
    (f"s1|{_ago(600)}", "E", None),  # idle 10 minutes, maxidle 60s
    (f"s1|{_ago(-2 * 86400)}", "E", None),  # more than a day ahead
    (f"s1|{_ago(-3600)}|{_ago(7200)}", "O", None),  # first seen 2 hours ago, maxlife 1h
    (f"s1|{_ago(600)}|{_ago(7200)}", "O", None),  # too old is said before idle
    ("s1|ab=de", "V", "s1"),  # not a date
])
def test_dated_cookies_expire(value, flag, server):
    cfg, be = _backend("cookie SERVERID insert indirect maxidle 60s maxlife 1h")
    ck = CookieTxn(cfg)
    ck.request(be, [b"Cookie: SERVERID=" + value.encode() + b"\r\n"])
    assert (ck.req, ck.direct.name if ck.direct else None) == (flag, server)


def test_dated_cookies_are_written_with_the_dates():
    """last|first, the time rounded up to 4 seconds; a kept first date is copied; none refreshed ahead."""
    cfg, be = _backend("cookie SERVERID insert indirect maxidle 60s maxlife 1h")
    ck = CookieTxn(cfg)
    first = _ago(100).encode()
    ck.request(be, [b"Cookie: SERVERID=s1|" + _ago(20).encode() + b"|" + first + b"\r\n"])
    t = time.time()
    line = ck.response(HEAD, be.servers["s1"], 200, b"GET").split(b"\r\n")[-1]
    assert line.startswith(b"set-cookie: SERVERID=s1|") and line.endswith(b"|" + first + b"; path=/")
    assert ck.log_flags() == "VU"
    assert abs((b64tos30(line[24:29]) << 2) - t) <= 8
    ck = CookieTxn(cfg)
    ck.request(be, [b"Cookie: SERVERID=s1|" + _ago(-3600).encode() + b"|" + _ago(100).encode() + b"\r\n"])
    assert ck.response(HEAD, be.servers["s1"], 200, b"GET") == HEAD and ck.log_flags() == "VN"
    assert s30tob64(1) == "AAAAB" and b64tos30(s30tob64(0x3FFFFFFF).encode()) == 0x3FFFFFFF


@pytest.mark.parametrize("value,seconds", [("90", 90), ("500ms", 1), ("1500ms", 2), ("5us", 1), ("30d", 2592000),
                                           ("1h5m", 3600)])
def test_maxidle_is_whole_seconds_rounded_up(value, seconds):
    """parse_time_err with TIME_UNIT_S (what haproxy then compares cookie dates with)."""
    cfg, _ = _backend(f"cookie SERVERID insert maxidle {value} maxlife {value}")
    assert (cfg.cookie.maxidle, cfg.cookie.maxlife) == (seconds, seconds)
