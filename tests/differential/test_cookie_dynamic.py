"""Dynamic persistence cookies (``cookie SRV insert dynamic`` with ``dynamic-cookie-key``) on real HAProxy
2.6 and on the engine. A server's cookie is derived from the key, its address and its port, so both
balancers send to the same three recorders (the engine after haproxy): then the values must be the same
bytes, in the Set-Cookie headers and in the stats' 'cookie' column; a client coming back with one goes
straight to its server. (The configuration messages: tests/differential/test_cookies.py.)"""
from __future__ import annotations

import pytest
from support.cookie_cases import CookieServer, config, cookie_headers, play
from support.httplog import logged_rows
from support.procs import start_together

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.engine.config.cookie import dynamic_cookie

pytestmark = pytest.mark.haproxy

BACKENDS = {
    "dyn": ["dynamic-cookie-key mysecret", "cookie SRV insert indirect nocache dynamic"],
    "nokey": ["cookie SRV insert indirect dynamic"],  # no key: no cookie values, as without 'cookie s1'
}


def _config(port: int, servers: tuple[int, int, int]) -> str:
    """cookie_cases.config, with no 'cookie VALUE' on any server (config() leaves them only off s3)."""
    text = config(port, servers, servers[0], BACKENDS, tuple(BACKENDS))
    return text.replace(" cookie s1\n", "\n").replace(" cookie s2\n", "\n")


def steps(servers: tuple[int, int, int]) -> list:
    s2 = dynamic_cookie("mysecret", "127.0.0.1", servers[1])
    return [
        ("dyn new", "GET", "/dyn/1", "", ()),
        ("dyn new 2", "GET", "/dyn/2", "", ()),
        ("dyn back to s2", "GET", "/dyn/3", f"Cookie: SRV={s2}\r\n", ()),
        ("dyn unknown", "GET", "/dyn/4", "Cookie: SRV=0123456789abcdef\r\n", ()),
        ("nokey new", "GET", "/nokey/1", "", ()),
    ]


@pytest.fixture(scope="module")
def both(haproxy_bin):
    group = [CookieServer(f"s{i}") for i in (1, 2, 3)]
    ports = tuple(s.port for s in group)
    fronts = free_ports(2)
    out = []
    try:
        for make, front in ((lambda t: HAProxy.from_text(t, "cookie-dynamic.cfg", binary=haproxy_bin), fronts[0]),
                            (Balancer.from_text, fronts[1])):
            (proc,) = start_together((make(_config(front, ports)),))
            try:
                played = play(front, group, proc, steps(ports))
                logs = {r["request"]: r for r in logged_rows(proc, len(played))}
                out.append((played, logs, parse_stat_csv(proc.stats_csv())))
            finally:
                proc.stop()
        yield out, ports
    finally:
        for s in group:
            s.close()


LABELS = [s[0] for s in steps((1, 2, 3))]


@pytest.mark.parametrize("label", LABELS)
def test_the_same_server_and_cookie(both, label):
    ((hx, hl, _), (en, el, _)), ports = both
    assert en[label][0] == hx[label][0]
    assert cookie_headers(en[label][1]) == cookie_headers(hx[label][1])
    _, method, path, _, _ = next(s for s in steps(ports) if s[0] == label)
    request = f"{method} {path} HTTP/1.1"
    assert {k: el[request][k] for k in ("server", "status", "term")} == \
        {k: hl[request][k] for k in ("server", "status", "term")}


def test_stats_show_the_derived_cookies(both):
    ((_, _, hx), (_, _, en)), ports = both
    want = [(r["pxname"], r["svname"], r["cookie"]) for r in hx]
    assert [(r["pxname"], r["svname"], r["cookie"]) for r in en] == want
    assert ("dyn", "s1", dynamic_cookie("mysecret", "127.0.0.1", ports[0])) in want
    assert ("nokey", "s1", None) in want


def test_the_script_shows_each_behaviour(both):
    ((hx, hl, _), _), ports = both
    s1 = dynamic_cookie("mysecret", "127.0.0.1", ports[0]).encode()
    assert cookie_headers(hx["dyn new"][1]) == [("set-cookie", b"SRV=" + s1 + b"; path=/")]
    assert hx["dyn back to s2"][0][0][0] == "s2" and hl["GET /dyn/3 HTTP/1.1"]["term"] == "--VN"
    assert hl["GET /dyn/4 HTTP/1.1"]["term"] == "--II"
