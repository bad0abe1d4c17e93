"""Retries, redispatch and maxqueue: the engine against real HAProxy 2.6, log line by log line.

One haproxy and one engine run the same config (one frontend/backend pair per scenario). Servers
are "dead" (a port nobody listens on: every connection is refused), "live" (answers at once) or,
for maxqueue, "gated" (holds each request until the test releases it). For every request the
test compares what HAProxy's log says of it: the server named, the status, the termination flags,
the retries (with "+" after a redispatch), which timers were reached, and whether the request
waited for the pause HAProxy makes before retrying the same server (min(timeout connect, 1 s));
then the stats counters of each server and backend.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest
from support.gate import Gate
from support.procs import start_together

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.course.logtable import parse_logs
from labsupport.errors import PortInUseError, ServerStartError

PAUSE_MS = 600  # timeout connect: a retry on the same server waits this long after a refusal
DEFAULTS = f"""global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect {PAUSE_MS}ms
    timeout client 10s
    timeout server 10s
    timeout queue 10s
"""
# name -> backend lines; {d1} {d2}: dead servers, {l1} {l2}: live ones, {g1}: a gated one
SCENARIOS = {
    # rr / leastconn with option redispatch: every retry chooses again at once, avoiding the server
    # that failed; the second choice fails too, the third answers: "+2", no pause
    "rr_two_dead": ["balance roundrobin", "option redispatch", "retries 3",
                    "server s1 {d1}", "server s2 {d2}", "server s3 {l1}"],
    "lc_two_dead": ["balance leastconn", "option redispatch", "retries 3",
                    "server s1 {d1}", "server s2 {d2}", "server s3 {l1}"],
    # the heavy server is dead: without 'avoid', roundrobin would pick it again and again
    "heavy_dead": ["balance roundrobin", "option redispatch", "retries 3",
                   "server s1 {d1} weight 3", "server s2 {l1}"],
    "first_dead": ["balance first", "option redispatch", "retries 2", "server s1 {d1}", "server s2 {l1}"],
    "static_dead": ["balance static-rr", "option redispatch", "retries 2",
                    "server s1 {d1} weight 2", "server s2 {l1}"],
    # no redispatch: the same server, a pause before each retry, then 503 naming it
    "no_redisp": ["balance roundrobin", "retries 2", "server s1 {d1}", "server s2 {l1}"],
    # a hash algorithm retries the same server and redispatches only on the last retry
    "hash_dead": ["balance uri", "hash-type consistent", "option redispatch", "retries 2",
                  "server s1 {d1}", "server s2 {d2}"],
    # 'option redispatch 1': every retry is a redispatch; alone, it pauses anyway
    "every_retry": ["balance roundrobin", "option redispatch 1", "retries 2", "server s1 {d1}"],
    # maxqueue: one request served, one queued, the next two refused at once (503 SQ)
    "maxqueue": ["balance uri", "server s1 {g1} maxconn 1 maxqueue 1"],
    # odd values HAProxy accepts without a word: a u32 in the stats, 0 (no limit) for a non-number
    "odd_maxqueue": ["balance leastconn", "server s1 {l1} maxconn 3 maxqueue -5", "server s2 {l2} maxqueue abc"],
}
REQUESTS = {"rr_two_dead": 3, "lc_two_dead": 3, "heavy_dead": 3, "first_dead": 2, "static_dead": 3,
            "no_redisp": 2, "hash_dead": 2, "every_retry": 1}
COUNTERS = ("econ", "wretr", "wredis", "lbtot", "stot", "qlimit", "hrsp_5xx", "hrsp_2xx")


class Live(Gate):
    def __init__(self) -> None:
        super().__init__("live", [], threading.Lock(), hold=False)


class Side:
    def __init__(self, name: str) -> None:
        self.name, self.target, self.ports, self.gates = name, None, {}, []

    def build(self, dead: list[int]) -> str:
        text = DEFAULTS
        for key, lines in SCENARIOS.items():
            subst = {"d1": f"127.0.0.1:{dead[0]}", "d2": f"127.0.0.1:{dead[1]}"}
            for slot in ("l1", "l2", "g1"):
                if "{" + slot + "}" in "".join(lines):
                    g = Live() if slot[0] == "l" else Gate("s1", [], threading.Lock())
                    self.gates.append(g)
                    subst[slot] = f"127.0.0.1:{g.port}"
                    if slot == "g1":
                        self.gate = g
            text += (f"frontend f_{key}\n    bind 127.0.0.1:{self.ports[key]}\n    default_backend b_{key}\n"
                     f"backend b_{key}\n" + "".join(f"    {line.format(**subst)}\n" for line in lines))
        return text

    def get(self, key: str, path: str = "/") -> int:
        with socket.create_connection(("127.0.0.1", self.ports[key]), 10) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return int(data.split(b" ", 2)[1])

    def log_rows(self, n: int) -> list[dict]:
        """The first ``n`` parsed log lines (waiting for them)."""
        read = (lambda: self.target.log_tail(500).splitlines()) if isinstance(self.target, HAProxy) \
            else (lambda: self.target.logs()[0])
        deadline = time.monotonic() + 10
        while len(rows := parse_logs(read())) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return rows

    def counters(self, key: str) -> dict[str, dict]:
        return {r["svname"]: {c: r[c] for c in COUNTERS}
                for r in parse_stat_csv(self.target.stats_csv()) if r["pxname"] == f"b_{key}"}


@pytest.fixture(scope="module")
def ran(haproxy_bin):
    """Every scenario's requests sent through both (one thread per side): log rows and counters."""
    hx, lb = Side("haproxy"), Side("engine")
    started: list = []
    try:
        for attempt in range(3):
            dead = free_ports(2)  # nothing listens there: refused at once
            ports = free_ports(2 * len(SCENARIOS))
            hx.ports, lb.ports = dict(zip(SCENARIOS, ports[0::2])), dict(zip(SCENARIOS, ports[1::2]))
            try:
                started = start_together((HAProxy.from_text(hx.build(dead), "retries.cfg", binary=haproxy_bin),
                                          Balancer.from_text(lb.build(dead))))
                break
            except (PortInUseError, ServerStartError):
                for g in hx.gates + lb.gates:
                    g.close()
                hx.gates, lb.gates = [], []
                if attempt == 2:
                    raise
        hx.target, lb.target = started
        results: dict = {}

        def run(side: Side) -> None:
            statuses: dict = {}
            try:
                for key, n in REQUESTS.items():
                    statuses[key] = [side.get(key) for _ in range(n)]
                statuses["maxqueue"] = maxqueue(side)
            except (OSError, ValueError, IndexError) as e:  # no answer, or not HTTP: the scenario says which
                statuses[key if "maxqueue" not in statuses else "maxqueue"] = f"{type(e).__name__}: {e}"
            total = sum(len(v) for v in statuses.values() if isinstance(v, list))
            results[side.name] = (statuses, side.log_rows(total), {k: side.counters(k) for k in SCENARIOS})

        threads = [threading.Thread(target=run, args=(s,)) for s in (hx, lb)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        yield results
    finally:
        for proc in reversed(started):
            proc.stop()
        for g in hx.gates + lb.gates:
            g.stopping.set()
            g.release_all()
        for g in hx.gates + lb.gates:
            g.close()


def maxqueue(side: Side) -> list[int]:
    """Four requests for one URI on a server with maxconn 1 and maxqueue 1; the statuses in order of
    sending: the served and the queued one answer after the release, the last two at once."""
    out: dict = {}

    def send(i: int) -> threading.Thread:
        t = threading.Thread(target=lambda: out.__setitem__(i, side.get("maxqueue", "/k")), daemon=True)
        t.start()
        return t

    threads = [send(0)]
    deadline = time.monotonic() + 10
    while not side.gate.held() and time.monotonic() < deadline:
        time.sleep(0.005)
    threads.append(send(1))
    while qcur(side) < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    refused = [side.get("maxqueue", "/k") for _ in range(2)]  # queue full: answered at once
    side.gate.release()
    side.gate.release()
    for t in threads:
        t.join(10)
    return [out.get(0), out.get(1)] + refused


def qcur(side: Side) -> int:
    rows = [r for r in parse_stat_csv(side.target.stats_csv()) if r["pxname"] == "b_maxqueue" and r["svname"] == "s1"]
    return rows[0]["qcur"] if rows else 0


def summary(row: dict) -> tuple:
    """What must agree: backend, server, status, flags, retries, timers reached, a pause or not."""
    return (row["backend"], row["server"], row["status"], row["term"],
            ("+" if row["redispatched"] else "") + str(row["retries"]),
            row["Tw"] >= 0, row["Tc"] >= 0, row["Ta"] >= PAUSE_MS // 2)


def test_every_request_ends_as_on_haproxy(ran):
    (hs, _, _), (es, _, _) = ran["haproxy"], ran["engine"]
    assert es == hs
    # the oracle did what the scenarios say
    assert hs["rr_two_dead"] == hs["lc_two_dead"] == hs["heavy_dead"] == [200, 200, 200]
    assert hs["no_redisp"] == [503, 200] and hs["hash_dead"] == [503, 503]
    assert hs["maxqueue"] == [200, 200, 503, 503]


def test_every_log_line_says_what_haproxys_says(ran):
    (_, hrows, _), (_, erows, _) = ran["haproxy"], ran["engine"]
    assert len(erows) == len(hrows)
    for want, got in zip(hrows, erows):
        assert summary(got) == summary(want), (want["backend"], summary(want), summary(got))
    by = {r["backend"]: [] for r in hrows}
    for r in hrows:
        by[r["backend"]].append(summary(r))
    # spot checks on the oracle, so a change in HAProxy's behaviour is noticed here
    assert by["b_rr_two_dead"][0][1:5] == ("s3", 200, "----", "+2") and not by["b_rr_two_dead"][0][7]
    assert by["b_heavy_dead"][0][1:5] == ("s2", 200, "----", "+1")
    assert by["b_no_redisp"][0][1:5] == ("s1", 503, "SC--", "2") and by["b_no_redisp"][0][7]
    assert by["b_hash_dead"][0][2:5] == (503, "SC--", "+2")  # the last retry went to the other server
    for rows in (hrows, erows):  # Tw runs to the last assignment: after the pause, on the redispatch
        assert [r["Tw"] >= PAUSE_MS // 2 for r in rows if r["backend"] == "b_hash_dead"] == [True, True]
    assert [s[3] for s in by["b_maxqueue"]] == ["SQ--", "SQ--", "----", "----"]
    assert by["b_maxqueue"][0][1] == "s1" and not by["b_maxqueue"][0][5]  # Tw -1: never queued


def test_counters_are_haproxys(ran):
    (_, _, hc), (_, _, ec) = ran["haproxy"], ran["engine"]
    for key in SCENARIOS:
        assert ec[key] == hc[key], (key, hc[key], ec[key])
    assert hc["maxqueue"]["s1"]["qlimit"] == 1 and hc["maxqueue"]["s1"]["econ"] == 2
    assert hc["odd_maxqueue"]["s1"]["qlimit"] == 4294967291 and hc["odd_maxqueue"]["s2"]["qlimit"] is None
