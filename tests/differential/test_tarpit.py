"""http-request tarpit on real HAProxy 2.6 and on the engine: the same configuration, the same requests.

The answer (the deny status's page, 500 unless told: byte for byte, keep-alive kept), the wait before it
(at least ``timeout tarpit``; else the proxy's ``timeout connect``; none in a frontend that has neither,
since a frontend gets no connect timeout from defaults), the log line (``PT--``, ``%TR`` -1, the bytes),
the counters (dreq, hrsp_*), and a tarpit behind a rate limit: the same requests held on both. Only
durations are measured; the comparison is on what each side answered, and each wait is checked
against its own lower bound, never an upper one.
"""
from __future__ import annotations

import socket
import time

import pytest
from support.httplog import logged_rows
from support.procs import start_together
from support.recorder import Recorder, read_all

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv

from .test_config import run_engine, run_haproxy

CONFIG = """global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 400ms
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    timeout tarpit 300ms
    http-request tarpit if {{ path /fe }}
    http-request tarpit deny_status 429 if {{ path /fe429 }}
    use_backend nowait if {{ path_beg /nowait }}
    default_backend web
backend web
    http-request tarpit deny_status 403 if {{ path /be }}
    server s1 127.0.0.1:{rec}
backend nowait
    server s1 127.0.0.1:{rec}
frontend bare
    bind 127.0.0.1:{port2}
    http-request tarpit if {{ path /bare }}
    default_backend web
frontend limited
    bind 127.0.0.1:{port3}
    timeout tarpit 200ms
    stick-table type ip size 1k expire 10s store http_req_rate(10s),http_err_cnt
    http-request track-sc0 src
    http-request tarpit deny_status 429 if {{ sc_http_req_rate(0) gt 2 }}
    default_backend web
"""
# (name, which port, path, keep-alive, the least wait in seconds)
CASES = [
    ("frontend's timeout tarpit", 0, "/fe", False, 0.3),
    ("deny_status 429", 0, "/fe429", False, 0.3),
    ("keep-alive kept", 0, "/fe", True, 0.3),
    ("backend's timeout connect", 0, "/be", False, 0.4),
    ("not held: forwarded", 0, "/nowait", False, 0.0),
    ("frontend without a connect timeout", 1, "/bare", False, 0.0),
]
LIMITED = 5  # requests in a row on the rate-limited frontend


def _ask(port: int, path: str, keep: bool) -> tuple[bytes, float]:
    head = f"GET {path} HTTP/1.1\r\nHost: lab\r\n" + ("" if keep else "Connection: close\r\n") + "\r\n"
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.settimeout(5)
        s.sendall(head.encode())
        if not keep:
            data = read_all(s)
            return data, time.monotonic() - t0
        data = b""
        while b"</html>" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        waited = time.monotonic() - t0
        s.sendall(b"GET /fe HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")  # held again, same connection
        return data + b"||" + read_all(s), waited


@pytest.fixture(scope="module")
def both(haproxy_bin):
    recs = Recorder(), Recorder()
    ports = free_ports(6)
    texts = [CONFIG.format(port=ports[3 * k], port2=ports[3 * k + 1], port3=ports[3 * k + 2], rec=recs[k].port)
             for k in range(2)]
    procs = start_together((HAProxy.from_text(texts[0], "tarpit.cfg", binary=haproxy_bin),
                            Balancer.from_text(texts[1])))
    try:
        out = []
        for k, proc in enumerate(procs):
            answers = {name: _ask(ports[3 * k + which], path, keep) for name, which, path, keep, _ in CASES}
            limited = [_ask(ports[3 * k + 2], "/", False)[0].split(b"\r\n", 1)[0] for _ in range(LIMITED)]
            rows = logged_rows(proc, len(CASES) + 1 + LIMITED, tail=200)
            out.append((answers, limited, rows, parse_stat_csv(proc.stats_csv())))
        yield out
    finally:
        for p in reversed(procs):
            p.stop()
        for r in recs:
            r.close()


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_the_answer_is_haproxys(both, name):
    (hx, _, _, _), (en, _, _, _) = both
    assert en[name][0] == hx[name][0]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_both_hold_the_request_for_the_timeout(both, case):
    name, _, _, _, least = case
    for answers, _, _, _ in both:
        assert answers[name][1] >= least


def test_the_answers_are_the_tarpits(both):
    answers = both[0][0]
    assert answers["frontend's timeout tarpit"][0].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert answers["deny_status 429"][0].startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert answers["backend's timeout connect"][0].startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert answers["keep-alive kept"][0].count(b"HTTP/1.1 500 ") == 2
    assert answers["not held: forwarded"][0].startswith(b"HTTP/1.1 200 ")


def test_a_rate_limit_holds_the_same_requests(both):
    (_, hx, _, _), (_, en, _, _) = both
    assert en == hx
    assert hx == [b"HTTP/1.1 200 OK"] * 2 + [b"HTTP/1.1 429 Too Many Requests"] * 3


def test_log_lines_are_haproxys(both):
    (_, _, hx, _), (_, _, en, _) = both
    keys = ("frontend", "backend", "server", "status", "term", "request", "bytes")

    def shown(rows):
        return sorted((tuple(r[k] for k in keys) for r in rows if r["server"] == "<NOSRV>"), key=repr)

    assert shown(en) == shown(hx)
    assert sum(r["term"].startswith("PT") for r in hx) == 6 + 3  # five cases, one of them twice on its connection; three held by the limit


def test_the_request_timer_is_minus_one(both):
    for _, _, rows, _ in both:
        held = [r for r in rows if r["term"].startswith("PT")]
        assert held and all(r["TR"] == -1 for r in held)


COUNTERS = ("req_tot", "dreq", "hrsp_2xx", "hrsp_4xx", "hrsp_5xx", "intercepted")


@pytest.mark.parametrize("row", [("fe", "FRONTEND"), ("bare", "FRONTEND"), ("limited", "FRONTEND"),
                                 ("web", "BACKEND"), ("nowait", "BACKEND")])
def test_counters_are_haproxys(both, row):
    (_, _, _, hx), (_, _, _, en) = both

    def pick(rows):
        r = next(r for r in rows if (r["pxname"], r["svname"]) == row)
        return {k: r.get(k) for k in COUNTERS}

    assert pick(en) == pick(hx)


@pytest.mark.parametrize("line", ["http-request tarpit deny_status", "http-request tarpit deny_status 999",
                                  "http-request tarpit deny_status 429 foo", "timeout tarpit",
                                  "timeout tarpit 5x", "timeout tarpit 2s"])
def test_config_lines_get_haproxys_messages(haproxy_bin, tmp_path, line):
    path = tmp_path / "t.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                    "    timeout tarpit 1s\n"
                    f"frontend fe\n    bind 127.0.0.1:14999\n    {line}\n    default_backend be\n"
                    "backend be\n    server s1 127.0.0.1:1\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)
