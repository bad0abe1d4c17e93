"""Maps changed at runtime on real HAProxy 2.6 and on the engine: the same answers to show/get/set/add/
del/clear map, and traffic that moves the same way without a reload."""
from __future__ import annotations

import re

import pytest
from support.routing import NamedServer, routed_to

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy

pytestmark = pytest.mark.haproxy
BACKENDS = ("web", "api_v1", "api_v2", "static")
HOSTS = "# host backend\nwww.lab web\nstatic.lab   static\n\napi.lab api_v1\n"
PATHS = "/v1/ api_v1\n/v2/ api_v2\n"
FRONTEND = """
    acl is_api hdr(host) -i api.lab
    use_backend %[path,map_beg(paths.map,api_v2)] if is_api
    use_backend %[req.hdr(host),lower,map(hosts.map,web)]
    default_backend static
"""
# (command, then the requests to route after it)
STEPS = [
    ("show map", ()), ("show map hosts.map", ()), ("show map #3", ()), ("show map #9", ()), ("show map nosuch.map", ()),
    ("get map hosts.map www.lab", ()), ("get map hosts.map nothere", ()), ("get map paths.map /v1/users", ()),
    ("get map hosts.map", ()), ("get map", ()),
    ("set map paths.map /v1/ api_v2", (("api.lab", "/v1/users"), ("api.lab", "/v2/x"))),
    ("set map paths.map /v9/ api_v2", ()), ("set map nosuch.map /v1/ api_v2", ()), ("set map paths.map", ()),
    ("add map hosts.map beta.lab api_v2", (("beta.lab", "/"),)), ("add map hosts.map beta.lab api_v1", (("beta.lab", "/"),)),
    ("show map hosts.map", ()), ("add map hosts.map k", ()),
    ("del map hosts.map beta.lab", (("beta.lab", "/"),)), ("del map hosts.map beta.lab", ()), ("del map hosts.map", ()),
    ("add map hosts.map nowhere.lab no_such_backend", (("nowhere.lab", "/"), ("NOWHERE.lab", "/"))),
    ("clear map hosts.map", (("www.lab", "/"), ("static.lab", "/"))), ("show map hosts.map", ()), ("clear map", ()),
]


def normalise(text: str) -> str:
    """Entry addresses differ by nature; the file named in 'show map' is haproxy's temporary copy."""
    text = re.sub(r"0x[0-9a-f]+ ", "0xADDR ", text)
    return re.sub(r"used by map at file '[^']*' ", "used by map at file 'CFG' ", text)


@pytest.fixture
def lab(tmp_path, monkeypatch, haproxy_bin):
    monkeypatch.chdir(tmp_path)  # both open map files relative to the folder they run in
    (tmp_path / "hosts.map").write_text(HOSTS)
    (tmp_path / "paths.map").write_text(PATHS)
    servers = {b: NamedServer(b) for b in BACKENDS}
    mine, theirs = free_ports(2)
    text = ("global\n    log stdout format raw local0\ndefaults\n    mode http\n    timeout connect 2s\n"
            f"    timeout client 5s\n    timeout server 5s\nfrontend edge\n    bind 127.0.0.1:{mine}\n{FRONTEND}"
            + "".join(f"backend {b}\n    server s1 127.0.0.1:{servers[b].port}\n" for b in BACKENDS))
    lb = Balancer.from_text(text).start()
    hx = HAProxy.from_text(text, "maps.cfg", port_map={mine: theirs}, binary=haproxy_bin).start()
    yield lb, hx, mine, theirs
    lb.stop()
    hx.stop()
    for s in servers.values():
        s.close()


def test_map_commands_answer_and_route_like_haproxy(lab):
    lb, hx, mine, theirs = lab
    assert [str(w) for w in lb.warnings] == []
    for command, requests in STEPS:
        ours, real = normalise(lb.command(command)), normalise(hx.command(command))
        assert ours == real, f"{command!r}:\nhaproxy: {real!r}\nengine:  {ours!r}"
        for host, path in requests:
            assert routed_to(mine, host, path) == routed_to(theirs, host, path), (command, host, path)
    assert routed_to(theirs, "api.lab", "/v1/users") == "api_v2"  # the oracle: /v1 moved without a reload


def test_the_engine_reads_the_map_as_haproxy_routes_it(lab):
    lb, hx, mine, theirs = lab
    requests = [("www.lab", "/"), ("WWW.LAB", "/"), ("static.lab", "/a"), ("api.lab", "/v1/x"), ("api.lab", "/v2/"),
                ("api.lab", "/v3"), ("API.lab", "/"), ("other.lab", "/"), ("api.lab:80", "/v1/")]
    assert [routed_to(mine, h, p) for h, p in requests] == [routed_to(theirs, h, p) for h, p in requests]
