"""The ACL language on real HAProxy and on the engine: the same config (one frontend per family of
fetches and matchers, support/acl_cases.py) and the same requests, from two client addresses; every
request must reach the same backend on both."""
from __future__ import annotations

from pprint import pformat

import pytest
from support.acl_cases import BACKENDS, MAP_FILES, REQUESTS, RULES
from support.routing import NamedServer, routed

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy

pytestmark = pytest.mark.haproxy


@pytest.fixture(scope="module")
def servers():
    named = {name: NamedServer(name) for name in BACKENDS}
    yield named
    for srv in named.values():
        srv.close()


def acl_config(ports: list[int], servers: dict[str, NamedServer], patterns: str, maps: str) -> str:
    return ("defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
            + "".join(f"frontend {name}\n    bind 127.0.0.1:{port}\n"
                      f"{rules.replace('{PATTERNS}', patterns).replace('{MAPS}', maps)}"
                      "    default_backend web\n" for port, (name, rules) in zip(ports, RULES.items()))
            + "".join(f"backend {name}\n    server s1 127.0.0.1:{srv.port}\n" for name, srv in servers.items()))


def test_every_request_reaches_the_same_backend(servers, haproxy_bin, tmp_path):
    patterns = tmp_path / "paths.lst"
    patterns.write_text("# paths routed to b1\n/f1\n\n  /f2  \n")
    ports = free_ports(2 * len(RULES))
    mine, theirs = ports[:len(RULES)], ports[len(RULES):]
    for name, content in MAP_FILES.items():
        (tmp_path / name).write_text(content)
    text = acl_config(mine, servers, str(patterns), str(tmp_path))
    lb = Balancer.from_text(text).start()
    hx = HAProxy.from_text(text, "acls.cfg", port_map=dict(zip(mine, theirs)), binary=haproxy_bin).start()
    try:
        assert [str(w) for w in lb.warnings] == []
        want = {name: [routed(p, req, src) for src, req in REQUESTS] for p, name in zip(theirs, RULES)}
        got = {name: [routed(p, req, src) for src, req in REQUESTS] for p, name in zip(mine, RULES)}
    finally:
        lb.stop()
        hx.stop()
    assert len(RULES) >= 12 and len(RULES) * len(REQUESTS) >= 500
    for name in RULES:  # every rule family routes somewhere other than the default at least once
        assert {b for b in want[name]} - {"web"}, name
    diffs = {name: [(req.split(b"\r\n")[:3], w, g) for (src, req), w, g in zip(REQUESTS, want[name], got[name])
                    if w != g] for name in RULES}
    bad = {k: v for k, v in diffs.items() if v}
    assert not bad, pformat(bad)


TCP_RULES = """\
    use_backend b1 if { src 127.0.0.2 }
    use_backend b2 if { src_port lt 1024 } || { dst_port lt 1024 }
    use_backend b3 if !{ src 127.0.0.0/8 }
"""


def test_layer4_rules_in_mode_tcp(servers, haproxy_bin):
    """A tcp frontend routes on the client's address (and its ports) as HAProxy does."""
    ports = free_ports(2)
    text = ("defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
            f"frontend t\n    bind 127.0.0.1:{ports[0]}\n{TCP_RULES}    default_backend web\n"
            + "".join(f"backend {name}\n    server s1 127.0.0.1:{srv.port}\n" for name, srv in servers.items()))
    lb = Balancer.from_text(text).start()
    hx = HAProxy.from_text(text, "tcp.cfg", port_map={ports[0]: ports[1]}, binary=haproxy_bin).start()
    sources = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.2"]
    request = b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
    try:
        assert [str(w) for w in lb.warnings] == []
        want = [routed(ports[1], request, src) for src in sources]
        got = [routed(ports[0], request, src) for src in sources]
    finally:
        lb.stop()
        hx.stop()
    assert want == ["web", "b1", "web", "b1"]
    assert got == want
