"""``stick store-response`` on real HAProxy 2.6 and on the engine: persistence on an application session
cookie learned from the response (``stick store-response res.cook(SESSIONID)`` with ``stick match`` or
``stick on req.cook(SESSIONID)``), with the course's session servers (backends/sessions.py: POST /login
answers Set-Cookie: SESSIONID=<hex>). Which server answers each request, with and without the cookie,
while the session's server is in maintenance and after; ``show table`` after (entry addresses, expiry
times and the random session ids normalised); haproxy -c's messages for store-response lines."""
from __future__ import annotations

import re

import pytest
import requests
from support.cookie_cases import CookieServer, ask

from labsupport.balancer import Balancer
from labsupport.course.fleet import Fleet, free_ports
from labsupport.course.haproxy import HAProxy

from .test_config import run_engine, run_haproxy
from .test_stick_tables import DEFAULTS, normalise

pytestmark = pytest.mark.haproxy
TIMEOUT = 5.0

RECIPES = {
    "store-response+match": "    stick store-response res.cook(SESSIONID)\n    stick match req.cook(SESSIONID)\n",
    "scook+on": "    stick store-response scook(SESSIONID)\n    stick on cook(SESSIONID)\n",
    "if-status": "    stick store-response res.cook(SESSIONID) if { status 200 }\n"
                 "    stick match req.cook(SESSIONID)\n",
    "store-response-only": "    stick store-response res.cook(SESSIONID)\n",
}


@pytest.fixture(scope="module")
def servers():
    fleet = Fleet()
    ports = fleet.start(count=3, sessions=True)
    yield ports
    fleet.stop_all()


def _config(port: int, ports: list[int], rules: str) -> str:
    return (DEFAULTS + f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
            "backend be\n    balance roundrobin\n    stick-table type string len 32 size 1m expire 30m\n" + rules +
            "".join(f"    server s{i} 127.0.0.1:{p}\n" for i, p in enumerate(ports, 1)))


def _play(url: str, command, names: dict[str, str]) -> list:
    """Two users log in and browse; the first one's server goes to maintenance and comes back."""
    ann, bob = requests.Session(), requests.Session()
    seen = []

    def go(who, method: str, path: str):
        r = who.request(method, url + path, timeout=TIMEOUT)
        body = r.json()
        seen.append((path, r.status_code, names[body["server"]], body["logged_in"]))
        return names[body["server"]]

    home = go(ann, "POST", "/login?user=ann")
    for _ in range(3):
        go(ann, "GET", "/cart")
    go(bob, "GET", "/cart")  # no cookie yet: the algorithm
    go(bob, "POST", "/login?user=bob")
    go(bob, "GET", "/cart")
    go(ann, "POST", "/cart?item=tea")
    seen.append(command(f"set server be/{home} state maint"))
    go(ann, "GET", "/cart")  # its server is away: another one, which does not know the session
    go(ann, "POST", "/login?user=ann")  # a new session there
    go(ann, "GET", "/cart")
    seen.append(command(f"set server be/{home} state ready"))
    for _ in range(2):
        go(ann, "GET", "/cart")
        go(bob, "GET", "/cart")
    return seen


def _table(text: str) -> list[str]:
    """show table's lines, session ids (random on each run) and entry order aside."""
    head, *rows = normalise(text).strip().split("\n")
    return [head] + sorted(re.sub(r"\bkey=\S+", "key=K", r) for r in rows)


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_a_session_cookie_learned_from_the_response_keeps_the_user_on_its_server(haproxy_bin, servers, recipe):
    mine, theirs = free_ports(2)
    names = {f"server {p}": f"s{i}" for i, p in enumerate(servers, 1)}
    lb = Balancer.from_text(_config(mine, servers, RECIPES[recipe])).start()
    hx = HAProxy.from_text(_config(theirs, servers, RECIPES[recipe]), "store.cfg", binary=haproxy_bin).start()
    try:
        assert [str(w) for w in lb.warnings] == []
        ours = _play(lb.urls[0].rstrip("/"), lb.command, names)
        real = _play(hx.urls[0].rstrip("/"), hx.command, names)
        assert ours == real
        ours_t, real_t = _table(lb.command("show table be")), _table(hx.command("show table be"))
        assert ours_t == real_t
    finally:
        lb.stop()
        hx.stop()
    carts = [row for row in real if isinstance(row, tuple)]
    if recipe == "store-response-only":  # nothing matches: roundrobin, the cart forgets
        assert not all(row[3] for row in carts[1:4])
        return
    # the oracle: a logged-in user stays on its server; in maintenance it loses it, and the new session
    # learned from the new server's answer keeps it there once the first one is back
    assert all(row[3] for row in carts[1:4]) and len({row[2] for row in carts[:4]}) == 1
    assert carts[7][3] and carts[8][3] is False and carts[8][2] != carts[0][2]
    assert all(row[2] == carts[9][2] and row[3] for row in carts[9:11] + carts[11::2])  # ann, on her new server
    assert all(row[2] == carts[5][2] and row[3] for row in carts[12::2])  # bob, on his
    assert len(real_t) == 4  # ann's two sessions and bob's


LINES = [
    ("be", "stick store-response req.cook(SESSIONID)"),
    ("be", "stick store-response cook(SESSIONID)"),
    ("be", "stick store-response url_param(x)"),
    ("be", "stick store-response req.payload(0,3)"),
    ("be", "stick match res.cook(SESSIONID)"),
    ("be", "stick on scook(SESSIONID)"),
    ("be", "stick store-request res.hdr(x-session)"),
    ("be", "stick match status"),
    ("be", "stick match srv_id"),
    ("be", "stick store-response"),
    ("be", "stick store-response res.cook(SESSIONID) table nope"),
    ("be", "stick match req.cook(SESSIONID) table nope1\n    stick store-response res.cook(SESSIONID) table nope2"),
    ("be", "stick store-response res.cook(SESSIONID) table be foo"),
    ("be", "stick store-response res.cook(SESSIONID) if { path /x }"),
    ("be", "stick store-response res.cook(SESSIONID) if { status 200 } { path /x }"),
    ("be", "stick store-response src if { hdr(x) -m found }"),
    ("be", "stick match src if { res.hdr(x) -m found }"),
    ("fe", "stick store-response res.cook(SESSIONID)"),
    ("def", "stick store-response res.cook(SESSIONID)"),
    # accepted
    ("be", "stick store-response res.cook(SESSIONID)\n    stick match req.cook(SESSIONID)"),
    ("be", "stick store-response res.hdr(x-session) table be if { status 200 }"),
    ("be", "stick store-response hdr(x-session)"),
    ("be", "stick store-response src"),
    ("be", "stick store-response shdr(x-session),lower unless { shdr(x-session) -m len 0 }"),
]


@pytest.mark.parametrize("where,line", LINES, ids=[f"{w}:{ln}" for w, ln in LINES])
def test_store_response_lines_agree_with_haproxy(haproxy_bin, tmp_path, where, line):
    parts = {"be": "", "fe": "", "def": ""}
    parts[where] = f"    {line}\n"
    text = (DEFAULTS + parts["def"] + "backend be\n    stick-table type string len 32 size 1k\n"
            "    server s1 127.0.0.1:1\n" + parts["be"] + "frontend fe\n    bind 127.0.0.1:9\n" + parts["fe"] +
            "    default_backend be\n")
    path = tmp_path / "store.cfg"
    path.write_text(text)
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


# the response fetches elsewhere: refused in a request's values, usable in http-response rules
RULES = [
    "http-request set-header X %[res.hdr(y)]", "http-request set-header X %[res.cook(SESSIONID)]",
    "http-response set-header X %[req.cook(y)]", "http-response set-header X %[req.hdr(y)]",
    "use_backend %[res.hdr(x)]", "http-request deny if { res.cook(a) -m found }",
    "http-response set-header X %[res.cook(SESSIONID)] if { status 200 } { scook(SESSIONID) -m found }",
    "http-response set-header X %[shdr(content-type)] if { res.hdr(content-type) -m sub json }",
    "http-request set-header X %[req.cook(SESSIONID)] if { cook(SESSIONID) -m len 16 }",
]


@pytest.mark.parametrize("line", RULES)
def test_response_fetches_in_rules_agree_with_haproxy(haproxy_bin, tmp_path, line):
    text = (DEFAULTS + "backend be\n    server s1 127.0.0.1:1\nfrontend fe\n    bind 127.0.0.1:9\n"
            f"    {line}\n    default_backend be\n")
    path = tmp_path / "rules.cfg"
    path.write_text(text)
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


# req.cook / res.cook as HAProxy parses Cookie and Set-Cookie headers: the value each one gets
COOKIE_CASES = [
    "a=1", "a=1; b=2", "b=2; a=3", " a = 4 ; b=5", 'a="q;x"; b=1', "$Version=1; a=6", "a=7, b=8", "b=8, a=9",
    "ab=1; a=10", "a", "a=", "a=1; a=2", "A=1", "b=1;a=11", "x=1;;a=12", "a =13", "b; a=14", "a=15|x=1",
    'a="x,y"; b=1', 'b="x,a=16"', 'b="x\\",a=17", a=18',
]
CHECKER = DEFAULTS + """frontend fe
    bind 127.0.0.1:PORT
    http-request return status 200 content-type text/plain lf-string "[%[req.cook(a)]]" if { path /req }
    http-request return status 200 content-type text/plain lf-string "[%[cook(a)]]" if { path /acl } { cook(a) -m found }
    default_backend be
backend be
    http-response set-header x-got "[%[res.cook(a)]]"
    server s1 @s1
"""


def _ask_cookies(port: int) -> list[str]:
    out = []
    for case in COOKIE_CASES + ["a=1\r\nCookie: a=2", "b=3\r\nCookie: x; a=4, a=5"]:
        for path in ("/req", "/acl"):
            out.append(ask(port, "GET", path, f"Cookie: {case}\r\n").partition(b"\r\n\r\n")[2].decode("latin-1"))
        answer = ask(port, "GET", "/res", f"x-reply-set-cookie: {case}\r\n").partition(b"\r\n\r\n")[0]
        out.append([line for line in answer.decode("latin-1").split("\r\n") if line.startswith("x-got")])
    return out


def test_cookie_fetches_read_the_cookies_haproxy_reads(haproxy_bin):
    srv = CookieServer("s1")
    mine, theirs = free_ports(2)
    text = CHECKER.replace("@s1", f"127.0.0.1:{srv.port}")
    lb = Balancer.from_text(text.replace("PORT", str(mine))).start()
    hx = HAProxy.from_text(text.replace("PORT", str(theirs)), "cook.cfg", binary=haproxy_bin).start()
    try:
        assert [str(w) for w in lb.warnings] == []
        ours, real = _ask_cookies(mine), _ask_cookies(theirs)
    finally:
        lb.stop()
        hx.stop()
        srv.close()
    assert ours == real
    assert real[0] == "[1]" and real[9] == "[4]"  # the oracle: spaces around '=' are not the name's
