"""Content switching on real HAProxy: the same config text (``port_map``) and the same requests go to the same
backends as on the engine, and conditions made of several ACLs route the same way."""
from __future__ import annotations

import pytest
from support.routing import BACKENDS, ROUTES, NamedServer, config, routed_to, start_with_retry

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy


@pytest.fixture(scope="module")
def servers():
    named = {name: NamedServer(name) for name in BACKENDS}
    yield named
    for srv in named.values():
        srv.close()


@pytest.fixture(scope="module")
def engine(servers):
    port, lb = start_with_retry(lambda p: Balancer.from_text(config(p, servers)))
    yield port, lb
    lb.stop()


def test_same_backends_as_real_haproxy(engine, servers, haproxy_bin):
    """The same requests through real HAProxy on the same config text: the same backend each time."""
    engine_port, _ = engine

    def make(port: int) -> HAProxy:
        return HAProxy.from_text(config(engine_port, servers), "routing.cfg", port_map={engine_port: port},
                                 binary=haproxy_bin)

    port, hx = start_with_retry(make)
    try:
        want = [routed_to(port, host, path) for host, path, _ in ROUTES]
    finally:
        hx.stop()
    got = [routed_to(engine_port, host, path) for host, path, _ in ROUTES]
    assert want == [backend for _, _, backend in ROUTES]  # the table above is HAProxy's behaviour
    assert got == want


# ----- conditions made of several ACLs (src/acl.c parse_acl_cond / acl_exec_cond)
ACLS = "    acl a path_beg /a\n    acl a path_beg /b\n    acl h hdr(host) -i lab\n"  # 'a' twice: OR-ed


CONDITIONS = ["if", "unless", "if a h", "if a || h", "if !a h", "if ! ! a !h", "if || a",
              "if { path /c } or FALSE", "unless a", "if !TRUE || { hdr(host) x }", "if a or !a"]


REQUESTS = [("lab", "/a"), ("x", "/a"), ("lab", "/b"), ("lab", "/c"), ("x", "/c")]


def conditions_config(ports: list[int], servers: dict[str, NamedServer]) -> str:
    """One frontend per condition: 'use_backend api <condition>', else web."""
    return ("defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
            + "".join(f"frontend f{i}\n    bind 127.0.0.1:{port}\n{ACLS}    use_backend api {cond}\n"
                      f"    default_backend web\n" for i, (port, cond) in enumerate(zip(ports, CONDITIONS)))
            + "".join(f"backend {name}\n    server s1 127.0.0.1:{servers[name].port}\n" for name in ("api", "web")))


def test_compound_conditions_route_like_haproxy(servers, haproxy_bin):
    """AND of terms side by side, || and or, ! (alone, glued, twice), a name declared twice, TRUE and
    FALSE, and an 'if' or 'unless' with nothing after it (never / always true in HAProxy 2.6)."""
    ports = free_ports(2 * len(CONDITIONS))
    mine, theirs = ports[:len(CONDITIONS)], ports[len(CONDITIONS):]
    text = conditions_config(mine, servers)
    lb = Balancer.from_text(text).start()
    hx = HAProxy.from_text(text, "conditions.cfg", port_map=dict(zip(mine, theirs)), binary=haproxy_bin).start()
    try:
        assert [str(w) for w in lb.warnings] == []
        want = {cond: [routed_to(p, h, path) for h, path in REQUESTS] for p, cond in zip(theirs, CONDITIONS)}
        got = {cond: [routed_to(p, h, path) for h, path in REQUESTS] for p, cond in zip(mine, CONDITIONS)}
    finally:
        lb.stop()
        hx.stop()
    assert got == want
    assert want["if a h"] == ["api", "web", "api", "web", "web"] and want["if"] == ["web"] * 5  # the oracle
