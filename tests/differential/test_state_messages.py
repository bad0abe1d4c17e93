"""The lines a server's state changes write, and where its queued requests go: the engine against
real HAProxy 2.6 (src/server.c srv_update_status and srv_append_status, src/queue.c).

The same runtime commands go to both (``set server ... state|health|weight``, ``enable``/``disable``);
the event lines must be the same text, the pid aside, and requests waiting in the backend's queue
must go where HAProxy sends them, with the queue positions HAProxy logs.
"""
from __future__ import annotations

import threading
import time

import pytest
from support.gate import Gate, send
from support.httplog import LOGGED
from support.procs import start_together

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.course.logtable import parse_logs

HEAD = LOGGED + "    timeout queue 10s\n"
# runtime commands, in order: an active and a backup server through maintenance, drain and forced health
STEPS = ["disable server b/s2", "enable server b/s2", "set server b/s1 state drain", "set server b/s1 state ready",
         "set server b/s1 state maint", "set server b/s1 state drain", "set server b/s1 state ready",
         "set server b/s2 health down", "set server b/s1 health down", "set server b/s2 health up",
         "set server b/s1 health up", "set server b/s1 health stopping", "set server b/s1 health up",
         "set server b/s2 health down", "disable server b/s2", "enable server b/s2"]


def start_both(haproxy_bin: str, backend: str, gates: dict) -> list:
    """One haproxy and one engine, each on its own port with its own gates (``gates``: name -> hold)."""
    made = []
    for _ in range(2):
        arrivals: list = []  # (server, path) as the gates receive them
        lock = threading.Lock()
        side = {name: Gate(name, arrivals, lock, hold) for name, hold in gates.items()}
        port = free_ports(1)[0]
        text = (HEAD + f"frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\nbackend b\n"
                + backend.format(**{name: f"127.0.0.1:{g.port}" for name, g in side.items()}))
        made.append((text, port, side))
    procs = start_together((HAProxy.from_text(made[0][0], "states.cfg", binary=haproxy_bin),
                            Balancer.from_text(made[1][0])))
    return [(proc, port, side) for proc, (_, port, side) in zip(procs, made)]


def stop_both(started: list) -> None:
    for proc, _, side in started:
        proc.stop()
        for g in side.values():
            g.stopping.set()
            g.release_all()
            g.close()


def events(proc) -> list[str]:
    """Its warning and alert lines, without the '[WARNING]  (pid) : ' prefix."""
    return [line.split(" : ", 1)[-1] for line in proc.events()[0] if "Server " in line or "backend " in line]


def test_state_change_lines_are_haproxys(haproxy_bin):
    started = start_both(haproxy_bin, "    server s1 {s1} check inter 60s\n    server s2 {s2} check inter 60s backup\n",
                         {"s1": False, "s2": False})
    try:
        lines = []
        for proc, _, _ in started:
            for step in STEPS:
                proc.command(step)
            deadline = time.monotonic() + 5  # each command writes at least one line
            while len(events(proc)) < len(STEPS) and time.monotonic() < deadline:
                time.sleep(0.05)
            lines.append(events(proc))
    finally:
        stop_both(started)
    want, got = lines
    assert got == want
    assert "Backup Server b/s2 is going DOWN for maintenance. 1 active and 0 backup servers left. 0 sessions " \
           "active, 0 requeued, 0 remaining in queue." in want  # the oracle, as tests/vectors says
    assert "Server b/s1 enters drain state. 0 active and 1 backup servers online. Running on backup. " \
           "0 sessions requeued, 0 total in queue." in want
    assert "Backup Server b/s2 was DOWN and now enters maintenance." in want  # no counts then


def queued(proc) -> int:
    rows = [r for r in parse_stat_csv(proc.stats_csv()) if r["pxname"] == "b" and r["svname"] == "BACKEND"]
    return rows[0]["qcur"] if rows else 0


def run_queue(proc, port: int, side: dict, change: str) -> tuple[list, list[str]]:
    """s1 holds /r1 and /r2../r5 wait in the backend's queue; ``change`` happens; then the servers
    answer one at a time, each answer letting the next waiting request in before the next answer.
    Returns (path, server, bq) of each request as the log says, and the event lines."""
    out: dict = {}
    threads = [send(port, "/r1", out, 1)]
    deadline = time.monotonic() + 10
    while not side["s1"].held() and time.monotonic() < deadline:
        time.sleep(0.005)
    for i in (2, 3, 4, 5):
        threads.append(send(port, f"/r{i}", out, i))
        while queued(proc) < i - 1 and time.monotonic() < deadline:
            time.sleep(0.005)
    arrivals = side["s1"].arrivals
    proc.command(change)
    if change.startswith("enable"):  # the server that came back takes /r2 at once
        while len(arrivals) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
    else:
        time.sleep(0.3)  # a weight change lets nothing in: give a wrong engine the time to show it
    for k in range(10):
        holders = [name for name in ("s1", "s2") if side[name].held()]
        if not holders:
            break
        waiting, expected = queued(proc), len(arrivals)
        side[holders[k % len(holders)]].release()
        if waiting:  # the freed slot takes the oldest waiting request: wait until it has arrived
            while len(arrivals) <= expected and time.monotonic() < deadline:
                time.sleep(0.005)
    for t in threads:
        t.join(10)
    deadline = time.monotonic() + 5
    while len(rows := parse_logs(proc.logs()[0])) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted((r["request"].split()[1], r["server"], r["backend_queue"]) for r in rows), events(proc)


@pytest.mark.parametrize("start,change", [("disabled", "enable server b/s2"),  # pendconn_grab_from_px
                                          ("weight 0", "set server b/s2 weight 1")])  # nothing moves
def test_queued_requests_go_where_haproxy_sends_them(haproxy_bin, start, change):
    """A server coming back takes the oldest waiting requests at once, and the backend queue's index
    does not move for them (the positions logged after count as if they had not been served); a
    server whose weight comes back takes nothing from the queue: it waits for a connection to end."""
    started = start_both(haproxy_bin, f"    server s1 {{s1}} maxconn 1\n    server s2 {{s2}} maxconn 1 {start}\n",
                         {"s1": True, "s2": True})
    try:
        results = [run_queue(proc, port, side, change) for proc, port, side in started]
    finally:
        stop_both(started)
    (want, want_lines), (got, got_lines) = results
    assert got == want and got_lines == want_lines
    servers = {path: server for path, server, _ in want}
    if start == "disabled":  # the oracle: s2 took /r2 at once; /r3 then logs position 1, not 2
        assert servers["/r2"] == "s2" and ("/r3", "s1", 1) in want
    else:
        assert set(servers.values()) == {"s1"}
