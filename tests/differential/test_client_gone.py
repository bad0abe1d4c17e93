"""Clients that close, half-close, stall or send garbage before a request is complete: what the engine
answers, counts and logs, against real HAProxy 2.6 (its H1 mux answers these itself: 400 or 408,
pages counted in neither ``bout`` nor the log's bytes, ``<BADREQ>`` lines, and ``option dontlognull``
leaving out connections that sent nothing).
"""
from __future__ import annotations

import socket
import threading
import time

from support.gate import Gate
from support.procs import start_together

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.course.logtable import parse_logs

REQ = b"GET /x HTTP/1.1\r\nHost: lab\r\n\r\n"
HOLD = 0.3  # seconds a client keeps its connection before closing it (its own behaviour, not a wait)


def config(ports: dict[str, int], backend: int) -> str:
    return ("global\n    log stdout format raw local0\ndefaults\n    mode http\n    log global\n    option httplog\n"
            "    timeout connect 1s\n    timeout client 500ms\n    timeout server 1s\n"
            f"frontend f\n    bind 127.0.0.1:{ports['f']}\n    default_backend b\n"
            f"frontend fn\n    bind 127.0.0.1:{ports['fn']}\n    option dontlognull\n    default_backend b\n"
            f"backend b\n    server s1 127.0.0.1:{backend}\n")


def head(s: socket.socket) -> bytes:
    """The status line of what comes back (b'' when the connection just closes)."""
    s.settimeout(3)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data.split(b"\r\n", 1)[0]


def clients(port: int) -> list[bytes]:
    """Eight clients, one after the other; what each one received."""
    seen = []

    def conn() -> socket.socket:
        return socket.create_connection(("127.0.0.1", port), 3)

    with conn() as s:  # connects and closes without a byte
        time.sleep(HOLD)
    with conn() as s:  # half a request, then close
        s.sendall(b"GET /a HT")
        time.sleep(HOLD)
    with conn() as s:  # a request answered, then half a second one, then close
        s.sendall(REQ)
        seen.append(head(s))
        s.sendall(b"GET /b HT")
        time.sleep(HOLD)
    with conn() as s:  # half-closes without a byte: HAProxy still answers it
        s.shutdown(socket.SHUT_WR)
        seen.append(head(s))
    with conn() as s:  # garbage
        s.sendall(b"BLAH BLAH\r\n\r\n")
        seen.append(head(s))
    with conn() as s:  # a Transfer-Encoding HAProxy refuses: 422
        s.sendall(b"POST / HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
        seen.append(head(s))
    with conn() as s:  # says nothing until timeout client (500 ms)
        seen.append(head(s))
    with conn() as s:  # a request answered, then idle until the keep-alive ends: no line
        s.sendall(REQ)
        seen.append(head(s))
        seen.append(head(s))
    return seen


def test_clients_that_give_up_are_answered_counted_and_logged_as_haproxy_does(haproxy_bin):
    gates = [Gate("s1", [], threading.Lock(), hold=False) for _ in range(2)]
    ports = [{"f": a, "fn": b} for a, b in zip(*[iter(free_ports(4))] * 2)]
    procs = start_together((HAProxy.from_text(config(ports[0], gates[0].port), "gone.cfg", binary=haproxy_bin),
                            Balancer.from_text(config(ports[1], gates[1].port))))
    try:
        results = []
        for proc, side in zip(procs, ports):
            seen = {name: clients(port) for name, port in side.items()}
            deadline = time.monotonic() + 5
            while len(parse_logs(proc.logs()[0])) < 13 and time.monotonic() < deadline:  # 8 + 5 lines
                time.sleep(0.05)
            rows = [(r["frontend"], r["server"], r["status"], r["bytes"] if r["status"] >= 400 else None, r["term"],
                     r["request"], tuple(r[t] < 0 for t in ("TR", "Tw", "Tc", "Tr")), r["Ta"] >= HOLD * 500)
                    for r in parse_logs(proc.logs()[0])]
            counts = {r["pxname"]: {k: r[k] for k in ("req_tot", "ereq", "hrsp_2xx", "hrsp_4xx")}
                      for r in parse_stat_csv(proc.stats_csv()) if r["svname"] == "FRONTEND"}
            results.append((seen, sorted(rows), counts))
    finally:
        for proc in procs:
            proc.stop()
        for g in gates:
            g.close()
    (hseen, hrows, hcounts), (eseen, erows, ecounts) = results
    assert eseen == hseen
    assert erows == hrows
    assert ecounts == hcounts
    # the oracle, as tests/vectors/health-and-errors.md records it
    assert hseen["f"] == [b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad request", b"HTTP/1.1 400 Bad request",
                          b"HTTP/1.1 422 Unprocessable Content", b"HTTP/1.1 408 Request Time-out",
                          b"HTTP/1.1 200 OK", b""]
    assert hcounts["f"] == {"req_tot": 9, "ereq": 7, "hrsp_2xx": 2, "hrsp_4xx": 7}  # 2 answered, 7 refused
    terms = [(r[0], r[4]) for r in hrows if r[2] >= 400]
    assert sorted(terms) == sorted([("f", "CR--")] * 4 + [("f", "PR--")] * 2 + [("f", "cR--")]
                                   + [("fn", "CR--")] * 2 + [("fn", "PR--")] * 2)  # dontlognull: not the silent ones
