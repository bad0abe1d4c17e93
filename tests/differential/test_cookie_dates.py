"""Dated persistence cookies (``cookie ... maxidle T maxlife T``) on real HAProxy 2.6 and on the engine.

The client's cookies carry dates worked out once, from the clock when the script starts, and far enough
from every limit (minutes against maxidle 60s and maxlife 1h, an hour ahead, two days ahead) that both
balancers, run one after the other, judge them the same way. For each request: the same server answers
and receives the same Cookie header, the log has the same termination state (``--EI`` idle too long,
``--OI`` too old, ``--VU`` date refreshed, ``--VN`` left alone ...), and the client gets the same
Set-Cookie headers, where a date the balancer wrote from its clock (``|xxxxx``: 5 base64 digits of the
Unix time in 4-second units, rounded up) is compared as ``|<now>`` after checking that it decodes to the
time of the request (within a few seconds); a date copied from the client's cookie must be the same bytes.
"""
from __future__ import annotations

import re
import time

import pytest
from support.cookie_cases import CookieServer, config, cookie_headers, play
from support.httplog import logged_rows
from support.procs import start_together

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy
from labsupport.engine.proxy.cookies import b64tos30, s30tob64

pytestmark = pytest.mark.haproxy

BACKENDS = {
    "idle": ["cookie SERVERID insert indirect nocache maxidle 60s"],
    "both": ["cookie SERVERID insert indirect maxidle 60s maxlife 1h"],
    "life": ["cookie SERVERID insert indirect maxlife 1h"],
    "post": ["cookie SERVERID insert indirect postonly maxidle 60s"],
    "rw": ["cookie SID rewrite maxidle 60s"],
    "passive": ["cookie SERVERID maxidle 60s"],
    "pfx": ["cookie JSESSIONID prefix maxidle 60s maxlife 1h"],
    "none": ["cookie SERVERID insert indirect"],
}
NO_COOKIE_ON_S3 = ("idle",)
HOUR, DAY = 3600, 86400


def dater(base: int):
    """``dated(server, last, first)``: ``server|last|first`` as HAProxy writes it, the dates in seconds
    from ``base`` (None: left out), in 4-second units."""
    def dated(server: str, last: int | None, first: int | None = None) -> str:
        out = server
        for when in (last, first):
            if when is not None:
                out += "|" + s30tob64((base + when) >> 2)
        return out
    return dated


def script(base: int) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    """The requests, their cookies dated from ``base`` (the Unix time the script starts at)."""
    dated = dater(base)
    return [
        # maxidle 60s; s3 has no cookie value (an expired, empty cookie, without dates)
        ("idle new", "GET", "/idle/1", "", ()),
        ("idle new 2", "GET", "/idle/2", "", ()),
        ("idle new, no cookie value", "GET", "/idle/3", "", ()),
        ("idle seen now", "GET", "/idle/4", f"Cookie: SERVERID={dated('s2', HOUR)}\r\n", ()),
        ("idle seen 20s ago", "GET", "/idle/5", f"Cookie: a=1; SERVERID={dated('s2', -20)}; b=2\r\n", ()),
        ("idle seen 10 min ago", "GET", "/idle/6", f"Cookie: SERVERID={dated('s2', -600)}\r\n", ()),
        ("idle seen 2 days ahead", "GET", "/idle/7", f"Cookie: SERVERID={dated('s1', 2 * DAY)}\r\n", ()),
        ("idle seen 20h ahead", "GET", "/idle/8", f"Cookie: SERVERID={dated('s1', 20 * HOUR)}\r\n", ()),
        ("idle no date", "GET", "/idle/9", "Cookie: SERVERID=s1\r\n", ()),
        ("idle bad date", "GET", "/idle/10", "Cookie: SERVERID=s2|ab=de\r\n", ()),
        ("idle first date, dropped", "GET", "/idle/11", f"Cookie: SERVERID={dated('s1', HOUR, -100)}\r\n", ()),
        ("idle expired, unknown", "GET", "/idle/12", f"Cookie: SERVERID={dated('zz', -600)}\r\n", ()),
        ("idle 10 min, app max-age", "GET", "/idle/13",
         f"Cookie: SERVERID={dated('s1', -600)}\r\nX-Reply-Cache-Control: max-age=60\r\n", ()),
        ("idle expired twice", "GET", "/idle/14",
         f"Cookie: SERVERID={dated('s1', -600)}; SERVERID={dated('s2', HOUR)}\r\n", ()),
        ("idle valid then expired", "GET", "/idle/15",
         f"Cookie: SERVERID={dated('s2', HOUR)}; SERVERID={dated('s1', -600)}\r\n", ()),
        # maxidle 60s and maxlife 1h
        ("both new", "GET", "/both/1", "", ()),
        ("both fresh", "GET", "/both/2", f"Cookie: SERVERID={dated('s3', HOUR, -100)}\r\n", ()),
        ("both refreshed, first kept", "GET", "/both/3", f"Cookie: SERVERID={dated('s3', -20, -100)}\r\n", ()),
        ("both too old", "GET", "/both/4", f"Cookie: SERVERID={dated('s2', HOUR, -2 * HOUR)}\r\n", ()),
        ("both too old and idle", "GET", "/both/5", f"Cookie: SERVERID={dated('s2', -600, -2 * HOUR)}\r\n", ()),
        ("both idle", "GET", "/both/6", f"Cookie: SERVERID={dated('s2', -600, -100)}\r\n", ()),
        ("both no first date", "GET", "/both/7", f"Cookie: SERVERID={dated('s1', HOUR)}\r\n", ()),
        ("both first 2 days ahead", "GET", "/both/8", f"Cookie: SERVERID={dated('s1', HOUR, 2 * DAY)}\r\n", ()),
        ("both no date", "GET", "/both/9", "Cookie: SERVERID=s2\r\n", ()),
        # maxlife 1h only
        ("life new", "GET", "/life/1", "", ()),
        ("life last only", "GET", "/life/2", f"Cookie: SERVERID={dated('s2', HOUR)}\r\n", ()),
        ("life idle 10 min, fine", "GET", "/life/3", f"Cookie: SERVERID={dated('s2', -600, -700)}\r\n", ()),
        ("life fresh", "GET", "/life/4", f"Cookie: SERVERID={dated('s2', HOUR, -700)}\r\n", ()),
        ("life too old", "GET", "/life/5", f"Cookie: SERVERID={dated('s3', HOUR, -2 * HOUR)}\r\n", ()),
        # postonly: a GET refreshes nothing, a POST does
        ("post get past", "GET", "/post/1", f"Cookie: SERVERID={dated('s1', -20)}\r\n", ()),
        ("post post past", "POST", "/post/2", f"Content-Length: 0\r\nCookie: SERVERID={dated('s1', -20)}\r\n", ()),
        ("post get idle", "GET", "/post/3", f"Cookie: SERVERID={dated('s1', -600)}\r\n", ()),
        # rewrite and passive: the dates expire a cookie all the same, but nothing is dated
        ("rw idle", "GET", "/rw/1", f"Cookie: SID={dated('s3', -600)}\r\nX-Reply-Set-Cookie: SID=app; Path=/\r\n",
         ()),
        ("rw fresh", "GET", "/rw/2", f"Cookie: SID={dated('s3', HOUR)}\r\nX-Reply-Set-Cookie: SID=app\r\n", ()),
        ("passive idle", "GET", "/passive/1", f"Cookie: SERVERID={dated('s3', -600)}\r\n", ()),
        ("passive fresh", "GET", "/passive/2", f"Cookie: SERVERID={dated('s3', HOUR)}\r\n", ()),
        # prefix: no dates are read
        ("pfx dated", "GET", "/pfx/1", f"Cookie: JSESSIONID=s2~abc|{s30tob64((base - 600) >> 2)}\r\n", ()),
        ("pfx app sets", "GET", "/pfx/2", "X-Reply-Set-Cookie: JSESSIONID=abc; Path=/\r\n", ()),
        # neither maxidle nor maxlife: a date in the past, or a first date, is dropped; one ahead is kept
        ("none past", "GET", "/none/1", f"Cookie: SERVERID={dated('s1', -600)}\r\n", ()),
        ("none ahead", "GET", "/none/2", f"Cookie: SERVERID={dated('s1', HOUR)}\r\n", ()),
        ("none ahead, first", "GET", "/none/3", f"Cookie: SERVERID={dated('s1', HOUR, -100)}\r\n", ()),
    ]
LABELS = [s[0] for s in script(0)]
_DATE = re.compile(rb"\|([A-Za-z0-9+/]{5})")


def normalised(headers: list[tuple[str, bytes]], t0: float, t1: float) -> list[tuple[str, bytes]]:
    """Set-Cookie dates the balancer took from its clock between ``t0`` and ``t1`` become ``|<now>``."""
    low, high = (int(t0) + 3) >> 2 << 2, (int(t1) + 3) >> 2 << 2

    def date(m: re.Match) -> bytes:
        when = b64tos30(m.group(1)) << 2
        return b"|<now>" if low - 4 <= when <= high + 4 else m.group(0)

    return [(name, _DATE.sub(date, value) if name == "set-cookie" else value) for name, value in headers]


def _timed_play(port, servers, proc, steps) -> dict:
    """play(), one step at a time, with the clock around each request."""
    out = {}
    for step in steps:
        t0 = time.time()
        got = play(port, servers, proc, [step])
        out[step[0]] = (*got[step[0]], t0, time.time())
    return out


@pytest.fixture(scope="module")
def both(haproxy_bin):
    """The script through haproxy, then through the engine: answers, what each server saw, logs; and
    the time the script's dates are counted from."""
    base = int(time.time())
    steps = script(base)
    servers = [[CookieServer(f"s{i}") for i in (1, 2, 3)] for _ in range(2)]
    ports = free_ports(3)
    texts = [config(port, tuple(s.port for s in group), ports[2], BACKENDS, NO_COOKIE_ON_S3)
             for port, group in zip(ports, servers)]
    procs = start_together((HAProxy.from_text(texts[0], "cookie-dates.cfg", binary=haproxy_bin),
                            Balancer.from_text(texts[1])))
    try:
        out = []
        for port, group, proc in zip(ports, servers, procs):
            played = _timed_play(port, group, proc, steps)
            out.append((played, {r["request"]: r for r in logged_rows(proc, len(steps))}))
        yield (*out, base)
    finally:
        for p in reversed(procs):
            p.stop()
        for group in servers:
            for s in group:
                s.close()


def _cookies(side: dict, label: str) -> list[tuple[str, bytes]]:
    _, answer, t0, t1 = side[label]
    return normalised(cookie_headers(answer), t0, t1)


@pytest.mark.parametrize("label", LABELS)
def test_the_same_server_gets_the_same_request(both, label):
    (hx, _), (en, _), _ = both
    assert en[label][0] == hx[label][0]


@pytest.mark.parametrize("label", LABELS)
def test_the_client_gets_haproxys_cookie_headers(both, label):
    (hx, _), (en, _), _ = both
    assert en[label][1].split(b"\r\n", 1)[0] == hx[label][1].split(b"\r\n", 1)[0]
    assert _cookies(en, label) == _cookies(hx, label)


@pytest.mark.parametrize("label", LABELS)
def test_log_lines_are_haproxys(both, label):
    (_, hx), (_, en), _ = both
    _, method, path, _, _ = next(s for s in script(0) if s[0] == label)
    request = f"{method} {path} HTTP/1.1"
    keys = ("backend", "server", "status", "term")
    assert {k: en[request][k] for k in keys} == {k: hx[request][k] for k in keys}


def test_the_script_shows_each_behaviour(both):
    """What the comparisons above hold (so they cannot pass on two balancers doing nothing)."""
    (hx, logs), _, base = both
    term = {label: logs[f"{m} {p} HTTP/1.1"]["term"] for label, m, p, _, _ in script(0)}
    assert _cookies(hx, "idle new") == [("set-cookie", b"SERVERID=s1|<now>; path=/")]
    assert _cookies(hx, "idle new, no cookie value")[0] == (
        "set-cookie", b"SERVERID=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/")
    assert (term["idle seen now"], _cookies(hx, "idle seen now")) == ("--VN", [])
    assert (term["idle seen 20s ago"], _cookies(hx, "idle seen 20s ago")) == (
        "--VU", [("set-cookie", b"SERVERID=s2|<now>; path=/")])
    assert term["idle seen 10 min ago"] == "--EI" and term["idle seen 2 days ahead"] == "--EI"
    assert term["idle seen 20h ahead"] == "--VN"
    assert (term["both too old"], term["both too old and idle"], term["both idle"]) == ("--OI", "--OI", "--EI")
    first = dater(base)("s3", -20, -100).split("|")[2].encode()
    assert _cookies(hx, "both refreshed, first kept") == [("set-cookie", b"SERVERID=s3|<now>|" + first + b"; path=/")]
    assert _cookies(hx, "both new") == [("set-cookie", b"SERVERID=s1|<now>|<now>; path=/")]
    assert term["life idle 10 min, fine"] == "--VU" and term["life too old"] == "--OI"
    assert term["post get past"] == "--VN" and term["post post past"] == "--VU"
    assert term["pfx dated"] == "--VN"
