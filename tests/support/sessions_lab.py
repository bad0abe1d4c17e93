"""Lesson 08's rate-limit setup for tests: ratelimit.cfg on free ports, with the lesson's session servers;
the exercise's solution and a too-broad answer.

``ratelimit_config(port, servers, period="10s")`` is haproxy/ratelimit.cfg with its frontend on ``port``,
its three servers on ``servers`` and, when asked, a shorter rate period (tests keep their runs short).
"""
from __future__ import annotations

from contextlib import contextmanager

from support.paths import ROOT

LESSON_SERVERS = (8201, 8202, 8203)
# lesson 08's exercise (check_login_limit): the solution, and a limit on every request that catches an office
LOGIN_SOLUTION = """
frontend shop
    bind 127.0.0.1:8000
    stick-table type ip size 100k expire 30s store http_req_rate(10s),conn_cur,http_err_rate(10s),gpc0
    http-request track-sc0 src
    http-request track-sc1 src table login_table if { path /login } { method POST }
    http-request deny deny_status 429 if { path /login } { method POST } { sc_http_req_rate(1) gt 5 }
    default_backend carts

backend login_table
    stick-table type ip size 100k expire 10s store http_req_rate(10s)
"""
LOGIN_TOO_BROAD = """
frontend shop
    bind 127.0.0.1:8000
    stick-table type ip size 100k expire 30s store http_req_rate(10s)
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 5 }
    default_backend carts
"""


def ratelimit_config(port: int, servers, period: str = "10s", extra: str = "") -> str:
    text = (ROOT / "haproxy" / "ratelimit.cfg").read_text().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    for old, new in zip(LESSON_SERVERS, servers):
        text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
    text = text.replace("_rate(10s)", f"_rate({period})")
    if extra:
        text = text.replace("    default_backend carts", extra.rstrip() + "\n    default_backend carts")
    return text


@contextmanager
def ratelimit_engine():
    """ratelimit.cfg on the engine, on a free port, its three servers one Flask server: (lb, its URL)."""
    from labsupport.balancer import Balancer
    from labsupport.course.fleet import Fleet, free_ports

    fleet = Fleet()
    try:
        server = fleet.start(count=1)[0]
        port = free_ports(1)[0]
        lb = Balancer.from_text(ratelimit_config(port, [server] * 3)).start()
        try:
            yield lb, f"http://127.0.0.1:{port}/"
        finally:
            lb.stop()
    finally:
        fleet.stop_all()
