"""httplog lines of the engine against real HAProxy 2.6: the same config (``log stdout format raw local0``,
``log global``, ``option httplog``) and the same requests give lines with the same fields, except what
must vary (client port, date, timers' values); timers must agree on which stages were reached (-1 or not).
Also: the course's log parser reads real haproxy's lines and the engine's alike (the parser alone:
tests/course/test_logtable.py).
"""
from __future__ import annotations

import threading
import time

import pytest
from support.httplog import LOGGED
from support.netns import wait_until
from support.procs import start_together
from support.rawclient import request
from support.rawserver import MisbehavingServer, RawListener

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.course.logtable import parse_httplog, parse_logs

CONFIG = """global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 1s
frontend fe
    bind 127.0.0.1:{port}
    use_backend dead if {{ path_beg /dead }}
    use_backend bad if {{ path_beg /bad }}
    use_backend slow if {{ path_beg /slow }}
    default_backend be
backend be
    server s1 127.0.0.1:{ok}
backend dead
    retries 0
    server d1 127.0.0.1:{ok} disabled
backend bad
    server b1 127.0.0.1:{bad}
backend slow
    server w1 127.0.0.1:{silent}
"""
# path -> (status, termination flags), as HAProxy 2.6.12 logs them
CASES = {"/": (200, "----"), "/dead": (503, "SC--"), "/bad": (502, "SH--"), "/slow": (504, "sH--"),
         "/x?y=1": (200, "----")}
# actconn/feconn count connections still closing from the previous request: timing, not behaviour
VARY = ("port", "date", "TR", "Tw", "Tc", "Tr", "Ta", "actconn", "feconn")


def _case_order(line: str) -> int:
    """A line's place in CASES. A line is written when its stream ends, and the end of one connection may
    come after the next connection's request (on either proxy), so lines are compared in the cases' order."""
    row = parse_httplog(line)
    return list(CASES).index(row["request"].split()[1]) if row and row["request"].split()[1:2] and \
        row["request"].split()[1] in CASES else -1


class _Closer(MisbehavingServer):
    """Reads the request and closes without a word (HAProxy: 502 SH--)."""

    def serve(self, conn) -> None:
        conn.settimeout(2)
        try:
            conn.recv(65536)
        except OSError:
            pass
        conn.close()


@pytest.fixture(scope="module")
def logged(haproxy_bin):
    """Every case sent once through haproxy and once through the engine: their parsed log lines."""
    closer, silent = _Closer("garbage"), MisbehavingServer("silent")
    ok_port = free_ports(1)[0]
    backend = (f"defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
               f"listen ok\n    bind 127.0.0.1:{ok_port}\n    http-request return status 200 content-type "
               f"text/plain string ok\n")
    ports = free_ports(2)
    texts = [CONFIG.format(port=p, ok=ok_port, bad=closer.port, silent=silent.port) for p in ports]
    procs = start_together((HAProxy.from_text(backend, "ok.cfg", binary=haproxy_bin),
                            HAProxy.from_text(texts[0], "logs.cfg", binary=haproxy_bin), Balancer.from_text(texts[1])))
    try:
        _, hx, lb = procs
        for port in ports:
            for path in CASES:
                request(port, path)
        lines = []
        for read in (lambda: hx.log_tail(200).splitlines(), lambda: lb.logs()[0]):
            deadline = time.monotonic() + 5
            while len(parse_logs(read())) < len(CASES) and time.monotonic() < deadline:
                time.sleep(0.05)
            lines.append(sorted(read(), key=_case_order))
        yield lines
    finally:
        for p in reversed(procs):
            p.stop()
        closer.close()
        silent.close()


def test_one_line_per_request_with_haproxys_status_and_flags(logged):
    hx_lines, en_lines = logged
    for lines in (hx_lines, en_lines):
        rows = parse_logs(lines)
        assert [(r["request"].split()[1], r["status"], r["term"]) for r in rows] == \
            [(p, s, t) for p, (s, t) in CASES.items()]


def test_every_field_but_ports_dates_and_timer_values_is_haproxys(logged):
    hx_rows, en_rows = (parse_logs(lines) for lines in logged)
    for want, got in zip(hx_rows, en_rows):
        for k in want:
            if k in VARY or (k == "bytes" and want["status"] == 200):
                continue  # a forwarded answer's size differs (the engine's headers: README, known differences)
            assert got[k] == want[k], (want["request"], k, got[k], want[k])
        # the same stages reached: -1 where haproxy says -1
        for t in ("TR", "Tw", "Tc", "Tr"):
            assert (got[t] < 0) == (want[t] < 0), (want["request"], t, got[t], want[t])
        assert got["Ta"] >= 0
    slow = [r for r in en_rows if r["status"] == 504][0]
    assert 950 <= slow["Ta"] <= 3000  # timeout server 1s


def test_raw_lines_have_haproxys_shape(logged):
    """Byte for byte, once the varying parts are masked."""
    import re

    def mask(line: str) -> str:
        line = re.sub(r":\d+ \[[^\]]+\]", ":PORT [DATE]", line)
        line = re.sub(r" -?\d+/-?\d+/-?\d+/-?\d+/-?\d+ (\d{3}) ", r" T/T/T/T/T \1 ", line)
        return re.sub(r" 200 \d+ ", " 200 B ", line)

    hx, en = ([mask(line) for line in lines if parse_httplog(line)] for lines in logged)
    # actconn counts every connection of the process; haproxy's own backend listener is in another one
    conns = re.compile(r" \d+/\d+/(\d+/\d+/\+?\d+) ")
    assert [conns.sub(r" N/N/\1 ", line) for line in en] == [conns.sub(r" N/N/\1 ", line) for line in hx]


EVENTS = LOGGED + """frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{dead} check inter 300 fall 1
"""


def test_health_events_reach_the_log_target_as_on_haproxy(haproxy_bin):
    """A server going DOWN and its backend left empty: the same two bare lines on the log target."""
    import re
    import socket as _socket

    dead = _socket.socket()  # bound, never listening: checks are refused
    dead.bind(("127.0.0.1", 0))
    ports = free_ports(2)
    texts = [EVENTS.format(port=p, dead=dead.getsockname()[1]) for p in ports]
    procs = start_together((HAProxy.from_text(texts[0], "ev.cfg", binary=haproxy_bin), Balancer.from_text(texts[1])))
    try:
        hx, lb = procs
        events = []
        for read in (lambda: hx.log_tail(50).splitlines(), lambda: lb.logs()[0]):
            deadline = time.monotonic() + 10
            while True:
                lines = [ln for ln in read() if ln.startswith(("Server ", "backend "))]
                if len(lines) >= 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            events.append([re.sub(r"check duration: \d+ms", "check duration: Nms", ln) for ln in lines[:2]])
        assert events[1] == events[0]
        assert events[0][1] == "backend be has no server available!"
    finally:
        for p in reversed(procs):
            p.stop()
        dead.close()


# ----- Tw: the time a request waited in a queue, measured the same way on both
class _Gate(RawListener):
    """A backend that answers 200 to each request only once ``gate`` is set; counts arrivals."""

    def __init__(self) -> None:
        self.gate, self.arrived = threading.Event(), 0
        super().__init__(backlog=16)

    def serve(self, conn) -> None:
        conn.settimeout(10)
        try:
            if conn.recv(65536):
                self.arrived += 1
                self.gate.wait(10)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        except OSError:
            pass
        conn.close()


QUEUE_CONFIG = LOGGED + """    timeout queue 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance {balance}
    server q1 127.0.0.1:{gate} maxconn 1
"""
HOLD_S = 0.4


def _queued_run(target, port: int, gate: _Gate, queued: int = 3) -> list[dict]:
    """Request /r0 takes the server's only slot and is held; /r1../rN wait in the backend's queue,
    each sent once the one before is in line; after HOLD_S all are released. Their log lines, parsed,
    in the order the requests were sent."""
    gate.gate.clear()
    gate.arrived = 0
    threads = [threading.Thread(target=request, args=(port, "/r0"))]
    threads[0].start()
    # each step its own deadline: on a busy machine one shared deadline ran out, and a request sent late
    # reached the queue after the hold (its Tw 11 ms)
    wait_until("/r0 at the server", lambda: gate.arrived >= 1, timeout=10)
    for k in range(1, queued + 1):
        threads.append(threading.Thread(target=request, args=(port, f"/r{k}")))
        threads[-1].start()
        wait_until(f"/r{k} in the queue", lambda k=k: _qcur(target) >= k, timeout=10)
    time.sleep(HOLD_S)  # the wait being measured: its length is the test's input, not a synchronisation
    gate.gate.set()
    for t in threads:
        t.join(10)
    wait_until("every request's log line", lambda: len(parse_logs(target.logs()[0])) >= queued + 1, timeout=10)
    return sorted(parse_logs(target.logs()[0])[-(queued + 1):], key=lambda r: r["request"].split()[1])


def _qcur(target) -> int:
    """Requests waiting in the backend's queue and in q1's."""
    return sum(r["qcur"] for r in parse_stat_csv(target.stats_csv()) if r["pxname"] == "be")


@pytest.mark.parametrize("balance, column", [("roundrobin", "backend_queue"), ("uri", "srv_queue")])
def test_tw_and_queue_positions_of_queued_requests(haproxy_bin, balance, column):
    """maxconn 1, one request holding the only slot and three waiting: in the backend's queue with
    roundrobin, in q1's own queue with a hash (the request is assigned to q1 first). On HAProxy and on
    the engine: the one that got in at once logs Tw 0 and queue positions 0/0; each waiting one logs Tw
    of about the time it waited (the hold, at least) and its place in line, 1, 2, 3, in that queue's
    column (HAProxy 2.6 counts the requests served from the queue between its arrival and its own
    turn, itself included: src/queue.c, pendconn_add and __pendconn_unlink_srv/_prx)."""
    gate = _Gate()
    ports = free_ports(2)
    texts = [QUEUE_CONFIG.format(port=p, gate=gate.port, balance=balance) for p in ports]
    procs = start_together((HAProxy.from_text(texts[0], "queue.cfg", binary=haproxy_bin),
                            Balancer.from_text(texts[1])))
    try:
        hx, lb = procs
        rows = {"haproxy": _queued_run(hx, ports[0], gate), "engine": _queued_run(lb, ports[1], gate)}
    finally:
        for p in reversed(procs):
            p.stop()
        gate.close()
    for side, lines in rows.items():
        assert [r["request"].split()[1] for r in lines] == ["/r0", "/r1", "/r2", "/r3"], side
        other = "srv_queue" if column == "backend_queue" else "backend_queue"
        assert [(r["status"], r[column], r[other]) for r in lines] == \
            [(200, 0, 0), (200, 1, 0), (200, 2, 0), (200, 3, 0)], (side, lines)
        assert lines[0]["Tw"] == 0, (side, lines[0])
        for r in lines[1:]:
            assert HOLD_S * 1000 - 20 <= r["Tw"] <= HOLD_S * 1000 + 3000, (side, r)
