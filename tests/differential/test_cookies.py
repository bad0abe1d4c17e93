"""Cookie persistence on real HAProxy 2.6 and on the engine: the same configuration
(tests/support/cookie_cases.py), the same script of requests and runtime commands; for each request the
same server answers, the server receives the same Cookie headers (indirect, prefix), the client gets the
same Set-Cookie and Cache-Control headers byte for byte, and the log line has the same status, server and
termination state (its 3rd and 4th characters are the persistence cookie's). Then the 'cookie' lines
HAProxy refuses or warns about: haproxy -c's messages, located."""
from __future__ import annotations

import pytest
from support.cookie_cases import STEPS, CookieServer, config, cookie_headers, play
from support.httplog import logged_rows
from support.procs import start_together

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.engine.config import parse

from .test_config import run_engine, run_haproxy

pytestmark = pytest.mark.haproxy

LABELS = [s[0] for s in STEPS]


@pytest.fixture(scope="module")
def both(haproxy_bin):
    """The script through haproxy, then through the engine: answers, what each server saw, logs, stats."""
    servers = [[CookieServer(f"s{i}") for i in (1, 2, 3)] for _ in range(2)]
    ports = free_ports(3)
    dead = ports[2]  # nothing listens there
    texts = [config(port, tuple(s.port for s in group), dead) for port, group in zip(ports, servers)]
    procs = start_together((HAProxy.from_text(texts[0], "cookies.cfg", binary=haproxy_bin),
                            Balancer.from_text(texts[1])))
    try:
        out = []
        for port, group, proc in zip(ports, servers, procs):
            played = play(port, group, proc, STEPS)
            logs = {r["request"]: r for r in logged_rows(proc, len(STEPS))}
            out.append((played, logs, parse_stat_csv(proc.stats_csv())))
        yield out
    finally:
        for p in reversed(procs):
            p.stop()
        for group in servers:
            for s in group:
                s.close()


def _step(label: str):
    return next(s for s in STEPS if s[0] == label)


@pytest.mark.parametrize("label", LABELS)
def test_the_same_server_gets_the_same_request(both, label):
    """Which server answered, and the request it received (its Cookie headers after indirect/prefix)."""
    (hx, _, _), (en, _, _) = both
    assert en[label][0] == hx[label][0]


@pytest.mark.parametrize("label", LABELS)
def test_the_client_gets_haproxys_cookie_headers(both, label):
    (hx, _, _), (en, _, _) = both
    h_answer, e_answer = hx[label][1], en[label][1]
    assert e_answer.split(b"\r\n", 1)[0] == h_answer.split(b"\r\n", 1)[0]  # the status line
    assert cookie_headers(e_answer) == cookie_headers(h_answer)


@pytest.mark.parametrize("label", LABELS)
def test_log_lines_are_haproxys(both, label):
    (_, hx, _), (_, en, _) = both
    _, method, path, _, _ = _step(label)
    request = f"{method} {path} HTTP/1.1"
    keys = ("backend", "server", "status", "term", "retries")
    assert {k: en[request][k] for k in keys} == {k: hx[request][k] for k in keys}


def test_the_script_shows_each_behaviour(both):
    """What the comparisons above hold (so they cannot pass on two balancers doing nothing)."""
    (hx, logs, _), _ = both
    assert cookie_headers(hx["ins new"][1]) == [("set-cookie", b"SERVERID=s1; path=/")]
    assert cookie_headers(hx["ins app max-age"][1])[-1] == ("cache-control", b"private")
    assert hx["ins valid"][0][0][0] == "s2" and not [h for h in hx["ins valid"][0][0][1][2] if h[0] == "cookie"]
    assert ("cookie", "a=1; b=2") in hx["ins valid among others"][0][0][1][2]
    assert cookie_headers(hx["pfx app sets"][1]) == [("set-cookie", b"JSESSIONID=s1~abc123; Path=/")]
    assert ("cookie", "x=1; JSESSIONID=abc123; y=2") in hx["pfx back"][0][0][1][2]
    assert logs["GET /ins/1 HTTP/1.1"]["term"] == "--NI" and logs["GET /ins/2 HTTP/1.1"]["term"] == "--VN"
    assert logs["GET /ins/8 HTTP/1.1"]["term"] == "--II" and logs["GET /state/1 HTTP/1.1"]["term"] == "--DI"
    assert logs["GET /persist/1 HTTP/1.1"]["term"] == "--DN" and hx["persist down"][0][0][0] == "s1"


COUNTERS = ("req_tot", "stot", "lbtot", "hrsp_2xx", "hrsp_4xx", "hrsp_5xx", "econ", "wretr", "wredis", "dreq")


@pytest.mark.parametrize("backend", ["ins", "pfx", "state", "persist", "dead", "deadrd", "denied", "forced"])
def test_counters_are_haproxys(both, backend):
    """A cookie's server is used without the algorithm: lbtot counts only the algorithm's choices."""
    (_, _, hx), (_, _, en) = both
    for sv in ("BACKEND", "s1", "s2", "s3"):
        want = next(r for r in hx if r["pxname"] == backend and r["svname"] == sv)
        got = next(r for r in en if r["pxname"] == backend and r["svname"] == sv)
        assert ({k: got.get(k) for k in COUNTERS}, sv) == ({k: want.get(k) for k in COUNTERS}, sv)


def test_stats_show_the_cookies(both):
    """The stats CSV's 'cookie' column: the backend's cookie name, each server's value (admin level)."""
    (_, _, hx), (_, _, en) = both
    want = [(r["pxname"], r["svname"], r["cookie"]) for r in hx]
    assert [(r["pxname"], r["svname"], r["cookie"]) for r in en] == want
    assert ("plain", "BACKEND", "SRV") in want and ("plain", "s1", "s1") in want and ("plain", "s3", None) in want


# ----- configuration checks
COOKIE_LINES = [
    "cookie", "cookie SRV", "cookie SRV insert prefix", "cookie SRV rewrite insert prefix", "cookie SRV rewrite indirect",
    "cookie SRV insert indirect nocache", "cookie SRV foo", "cookie SRV preserve", "cookie SRV indirect preserve",
    "cookie SRV insert domain", "cookie SRV insert domain lab", "cookie SRV insert domain a/b.c",
    "cookie SRV insert domain .a.lab domain .b.lab", "cookie SRV insert attr", "cookie SRV insert attr a;b",
    "cookie SRV insert maxidle", "cookie SRV insert maxidle 10x", "cookie SRV insert maxidle 30m maxlife 8h",
    "cookie SRV insert maxlife 99999999999", "cookie SRV insert maxidle 500ms", "cookie SRV insert maxlife 0",
    "cookie SRV insert maxidle -1", "cookie SRV insert maxlife 2147483648", "cookie SRV insert maxidle 1d maxlife",
    "cookie SRV insert maxlife 1h5m", "cookie SRV insert maxidle 10 maxidle 20x", "cookie SRV insert maxidle 5usz",
    "cookie SRV insert maxlife 30d", "cookie SRV insert maxlife 24856d", "cookie SRV insert maxidle 1dx2",
    "cookie SRV insert maxlife 99999999999msx", "dynamic-cookie-key", "dynamic-cookie-key k\n    cookie SRV insert dynamic",
    "dynamic-cookie-key k\n    cookie SRV insert dynamic\n    server t 127.0.0.1:1",
    "dynamic-cookie-key k\n    cookie SRV insert dynamic\n    server t 127.0.0.1:1 disabled",
    "dynamic-cookie-key k\n    cookie SRV insert dynamic\n    server t 127.0.0.1:1 cookie 92db2edd06cfbffe",
    "cookie SRV insert dynamic\n    server t 127.0.0.1:1", "cookie SRV insert dynamic", "cookie SRV prefix indirect postonly httponly secure",
    "option persist", "option persist x", "no option persist",
    "force-persist", "force-persist foo", "force-persist if", "ignore-persist unless", "force-persist if nosuch",
    "ignore-persist if { path_beg /a }", "force-persist if { res.hdr(x) -m found }", "ignore-persist if { nosuch }",
    "acl r res.hdr(x) -m found\n    force-persist if r", "acl q path /q\n    ignore-persist unless q METH_POST",
]
SERVER_WORDS = ["cookie", "cookie s1", "cookie s1 cookie s2"]


def _config(be_line: str = "", server: str = "", mode: str = "http", fe_line: str = "") -> str:
    return (f"defaults\n    mode {mode}\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
            f"frontend f\n    bind 127.0.0.1:9\n    {fe_line}\n    default_backend b\n"
            f"backend b\n    {be_line}\n    server s 127.0.0.1:1 {server}\n")


CONFIGS = ([_config(line) for line in COOKIE_LINES] + [_config(server=w) for w in SERVER_WORDS] + [
    _config("cookie SRV insert", "cookie s1", mode="tcp"),  # both of haproxy's 'needs mode http' warnings
    _config(fe_line="cookie X insert"),  # a frontend has no backend capability
    _config(fe_line="dynamic-cookie-key k"),
    _config("cookie SRV insert dynamic").replace("defaults\n", "defaults\n    dynamic-cookie-key k\n"),
    _config(fe_line="cookie X insert", mode="tcp"),
    _config("cookie A insert attr x=1\n    cookie B prefix"),  # a second line starts over
    _config(fe_line="force-persist if TRUE"),
    _config(fe_line="option persist"), _config(fe_line="no option persist"),
    # (acl.c's conflict warnings, shared with use_backend: one per rule, "never match" before "involves")
    _config(fe_line="acl r res.hdr(x) -m found\n    acl m path /a\n    acl m res.hdr(y) -m found\n"
            "    use_backend b if r\n    use_backend b if m\n    use_backend b if { res.hdr(z) -m found } m r"),
    _config().replace("defaults\n", "defaults\n    ignore-persist if TRUE\n"),
    "defaults\n    mode http\n    cookie D insert domain nodot\n    timeout connect 1s\n    timeout client 1s\n"
    "    timeout server 1s\nfrontend f\n    bind 127.0.0.1:9\n    default_backend b\nbackend b\n"
    "    server s 127.0.0.1:1 cookie s\n",
])


@pytest.mark.parametrize("text", CONFIGS, ids=range(len(CONFIGS)))
def test_cookie_lines_get_haproxys_messages(haproxy_bin, tmp_path, text):
    path = tmp_path / "cookie.cfg"
    path.write_text(text)
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


def test_every_option_is_applied(tmp_path):
    """maxidle, maxlife (tests/differential/test_cookie_dates.py) and dynamic (test_cookie_dynamic.py) are
    applied, not reported as ignored."""
    text = _config("dynamic-cookie-key k\n    cookie SRV insert maxidle 30m maxlife 8h dynamic")
    cfg = parse(text, path=str(tmp_path / "c.cfg"))
    assert not [m for m in cfg.warnings if "course engine" in m.text]
    be = cfg.proxy("b")
    assert (be.cookie.maxidle, be.cookie.maxlife, be.servers[0].cookie) == (1800, 28800, "92db2edd06cfbffe")
