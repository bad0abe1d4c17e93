"""Queues on the engine alone: what a reload does to the requests waiting in a removed server's queue
(the queues compared with real HAProxy are in tests/differential/test_queues.py)."""
from __future__ import annotations

import threading
import time

from support.gate import Gate, send

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports

DEFAULTS = ("global\n    maxconn 500\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n"
            "    timeout server 30s\n    timeout queue 20s\n")


def test_engine_reload_sends_a_removed_servers_queue_back_to_the_algorithm():
    """Engine only (a reload is the engine's own runtime action): a request waiting in the queue of a
    server that a reload removes is balanced again among the servers that remain."""
    arrivals: list = []
    lock = threading.Lock()
    g1, g2 = Gate("s1", arrivals, lock), Gate("s2", arrivals, lock, hold=False)
    port = free_ports(1)[0]
    head = DEFAULTS + f"frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\nbackend b\n    balance uri\n"
    lb = Balancer.from_text(head + f"    server s1 127.0.0.1:{g1.port} maxconn 1\n").start()
    try:
        out: dict = {}
        first = send(port, "/a", out, 0)
        deadline = time.monotonic() + 10
        while len(arrivals) < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        second = send(port, "/a", out, 1)
        while lb.snapshot().server("b", "s1")["qcur"] < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        lb.reload(head + f"    server s2 127.0.0.1:{g2.port}\n")
        second.join(10)
        g1.release_all()
        first.join(10)
        assert out == {0: "s1 /a", 1: "s2 /a"}
    finally:
        lb.stop()
        for g in (g1, g2):
            g.release_all()
            g.close()
