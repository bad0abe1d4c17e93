"""Maps on real HAProxy and on the engine: the same config routing with ``map_beg`` and ``map`` (map
files at absolute paths, one stats socket each), the same requests, and the same runtime commands
(``show/get/add/set/del/clear map``); answers compared byte for byte (entry addresses and the
config file's name aside), and routing compared after every change, with no reload."""
from __future__ import annotations

import re

import pytest
from support.procs import start_together
from support.routing import NamedServer, routed

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, send_command

pytestmark = pytest.mark.haproxy

BACKENDS = ("web", "api", "b1", "b2")
CONFIG = """global
    stats socket {dir}/admin.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{port}
    acl by_path path,map_beg({maps}/paths.map) -m found
    use_backend %[path,map_beg({maps}/paths.map)] if by_path METH_GET
    use_backend %[hdr_val(x-n),map_int({maps}/ints.map)] if {{ hdr(x-n) -m found }}
    use_backend %[req.hdr(host),lower,map({maps}/hosts.map,web)]
{backends}"""
HOSTS = "# host -> backend\napi.lab api\nweb.lab   web  \nkey-alone\n"
PATHS = "/v1 b1\n/v1/admin b2\n/static web\n"
REQUESTS = [("api.lab", "/"), ("API.LAB", "/x"), ("web.lab", "/"), ("other", "/"), ("new.lab", "/"),
            ("api.lab", "/v1/users"), ("api.lab", "/v1/admin/x"), ("x", "/static/a.js"), ("x", "/v2")]
COMMANDS = [
    ["show map {maps}/hosts.map", "show map nope", "get map {maps}/hosts.map api.lab",
     "get map {maps}/hosts.map nothing", "get map {maps}/paths.map /v1/admin/z", "get map", "add map",
     "add map {maps}/hosts.map", "add map {maps}/hosts.map k", "add map nope a b", "set map {maps}/hosts.map",
     "set map {maps}/hosts.map nokey v", "set map {maps}/hosts.map #0x1 v", "del map {maps}/hosts.map",
     "del map {maps}/hosts.map nokey", "del map nope a", "clear map nope", "show map #99"],
    ["add map {maps}/hosts.map new.lab api", "set map {maps}/hosts.map api.lab b2",
     "show map {maps}/hosts.map"],
    ["set map {maps}/paths.map /v1 b2", "del map {maps}/paths.map /static", "add map {maps}/paths.map /v2 b1",
     "show map {maps}/paths.map", "get map {maps}/paths.map /v1/x"],
    ["del map {maps}/hosts.map web.lab", "clear map {maps}/paths.map", "show map {maps}/paths.map"],
]


def _norm(text: str) -> str:
    """Entry addresses and the config file's path (each side names its own) left out."""
    return re.sub(r"at file '[^']*' line", "at file 'CFG' line", re.sub(r"0x[0-9a-f]+", "ADDR", text))


def test_maps_route_and_change_like_haproxy(haproxy_bin, tmp_path):
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "hosts.map").write_text(HOSTS)
    (maps / "paths.map").write_text(PATHS)
    (maps / "ints.map").write_text("1:5 b1\n42 b2\n")
    servers = {name: NamedServer(name) for name in BACKENDS}
    backends = "".join(f"backend {n}\n    server s1 127.0.0.1:{s.port}\n" for n, s in servers.items())
    ports = free_ports(2)
    texts = {}
    for side, port in zip(("haproxy", "engine"), ports):
        (tmp_path / side).mkdir()
        texts[side] = CONFIG.format(dir=tmp_path / side, port=port, maps=maps, backends=backends)
    hx, lb = start_together((HAProxy.from_text(texts["haproxy"], "maps.cfg", binary=haproxy_bin, keep_sockets=True),
                             Balancer.from_text(texts["engine"])))
    try:
        assert [str(w) for w in lb.warnings] == []
        socks = {side: str(tmp_path / side / "admin.sock") for side in texts}

        def answers(cmd: str) -> dict[str, str]:
            cmd = cmd.format(maps=maps)
            return {side: _norm(send_command(sock, cmd)) for side, sock in socks.items()}

        def routes() -> dict[str, list[str]]:
            return {side: [routed(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                           for host, path in REQUESTS] for side, port in zip(texts, ports)}

        first = answers("show map")
        assert first["engine"] == first["haproxy"], first
        before = routes()
        assert before["engine"] == before["haproxy"]
        seen = [before["haproxy"]]
        for step in COMMANDS:
            for cmd in step:
                got = answers(cmd)
                assert got["engine"] == got["haproxy"], (cmd, got)
            now = routes()
            assert now["engine"] == now["haproxy"], (step, now)
            seen.append(now["haproxy"])
        # the failed commands moved nothing; every later step moved some traffic
        assert seen[1] == seen[0] and all(a != b for a, b in zip(seen[1:], seen[2:]))
    finally:
        lb.stop()
        hx.stop()
        for s in servers.values():
            s.close()


USER_COMMANDS = ["show map", "get map {maps}/ints.map 3", "get map {maps}/ints.map 42", "show map {maps}/hosts.map", "get map {maps}/hosts.map api.lab",
                 "add map {maps}/hosts.map new.lab b1", "set map {maps}/hosts.map api.lab b2",
                 "del map {maps}/hosts.map web.lab", "show map {maps}/hosts.map", "clear map {maps}/hosts.map",
                 "show map {maps}/hosts.map"]


def test_a_user_level_socket_reads_and_changes_maps(haproxy_bin, tmp_path):
    """HAProxy 2.6 checks no CLI level for the map commands: 'level user' may change a map."""
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "hosts.map").write_text(HOSTS)
    (maps / "paths.map").write_text(PATHS)
    (maps / "ints.map").write_text("1:5 b1\n42 b2\n")
    backends = "".join(f"backend {n}\n    server s1 127.0.0.1:1\n" for n in BACKENDS)
    ports = free_ports(2)
    texts = {}
    for side, port in zip(("haproxy", "engine"), ports):
        (tmp_path / side).mkdir()
        texts[side] = CONFIG.format(dir=tmp_path / side, port=port, maps=maps, backends=backends).replace(
            "level admin", "level user")
    hx, lb = start_together((HAProxy.from_text(texts["haproxy"], "maps.cfg", binary=haproxy_bin, keep_sockets=True),
                             Balancer.from_text(texts["engine"])))
    try:
        seen = []
        for cmd in USER_COMMANDS:
            got = {side: _norm(send_command(str(tmp_path / side / "admin.sock"), cmd.format(maps=maps)))
                   for side in texts}
            assert got["engine"] == got["haproxy"], (cmd, got)
            seen.append(got["haproxy"])
        assert "ADDR new.lab b1" in seen[8] and "ADDR api.lab b2" in seen[8]  # the changes were made
    finally:
        lb.stop()
        hx.stop()
