"""The ACL language on real HAProxy 2.6 and on the engine: every fetch, match method, flag, converter and
map lookup the course uses, in 14 configurations, each request sent to both and routed the same way.

Each configuration is one frontend whose rules route to backends b1..b5 (tiny servers that answer their
backend's name) and otherwise to ``web``; every request of REQUESTS goes to every frontend, from
127.0.0.1 or 127.0.0.2, with its own method, target and headers.
"""
from __future__ import annotations

import pytest
from support.routing import NamedServer, routed

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy

pytestmark = pytest.mark.haproxy
BACKENDS = ("b1", "b2", "b3", "b4", "b5", "web")

CONFIGS = {
    "path": """
    use_backend b1 if { path /exact }
    use_backend b2 if { path_beg /api/ } { path_end .json }
    use_backend b3 if { path_dir img } || { path_sub debug }
    use_backend b4 if { path_reg ^/u/[0-9]+$ } || { path_len gt 20 }
    use_backend b5 if { path_dom lab }""",
    "headers": """
    use_backend b1 if { hdr(host) lab }
    use_backend b2 if { hdr_beg(host) api. } { hdr_end(host) .lab }
    use_backend b3 if { hdr_dom(host) -i shop } || { hdr_sub(user-agent) -i bot }
    use_backend b4 if { hdr_reg(x-v) ^v[12]$ } || { hdr_cnt(x-tag) gt 1 }
    use_backend b5 if { hdr_val(x-n) ge 10 } || { hdr_len(host) lt 3 }""",
    "request": """
    use_backend b1 if { method POST PUT }
    use_backend b2 if { req.ver 1.0 }
    use_backend b3 if { url_beg /q } { url_sub page= }
    use_backend b4 if { url_param(id) 7 } || { urlp(role) -i ADMIN }
    use_backend b5 if { query -m found } !{ query -m len 0 }""",
    "addresses": """
    acl lan src 127.0.0.2 10.0.0.0/8
    use_backend b1 if lan { path_beg /a }
    use_backend b2 if !lan { path_beg /a }
    use_backend b3 if { src 127.0.0.0/31 } { path_beg /b }
    use_backend b4 if { dst_port 0:1024 }
    use_backend b5 if LOCALHOST { path /local }""",
    "match flags": """
    use_backend b1 if { req.hdr(host) -m dom lab } { path -m beg /d }
    use_backend b2 if { path -m reg ^/r/[a-z]+$ }
    use_backend b3 if { path -m len 3:5 }
    use_backend b4 if { hdr(x-missing) -m found } || { urlp(id) -m int gt 10 }
    use_backend b5 if { path -m sub -- -dash }""",
    "case": """
    use_backend b1 if { path_beg -i /ADMIN }
    use_backend b2 if { hdr(host) -i LAB.Example }
    use_backend b3 if { method -i get } { path /m }
    use_backend b4 if { path_end -i .PNG }
    use_backend b5 if { hdr_sub(user-agent) Bot }""",
    "converters": """
    use_backend b1 if { path,lower -m beg /api }
    use_backend b2 if { req.hdr(host),field(1,:) lab } { path_beg /p }
    use_backend b3 if { req.hdr(host),upper SHOP.LAB }
    use_backend b4 if { path,length gt 12 }
    use_backend b5 if { req.hdr(host),lower,map(MAPDIR/hosts.map) -m found }""",
    "conditions": """
    acl a path_beg /a
    acl a path_beg /b
    acl h hdr(host) -i lab
    use_backend b1 if a h
    use_backend b2 if a || h { path_end .x }
    use_backend b3 if !a !h or { path /c }
    use_backend b4 unless { path_beg /z } || METH_GET
    use_backend b5 if METH_POST !HTTP_1.0""",
    "predefined": """
    use_backend b1 if HTTP_URL_ABS
    use_backend b2 if HTTP_URL_STAR
    use_backend b3 if METH_GET { path /g }
    use_backend b4 if HTTP_1.1 { path /v }
    use_backend b5 if TRUE !FALSE { path /t }""",
    "pattern files": """
    use_backend b1 if { path_beg -f MAPDIR/paths.lst }
    use_backend b2 if { src -f MAPDIR/nets.lst } { path /s }
    use_backend b3 if { hdr(host) -i -f MAPDIR/hosts.lst }""",
    "dynamic": """
    use_backend %[req.hdr(host),lower,map(MAPDIR/hosts.map)] if { hdr(host) -m found }
    use_backend b5""",
    "map matches": """
    use_backend %[path,map_beg(MAPDIR/paths.map,b5)] if { path_beg /m/ }
    use_backend %[path,map_end(MAPDIR/ends.map)] if { path,map_end(MAPDIR/ends.map) -m found }
    use_backend %[path,map_reg(MAPDIR/regs.map,web)] if { path_beg /x }
    use_backend %[req.hdr(host),map_dom(MAPDIR/doms.map,web)] if { hdr(host) -m found } { path /dom }
    use_backend %[path,map_sub(MAPDIR/subs.map,web)] if { path_beg /s }""",
    "names from the request": """
    use_backend %[url_param(be)] if { url_param(be) -m found }
    use_backend b%[req.hdr(x-n)] if { hdr(x-n) -m found }
    use_backend %[str(b3)] if { path /three }""",
    "occurrences": """
    use_backend b1 if { hdr(x-tag) b }
    use_backend b2 if { hdr(x-tag,1) a } { hdr_cnt(x-tag) eq 3 }
    use_backend b3 if { hdr(x-tag,-1) c }
    use_backend b4 if { req.fhdr(x-tag) -m sub , }
    use_backend b5 if { hdr_cnt(x-tag) eq 0 } { path /none }""",
}

FILES = {
    "hosts.map": "# host -> backend\nwww.lab b1\nshop.lab b2\napi.lab b3\nnowhere.lab no_such_backend\n",
    "paths.map": "/m/a b1\n/m/ab b2\n/m/abc/ b3\n",
    "ends.map": ".css b1\n.js b2\n.min.js b3\n",
    "regs.map": "^/x/[0-9]+$ b1\n^/x/[a-z]+$ b2\n",
    "doms.map": "lab b1\nexample b2\n",
    "subs.map": "cat b1\ndog b2\n",
    "paths.lst": "# prefixes\n/files/\n\n/docs\n",
    "nets.lst": "127.0.0.2\n10.1.0.0/16\n",
    "hosts.lst": "one.lab\nTWO.lab\n",
}

H = {"Host": "lab"}
REQUESTS = [  # (source address, method, target, headers)
    ("127.0.0.1", "GET", "/", H), ("127.0.0.1", "GET", "/exact", H), ("127.0.0.1", "GET", "/exact?x=1", H),
    ("127.0.0.1", "GET", "/api/v1/users.json", H), ("127.0.0.1", "GET", "/api/users", H),
    ("127.0.0.1", "GET", "/a/img/b.png", H), ("127.0.0.1", "GET", "/x?debug=1", H), ("127.0.0.1", "GET", "/debug", H),
    ("127.0.0.1", "GET", "/u/42", H), ("127.0.0.1", "GET", "/u/42/x", H), ("127.0.0.1", "GET", "/" + "y" * 25, H),
    ("127.0.0.1", "GET", "/go/lab/x", H), ("127.0.0.1", "GET", "/", {"Host": "api.lab"}),
    ("127.0.0.1", "GET", "/", {"Host": "SHOP.lab"}), ("127.0.0.1", "GET", "/", {"Host": "lab", "User-Agent": "GoogleBot"}),
    ("127.0.0.1", "GET", "/", {"Host": "lab", "X-V": "v2"}), ("127.0.0.1", "GET", "/", {"Host": "lab", "X-Tag": "a, b, c"}),
    ("127.0.0.1", "GET", "/", {"Host": "lab", "X-Tag": "a", "x-tag": "c"}), ("127.0.0.1", "GET", "/none", {"Host": "lab"}),
    ("127.0.0.1", "GET", "/", {"Host": "lab", "X-N": "12"}), ("127.0.0.1", "GET", "/", {"Host": "lab", "X-N": "3"}),
    ("127.0.0.1", "GET", "/", {"Host": "ab"}), ("127.0.0.1", "POST", "/", H), ("127.0.0.1", "PUT", "/x", H),
    ("127.0.0.1", "DELETE", "/", H), ("127.0.0.1", "GET", "/q?page=2", H), ("127.0.0.1", "GET", "/q", H),
    ("127.0.0.1", "GET", "/p?id=7", H), ("127.0.0.1", "GET", "/p?role=admin&id=70", H), ("127.0.0.1", "GET", "/p?", H),
    ("127.0.0.1", "GET", "/a", H), ("127.0.0.2", "GET", "/a", H), ("127.0.0.2", "GET", "/b", H),
    ("127.0.0.1", "GET", "/b", H), ("127.0.0.1", "GET", "/local", H), ("127.0.0.1", "GET", "/d/x", {"Host": "www.lab"}),
    ("127.0.0.1", "GET", "/r/abc", H), ("127.0.0.1", "GET", "/r/ab1", H), ("127.0.0.1", "GET", "/abc", H),
    ("127.0.0.1", "GET", "/", {"Host": "lab", "X-Missing": ""}), ("127.0.0.1", "GET", "/s?id=11", H),
    ("127.0.0.1", "GET", "/with-dash", H), ("127.0.0.1", "GET", "/admin/x", H), ("127.0.0.1", "GET", "/ADMIN", H),
    ("127.0.0.1", "GET", "/", {"Host": "lab.example"}), ("127.0.0.1", "GET", "/m", H), ("127.0.0.1", "HEAD", "/m", H),
    ("127.0.0.1", "GET", "/logo.png", H), ("127.0.0.1", "GET", "/API/Users", H), ("127.0.0.1", "GET", "/p", {"Host": "lab:8080"}),
    ("127.0.0.1", "GET", "/", {"Host": "shop.lab"}), ("127.0.0.1", "GET", "/averylongpath", H),
    ("127.0.0.1", "GET", "/", {"Host": "WWW.Lab"}), ("127.0.0.1", "GET", "/", {"Host": "nowhere.lab"}),
    ("127.0.0.1", "GET", "/c", {"Host": "x"}), ("127.0.0.1", "GET", "/a.x", {"Host": "x"}), ("127.0.0.1", "GET", "/z", H),
    ("127.0.0.1", "POST", "/z", H), ("127.0.0.1", "GET", "http://lab/abs", H), ("127.0.0.1", "OPTIONS", "*", H),
    ("127.0.0.1", "GET", "/g", H), ("127.0.0.1", "GET", "/v", H), ("127.0.0.1", "GET", "/t", H),
    ("127.0.0.1", "GET", "/files/a", H), ("127.0.0.1", "GET", "/docs/x", H), ("127.0.0.2", "GET", "/s", H),
    ("127.0.0.1", "GET", "/", {"Host": "two.lab"}), ("127.0.0.1", "GET", "/m/abc/d", H), ("127.0.0.1", "GET", "/m/ab", H),
    ("127.0.0.1", "GET", "/m/z", H), ("127.0.0.1", "GET", "/app.min.js", H), ("127.0.0.1", "GET", "/site.css", H),
    ("127.0.0.1", "GET", "/x/12", H), ("127.0.0.1", "GET", "/x/ab", H), ("127.0.0.1", "GET", "/dom", {"Host": "www.example.com"}),
    ("127.0.0.1", "GET", "/scatter", H), ("127.0.0.1", "GET", "/s/hotdog", H), ("127.0.0.1", "GET", "/?be=b2", H),
    ("127.0.0.1", "GET", "/?be=nosuch", H), ("127.0.0.1", "GET", "/three", H), ("127.0.0.1", "GET", "/", {"Host": "lab", "X-N": "4"}),
]


def send(port: int, source: str, method: str, target: str, headers: dict) -> str:
    """One request on a new connection from ``source``: the backend that answered, or the status."""
    version = "1.0" if target == "/v10" else "1.1"
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    got = routed(port, f"{method} {target} HTTP/{version}\r\n{head}Connection: close\r\n\r\n".encode(), source)
    if method == "HEAD" and not got.isdigit() and got != "no response":  # a 200: its body (if any) is not the point
        return "200"  # (the engine relays a body a backend wrongly sends with a HEAD answer; HAProxy drops it)
    return got


def config_text(ports: dict[str, int], servers: dict, folder) -> str:
    text = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
    for name, rules in CONFIGS.items():
        text += f"frontend {name.replace(' ', '_')}\n    bind 127.0.0.1:{ports[name]}\n{rules.strip(chr(10))}\n"
        text += "    default_backend web\n"
    text += "".join(f"backend {b}\n    server s1 127.0.0.1:{servers[b].port}\n" for b in BACKENDS)
    return text.replace("MAPDIR", str(folder))


@pytest.fixture(scope="module")
def results(haproxy_bin, tmp_path_factory):
    folder = tmp_path_factory.mktemp("acl-files")
    for name, content in FILES.items():
        (folder / name).write_text(content)
    servers = {b: NamedServer(b) for b in BACKENDS}
    ports = free_ports(2 * len(CONFIGS))
    mine = dict(zip(CONFIGS, ports[:len(CONFIGS)]))
    theirs = dict(zip(CONFIGS, ports[len(CONFIGS):]))
    text = config_text(mine, servers, folder)
    lb = Balancer.from_text(text).start()
    hx = HAProxy.from_text(text, "acls.cfg", port_map={mine[n]: theirs[n] for n in CONFIGS}, binary=haproxy_bin).start()
    try:
        got = {n: [send(mine[n], *r) for r in REQUESTS] for n in CONFIGS}
        want = {n: [send(theirs[n], *r) for r in REQUESTS] for n in CONFIGS}
        yield got, want, lb.warnings
    finally:
        lb.stop()
        hx.stop()
        for srv in servers.values():
            srv.close()


def test_the_engine_understands_every_rule(results):
    assert [str(w) for w in results[2]] == []


@pytest.mark.parametrize("name", CONFIGS)
def test_each_request_goes_where_haproxy_sends_it(results, name):
    got, want, _ = results
    diff = [(REQUESTS[i][1:3], REQUESTS[i][3], w, g) for i, (g, w) in enumerate(zip(got[name], want[name])) if g != w]
    assert not diff, f"{name}: (request, headers, haproxy, engine):\n" + "\n".join(map(str, diff))
    assert len(set(want[name])) >= 3, f"{name}: the requests should reach several backends: {set(want[name])}"


def test_the_counts(results):
    got, want, _ = results
    assert len(CONFIGS) >= 12 and sum(len(v) for v in want.values()) >= 500
