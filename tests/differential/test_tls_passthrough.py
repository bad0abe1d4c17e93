"""TLS passthrough in mode tcp, on the engine and on real HAProxy 2.6: ``tcp-request inspect-delay`` and
``tcp-request content accept|reject`` wait for the client's ClientHello, ``use_backend`` routes on
``req.ssl_sni`` / ``req_ssl_sni``, and the hello reaches the chosen server unchanged (the server does the
handshake). Clients with and without a server name, a hello in two pieces 200 ms apart, half a hello then
a half-close, clear-text HTTP, and a client that sends nothing (until inspect-delay, or 'timeout client',
runs out); a backend with content rules of its own.
Compared: what each client saw (which backend answered, or a reset), the bytes each server received first,
the stats counters, and the tcplog lines (names, termination flags, which durations are -1)."""
from __future__ import annotations

import time

import pytest
from support.procs import start_together
from support.statscsv import rows
from support.tlsbio import TlsNamedServer, talk

from labsupport.course.certs import LabCA
from labsupport.course.haproxy import HAProxy
from labsupport.engine.balancer import Balancer
from labsupport.ports import free_ports

from .test_acl_config import LINES as ACL_LINES
from .test_config import run_engine, run_haproxy
from .test_tcplog import normalise

pytestmark = pytest.mark.haproxy
BACKENDS = {"shop": "shop.lab", "api": "api.lab", "web": "web.lab"}
CONFIG = """global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{fe}
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    use_backend shop if {{ req.ssl_sni -i shop.lab }}
    use_backend api if {{ req_ssl_sni -m end .api.lab }}
    default_backend web
frontend strict
    bind 127.0.0.1:{strict}
    tcp-request inspect-delay 1s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    tcp-request content reject
    use_backend shop if {{ req.ssl_sni -i shop.lab }}
    default_backend web
frontend quick
    bind 127.0.0.1:{quick}
    tcp-request inspect-delay 1s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    use_backend shop if {{ req.ssl_sni -i shop.lab }}
    default_backend web
frontend impatient
    bind 127.0.0.1:{impatient}
    timeout client 1s
    tcp-request inspect-delay 3s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    use_backend shop if {{ req.ssl_sni -i shop.lab }}
    default_backend web
backend shop
    server s1 127.0.0.1:{shop}
backend api
    tcp-request inspect-delay 2s
    tcp-request content reject if {{ req.ssl_sni -i bad.api.lab }}
    server s1 127.0.0.1:{api}
backend web
    server s1 127.0.0.1:{web}
"""
# (frontend, how the client speaks, SNI)
CASES = [
    ("fe", "hello", "shop.lab"), ("fe", "hello", "SHOP.Lab"), ("fe", "hello", "x.api.lab"),
    ("fe", "hello", None), ("fe", "hello", "other.lab"), ("fe", "split", "shop.lab"),
    ("fe", "split", "www.api.lab"), ("fe", "plain", None), ("fe", "hello", "bad.api.lab"),
    ("quick", "nothing", None), ("strict", "hello", "shop.lab"), ("strict", "hello", None),
    ("strict", "plain", None), ("strict", "nothing", None), ("strict", "half", "shop.lab"),
    ("impatient", "split", "shop.lab"), ("impatient", "nothing", None),
]
COUNTERS = ("stot", "dreq", "lbtot", "econ", "ereq")


def run(ports: dict[str, int], servers: dict, arrivals: list, logs) -> list:
    """Each case in turn: what the client saw, which server got what, and the log line's backend/server."""
    out = []

    def accepted() -> int:
        return sum(len(s.conns) for s in servers.values())

    for fe, how, sni in CASES:
        seen, nlog, before = len(arrivals), logs(0)[1], accepted()
        said, hello = talk(ports[fe], how, sni, waiting_for=lambda n=before: accepted() > n)
        deadline = time.monotonic() + 8
        while (logs(0)[1] <= nlog or len(arrivals) < seen + accepted() - before) and time.monotonic() < deadline:
            time.sleep(0.02)  # a log line is written when the stream ends; a server notes a connection at its end
        got = arrivals[seen:]
        out.append((fe, how, sni, said, [name for name, _ in got],
                    [first == hello for _, first in got if how in ("hello", "split")], logs(nlog)[0]))
    return out


def counters(csv: str) -> dict:
    return {(r["pxname"], r["svname"]): tuple(r[c] for c in COUNTERS) for r in rows(csv)}


def test_passthrough_routes_waits_and_rejects_as_on_haproxy(haproxy_bin, tmp_path):
    ca = LabCA(tmp_path)
    arrivals: list = []
    servers = {b: TlsNamedServer(b, *map(str, ca.cert_and_key(name)), arrivals) for b, name in BACKENDS.items()}
    names = ("fe", "strict", "quick", "impatient")
    ours, theirs = free_ports(4), free_ports(4)
    text = CONFIG.format(**dict(zip(names, ours)), **{b: s.port for b, s in servers.items()})
    lb = Balancer.from_text(text)
    hx = HAProxy.from_text(text, "passthrough.cfg", port_map=dict(zip(ours, theirs)), binary=haproxy_bin)
    try:
        start_together((hx, lb))

        def engine_logs(since):
            lines, nxt = lb.logs(since)
            return [normalise(line, nbytes=False) for line in lines], nxt

        def haproxy_logs(since):
            lines, nxt = hx.logs(since)
            return [normalise(line, nbytes=False) for line in lines], nxt

        want = run(dict(zip(names, theirs)), servers, arrivals, haproxy_logs)
        got = run(dict(zip(names, ours)), servers, arrivals, engine_logs)
        real, engine = counters(hx.stats_csv()), counters(lb.stats_csv())
    finally:
        lb.stop()
        hx.stop()
        for srv in servers.values():
            srv.close()
    assert got == want
    assert real == engine
    # the oracle, as observed: SNI routing (case-insensitive with -i), the hello relayed unchanged, a
    # reset for what a reject rule refuses
    assert [case[3] for case in want[:5]] == ["answered shop", "answered shop", "answered api", "answered web",
                                              "answered web"]
    assert all(all(case[5]) for case in want)


# ----- haproxy -c on tcp-request lines: (mode, defaults section's name, where the line goes, the line)
SECTION_CASES = [
    ("tcp", "", "fe", "tcp-request"), ("tcp", "", "fe", "tcp-request content"),
    ("tcp", "", "fe", "tcp-request content foo"), ("tcp", "", "fe", "tcp-request content rejec"),
    ("tcp", "", "fe", "tcp-request content accept"), ("tcp", "", "fe", "tcp-request content reject"),
    ("tcp", "", "fe", "tcp-request content accept foo"), ("tcp", "", "fe", "tcp-request content accept if"),
    ("tcp", "", "fe", "tcp-request content reject unless"),
    ("tcp", "", "fe", "tcp-request content accept if { nosuch }"),
    ("tcp", "", "fe", "tcp-request content accept if { req.ssl_hello_type 1 } extra"),
    ("tcp", "", "fe", "tcp-request content accept if { req.ssl_sni -m foo a }"),
    ("tcp", "", "fe", "tcp-request content accept if { req_ssl_sni }"),
    ("tcp", "", "fe", "tcp-request content reject unless { req.len gt 0 }"),
    ("tcp", "", "fe", "tcp-request content accept if { req_ssl_ver ge 0x30001 }"),
    ("tcp", "", "fe", "tcp-request inspect-delay"), ("tcp", "", "fe", "tcp-request inspect-delay 5x"),
    ("tcp", "", "fe", "tcp-request inspect-delay 5s"), ("tcp", "", "fe", "tcp-request inspect-delay 0"),
    ("tcp", "", "fe", "tcp-request inspect-delay 5s 6s"), ("tcp", "", "fe", "tcp-request inspect-delay -1"),
    ("tcp", "", "fe", "tcp-request inspect-delay 1.5s"), ("tcp", "", "fe", "tcp-request inspect-delay 25d"),
    ("tcp", "", "fe", "tcp-request inspect-delay 10us"),
    ("tcp", "", "fe", "tcp-request inspect-delay 5s\n    tcp-request inspect-delay 6s"),
    ("tcp", "", "fe", "tcp-request content reject\n    tcp-request inspect-delay 2s"),
    ("tcp", "", "fe", "tcp-request bogus"), ("tcp", "", "fe", "tcp-request connection reject"),
    ("tcp", "", "fe", "tcp-request session reject"), ("tcp", "", "fe", "tcp-request content set-var(txn.x) str(a)"),
    ("tcp", "", "fe", "tcp-request content accept if { status 200 }"),
    ("http", "", "fe", "tcp-request content accept if { shdr_beg(x) y }"),
    ("http", "", "fe", "use_backend b if { shdr_beg(x) y }"),
    ("http", "", "fe", "acl x shdr_beg(x) y\n    acl x src 1.2.3.4\n    use_backend b if x"),
    ("tcp", "", "fe", "tcp-request content reject\n    tcp-request connection reject"),
    ("tcp", "", "fe", "tcp-request session reject\n    tcp-request connection reject"),
    ("tcp", "", "fe", "tcp-request session reject\n    tcp-request content reject"),
    ("tcp", "", "fe", "tcp-request content set-var(txn.x) str(a)\n    tcp-request session reject"),
    ("tcp", "", "fe", "use_backend b if TRUE\n    tcp-request connection reject"),
    ("tcp", "", "fe", "tcp-request session accept if { req.len gt 0 }"),
    ("tcp", "", "fe", "tcp-request session foo"), ("tcp", "", "fe", "tcp-request connection rejec"),
    ("tcp", "", "fe", "tcp-request connection accept foo"),
    ("tcp", "", "fe", "tcp-request connection accept if { nosuch }"),
    ("tcp", "", "fe", "tcp-request content accept if { res.len gt 0 }"),
    ("tcp", "", "fe", "tcp-request connection accept if { req.len gt 0 }"),
    ("tcp", "", "fe", "acl x status 200\n    tcp-request content reject if x"),
    ("tcp", "", "fe", "acl x status 200\n    acl x src 1.2.3.4\n    tcp-request content reject if x"),
    ("tcp", "", "fe", "tcp-request content reject if { src 1.2.3.4 } { status 200 }"),
    ("tcp", "", "fe", "acl x req.ssl_sni -i a\n    tcp-request content accept if x"),
    ("tcp", "", "fe", "use_backend b if { req.ssl_sni -i a }\n    tcp-request content reject"),
    ("http", "", "fe", "tcp-request inspect-delay 5s"), ("http", "", "fe", "tcp-request content reject"),
    ("http", "", "fe", "tcp-request content accept if { req.ssl_hello_type 1 }"),
    ("http", "", "fe", "tcp-request content reject if { req.ssl_sni -i a }\n    use_backend b if { req.ssl_sni -i a }"),
    ("http", "", "fe", "use_backend b if { req.ssl_sni -i a }\n    tcp-request content reject if { req.len gt 1 }"),
    ("http", "", "fe", "http-request deny if { path /x }\n    tcp-request content reject"),
    ("tcp", " named", "defaults", "tcp-request inspect-delay 5s"),
    ("tcp", "", "defaults", "tcp-request inspect-delay 5s"), ("tcp", "", "defaults", "tcp-request content accept"),
    ("tcp", "", "defaults", "tcp-request"),
    ("tcp", " named", "defaults", "tcp-request inspect-delay 5s\nfrontend g\n    bind 127.0.0.1:10\n"
                                  "    tcp-request inspect-delay 3s\n    default_backend b"),
    ("tcp", "", "be", "tcp-request inspect-delay 5s\n    tcp-request content reject if { req.ssl_sni -i a }"),
    ("tcp", "", "be", "tcp-request content reject if { status 200 }"), ("tcp", "", "be", "tcp-request content foo"),
    ("tcp", "", "be", "tcp-request connection reject"),
    ("tcp", "", "listen", "tcp-request content reject if { status 200 }"),
    ("tcp", "", "listen", "tcp-request content foo"),
]
HEAD = "defaults{name}\n    mode {mode}\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
FRONTEND, BACKEND = "frontend f\n    bind 127.0.0.1:9\n", "backend b\n    server s 127.0.0.1:1\n"


def _section_config(mode: str, name: str, where: str, line: str) -> str:
    text = HEAD.format(name=name, mode=mode)
    if where == "defaults":
        return text + f"    {line}\n" + FRONTEND + "    default_backend b\n" + BACKEND
    if where == "fe":
        return text + FRONTEND + f"    {line}\n    default_backend b\n" + BACKEND
    if where == "be":
        return text + FRONTEND + "    default_backend b\nbackend b\n" + f"    {line}\n    server s 127.0.0.1:1\n"
    return text + f"listen l\n    bind 127.0.0.1:9\n    {line}\n    server s 127.0.0.1:1\n"


@pytest.mark.parametrize("mode,name,where,line", SECTION_CASES)
def test_tcp_request_lines_agree_with_haproxy(haproxy_bin, tmp_path, mode, name, where, line):
    path = tmp_path / "tcp.cfg"
    path.write_text(_section_config(mode, name, where, line))
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


def _as_content_rule(line: str) -> str | None:
    """test_acl_config's ACL lines, as the condition of a tcp-request content rule."""
    if line.startswith("acl a "):
        return "tcp-request content accept if { " + line[len("acl a "):] + " }"
    if line.startswith("use_backend b if "):
        return "tcp-request content reject if " + line[len("use_backend b if "):]
    return None


@pytest.mark.parametrize("line", [r for r in map(_as_content_rule, ACL_LINES) if r])
def test_content_rule_conditions_agree_with_haproxy(haproxy_bin, tmp_path, line):
    path = tmp_path / "cond.cfg"
    path.write_text(_section_config("tcp", "", "fe", "tcp-request inspect-delay 1s\n    " + line))
    assert run_engine(path) == run_haproxy(haproxy_bin, path)
