"""The bundled engine's proxy with real sockets: tiny HTTP/1.1 backends in threads, real clients.

Expected bytes and timings are HAProxy 2.6.12's (tests/vectors/health-and-errors.md section 6, and the
400/408 pages captured from /usr/sbin/haproxy).
"""
from __future__ import annotations

import http.client
import socket
import threading
import time

import pytest
from support.httpbackend import Backend, exchange, free_port, get, wait_for
from support.rawserver import RawListener

from labsupport.balancer import Balancer

PAGE_503 = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\n"
            b"content-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\n"
            b"No server is available to handle this request.\n</body></html>\n")
PAGE_503_CLOSE = PAGE_503.replace(b"text/html\r\n\r\n", b"text/html\r\nconnection: close\r\n\r\n")
PAGE_502 = (b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 107\r\ncache-control: no-cache\r\n"
            b"content-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>502 Bad Gateway</h1>\n"
            b"The server returned an invalid or incomplete response.\n</body></html>\n")
PAGE_504 = (b"HTTP/1.1 504 Gateway Time-out\r\ncontent-length: 92\r\ncache-control: no-cache\r\n"
            b"content-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>504 Gateway Time-out</h1>\n"
            b"The server didn't respond in time.\n</body></html>\n")
PAGE_400 = (b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\n"
            b"Content-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\n"
            b"Your browser sent an invalid request.\n</body></html>\n")
PAGE_408 = (b"HTTP/1.1 408 Request Time-out\r\nContent-length: 110\r\nCache-Control: no-cache\r\n"
            b"Connection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\n"
            b"Your browser didn't send a complete request in time.\n</body></html>\n")


class RawServer(RawListener):
    """Answers every connection with fixed bytes (garbage), after ``delay`` seconds."""

    def __init__(self, reply: bytes, delay: float = 0.0):
        self.reply, self.delay = reply, delay
        super().__init__(backlog=16)

    def serve(self, c: socket.socket) -> None:
        try:
            c.recv(65536)
            self.stopping.wait(self.delay)  # (close() cuts the wait short)
            c.sendall(self.reply)
            self.stopping.wait(0.3)
        except OSError:
            pass
        finally:
            c.close()


def cfg(port: int, servers: str, defaults: str = "", backend: str = "", frontend: str = "", mode: str = "http",
        glob: str = "") -> str:
    return f"""
global
{glob}
defaults
    mode {mode}
    timeout connect 1s
    timeout client 5s
    timeout server 5s
{defaults}
frontend fe
    bind 127.0.0.1:{port}
{frontend}
    default_backend be
backend be
{backend}
{servers}
"""


@pytest.fixture
def backends():
    made: list = []

    def make(*names, **kw):
        out = [Backend(n, **kw) for n in names]
        made.extend(out)
        return out if len(out) > 1 else out[0]

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def lb():
    started: list[Balancer] = []

    def run(text: str) -> Balancer:
        b = Balancer.from_text(text).start()
        started.append(b)
        return b

    yield run
    for b in started:
        b.stop()


def servers_of(bs, extra: str = "") -> str:
    return "\n".join(f"    server s{i} 127.0.0.1:{b.port} {extra}" for i, b in enumerate(bs, 1))


# ----- balancing
def test_roundrobin_sequence_one_connection_per_request(backends, lb):
    bs = backends("s1", "s2", "s3")
    port = free_port()
    lb(cfg(port, servers_of(bs)))
    assert [get(port)[1] for _ in range(7)] == ["s1", "s2", "s3", "s1", "s2", "s3", "s1"]


def test_weighted_roundrobin_matches_haproxy_vector(backends, lb):
    bs = backends("s1", "s2", "s3")
    port = free_port()
    servers = "\n".join(f"    server s{i} 127.0.0.1:{b.port} weight {w}" for i, (b, w) in enumerate(zip(bs, (3, 2, 1)), 1))
    lb(cfg(port, servers))
    got = [get(port)[1] for _ in range(12)]
    assert got == "s1 s2 s1 s3 s1 s2 s1 s2 s1 s3 s1 s2".split()


def test_keepalive_client_is_balanced_per_request_in_http_mode(backends, lb):
    bs = backends("s1", "s2")
    port = free_port()
    b = lb(cfg(port, servers_of(bs)))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    seen = []
    for _ in range(4):
        c.request("GET", "/")
        seen.append(c.getresponse().read().decode())
    sock = c.sock
    c.close()
    assert sock is not None  # one connection served all four
    assert seen == ["s1", "s2", "s1", "s2"]
    assert b.snapshot().frontend("fe")["stot"] == 1


def test_tcp_mode_pins_a_connection_to_one_server(backends, lb):
    bs = backends("s1", "s2")
    port = free_port()
    lb(cfg(port, servers_of(bs), mode="tcp"))
    for expected in ("s1", "s2"):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        got = []
        for _ in range(3):
            c.request("GET", "/")
            got.append(c.getresponse().read().decode())
        c.close()
        assert got == [expected] * 3


def test_forwardfor_adds_the_client_address(backends, lb):
    b1 = backends("s1")
    port = free_port()
    lb(cfg(port, servers_of([b1]), frontend="    option forwardfor"))
    assert get(port) == (200, "s1")
    assert b1.seen[-1].get("x-forwarded-for") == "127.0.0.1"


def test_post_bodies_reach_the_server(backends, lb):
    b1 = backends("s1")
    port = free_port()
    lb(cfg(port, servers_of([b1])))
    out = exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
    assert out.startswith(b"HTTP/1.0 200") or out.startswith(b"HTTP/1.1 200")
    assert out.endswith(b"s1 got hello")
    out = exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                         b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n")
    assert b"connection: close" in out.lower()


def test_pipelined_requests_are_answered_in_order(backends, lb):
    bs = backends("s1", "s2")
    port = free_port()
    lb(cfg(port, servers_of(bs)))
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    out = exchange(port, req + req + req.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert out.count(b"200 OK") == 3
    assert out.index(b"s1") < out.index(b"s2")


# ----- errors
def test_503_page_exact_bytes_and_keepalive(lb):
    port = free_port()
    lb(cfg(port, "    server s1 127.0.0.1:9 disabled"))
    assert exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", wait=0.5) == PAGE_503 + b"<<still open>>"
    assert exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == PAGE_503_CLOSE


def test_dead_server_without_check_503_after_three_retries(lb):
    port, dead = free_port(), free_port()
    b = lb(cfg(port, f"    server s1 127.0.0.1:{dead}"))
    t0 = time.monotonic()
    out = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", wait=10)
    elapsed = time.monotonic() - t0
    assert out == PAGE_503_CLOSE
    assert 2.5 <= elapsed <= 4.5
    s1 = b.snapshot().server("be", "s1")
    assert (s1["econ"], s1["wretr"], s1["stot"], s1["status"]) == (1, 3, 4, "no check")


def test_retry_delay_is_timeout_connect_when_shorter(lb):
    port, dead = free_port(), free_port()
    lb(cfg(port, f"    server s1 127.0.0.1:{dead}", backend="    timeout connect 200ms"))
    t0 = time.monotonic()
    assert exchange(port, b"GET / HTTP/1.0\r\n\r\n") == PAGE_503_CLOSE
    assert 0.45 <= time.monotonic() - t0 <= 1.5


def test_redispatch_hands_the_first_failure_to_the_next_server(backends, lb):
    alive = backends("s2")
    port, dead = free_port(), free_port()
    servers = f"    server s1 127.0.0.1:{dead}\n    server s2 127.0.0.1:{alive.port}"
    b = lb(cfg(port, servers, backend="    option redispatch"))
    t0 = time.monotonic()
    assert get(port) == (200, "s2")
    assert time.monotonic() - t0 < 0.9  # without redispatch this takes 3 s
    assert b.snapshot().server("be", "s1")["wredis"] == 1


def test_garbage_request_gets_400_and_others_are_still_served(backends, lb):
    b1 = backends("s1")
    port = free_port()
    b = lb(cfg(port, servers_of([b1])))
    assert exchange(port, b"garbage\r\n\r\n") == PAGE_400
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n"
    assert exchange(port, head) == PAGE_400
    assert get(port) == (200, "s1")
    assert b.snapshot().frontend("fe")["ereq"] == 2


def test_silent_client_gets_408_after_timeout_http_request(backends, lb):
    b1 = backends("s1")
    port = free_port()
    lb(cfg(port, servers_of([b1]), defaults="    timeout http-request 300ms"))
    t0 = time.monotonic()
    assert exchange(port, b"") == PAGE_408
    assert exchange(port, b"GET / HTTP/1.1\r\n") == PAGE_408  # an incomplete request too
    assert 0.5 <= time.monotonic() - t0 <= 3.0
    assert get(port) == (200, "s1")


def test_garbage_from_the_server_gives_502(lb):
    garbage = RawServer(b"garbage garbage\r\n\r\n")
    try:
        port = free_port()
        b = lb(cfg(port, f"    server s1 127.0.0.1:{garbage.port}"))
        assert exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == PAGE_502
        assert b.snapshot().server("be", "s1")["eresp"] == 1
    finally:
        garbage.close()


def test_protocol_upgrade_is_refused_cleanly_with_502(lb, caplog):
    """The engine does not tunnel upgraded connections (websockets): a 101 answer is a clean 502."""
    upgrade = RawServer(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    try:
        port = free_port()
        lb(cfg(port, f"    server s1 127.0.0.1:{upgrade.port}"))
        request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert exchange(port, request) == PAGE_502
        assert exchange(port, request) == PAGE_502  # and it keeps serving
        assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []  # no "Fatal error"
    finally:
        upgrade.close()


def test_slow_server_gives_504_after_timeout_server(lb):
    slow = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", delay=1.5)
    try:
        port = free_port()
        lb(cfg(port, f"    server s1 127.0.0.1:{slow.port}", backend="    timeout server 300ms"))
        t0 = time.monotonic()
        assert exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == PAGE_504
        assert 0.2 <= time.monotonic() - t0 <= 1.4
    finally:
        slow.close()


# ----- limits
def test_server_maxconn_queues_requests(backends, lb):
    slow = backends("s1", delay=0.3)
    port = free_port()
    b = lb(cfg(port, f"    server s1 127.0.0.1:{slow.port} maxconn 1"))
    results = []
    threads = [threading.Thread(target=lambda: results.append(get(port))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [(200, "s1")] * 3
    snap = b.snapshot()
    assert snap.backend("be")["qmax"] >= 1
    assert snap.server("be", "s1")["smax"] == 1


def test_queue_timeout_gives_503(backends, lb):
    slow = backends("s1", delay=1.0)
    port = free_port()
    b = lb(cfg(port, f"    server s1 127.0.0.1:{slow.port} maxconn 1", backend="    timeout queue 200ms"))
    results = []
    threads = [threading.Thread(target=lambda: results.append(get(port)[0])) for _ in range(2)]
    threads[0].start()
    wait_for(lambda: b.snapshot().server("be", "s1")["scur"] == 1, timeout=10)  # the first holds the one slot
    threads[1].start()
    for t in threads:
        t.join(10)
    assert sorted(results) == [200, 503]


def test_frontend_maxconn_holds_extra_connections(backends, lb):
    b1 = backends("s1")
    port = free_port()
    lb(cfg(port, servers_of([b1]), frontend="    maxconn 1"))
    first = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    first.request("GET", "/")
    assert first.getresponse().read() == b"s1"
    second = socket.create_connection(("127.0.0.1", port))
    second.settimeout(0.5)
    second.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    with pytest.raises(socket.timeout):
        second.recv(100)  # waits: the first connection holds the only slot
    first.close()
    second.settimeout(5)
    assert second.recv(100).startswith(b"HTTP/1.")
    second.close()


# ----- health checks
def test_check_takes_a_dead_server_down_and_back_up(backends, lb):
    b1, b2 = backends("s1", "s2")
    port = free_port()
    b = lb(cfg(port, servers_of([b1, b2], "check inter 100ms")))
    wait_for(lambda: b.snapshot().server("be", "s1")["status"] == "UP")
    b1.stop()
    wait_for(lambda: b.snapshot().server("be", "s1")["status"] == "DOWN")
    assert [get(port)[1] for _ in range(3)] == ["s2", "s2", "s2"]
    row = b.snapshot().server("be", "s1")
    assert (row["check_status"], row["last_chk"], row["chkdown"]) == ("L4CON", "Connection refused", 1)
    b1.start()
    wait_for(lambda: b.snapshot().server("be", "s1")["status"] == "UP")
    lines, _ = b.events()
    down = [line for line in lines if "be/s1 is DOWN" in line]
    up = [line for line in lines if "be/s1 is UP" in line]
    assert down and down[0].startswith("[WARNING]  (")
    assert 'reason: Layer4 connection problem, info: "Connection refused", check duration: ' in down[0]
    assert "1 active and 0 backup servers left." in down[0]
    assert up and "reason: Layer4 check passed" in up[0] and "2 active and 0 backup servers online." in up[0]
    assert sorted(get(port)[1] for _ in range(2)) == ["s1", "s2"]


def test_httpchk_wrong_status_marks_down(backends, lb):
    b1, b2 = backends("s1", "s2")
    b1.status_for["/health"] = 404
    port = free_port()
    b = lb(cfg(port, servers_of([b1, b2], "check inter 100ms"), backend="    option httpchk GET /health"))
    wait_for(lambda: b.snapshot().server("be", "s1")["status"] == "DOWN")
    s1, s2 = b.snapshot().server("be", "s1"), b.snapshot().server("be", "s2")
    assert (s1["check_status"], s1["check_code"]) == ("L7STS", 404)
    wait_for(lambda: b.snapshot().server("be", "s2")["check_status"] == "L7OK")
    assert b.snapshot().server("be", "s2")["check_code"] == 200
    assert any('Layer7 wrong status, code: 404, info: "Not Found"' in line for line in b.events()[0])
    del s2


def test_all_servers_down_alert_and_503(backends, lb):
    b1 = backends("s1")
    port = free_port()
    b = lb(cfg(port, servers_of([b1], "check inter 100ms")))
    b1.stop()
    wait_for(lambda: b.snapshot().backend("be")["status"] == "DOWN")
    assert any("backend 'be' has no server available!" in line for line in b.events()[0])
    t0 = time.monotonic()
    assert exchange(port, b"GET / HTTP/1.0\r\n\r\n") == PAGE_503_CLOSE
    assert time.monotonic() - t0 < 0.9  # at once: no server to retry


# ----- runtime changes
def test_runtime_weight_change_follows_haproxy_sequence(backends, lb):
    bs = backends("s1", "s2", "s3")
    port = free_port()
    b = lb(cfg(port, servers_of(bs)))
    got = [get(port)[1] for _ in range(5)]
    b.set_weight("be/s1", 3)
    got += [get(port)[1] for _ in range(12)]
    assert got == "s1 s2 s3 s1 s2 s3 s1 s2 s1 s1 s3 s1 s2 s1 s1 s3 s1".split()


def test_disable_and_enable_follow_haproxy_sequence(backends, lb):
    bs = backends("s1", "s2", "s3")
    port = free_port()
    b = lb(cfg(port, servers_of(bs)))
    got = [get(port)[1] for _ in range(4)]
    b.disable("be/s2")
    got += [get(port)[1] for _ in range(6)]
    b.enable("be/s2")
    got += [get(port)[1] for _ in range(9)]
    assert got == "s1 s2 s3 s1 s3 s1 s3 s1 s3 s1 s3 s1 s2 s3 s1 s2 s3 s1 s2".split()
    assert b.snapshot().server("be", "s2")["status"] == "no check"
