"""Queries per second the lab DNS server answers over UDP, with latency percentiles.

    .venv/bin/python benchmarks/dns_queries.py [seconds] [concurrency]

The server runs in this process (its own thread, as in a notebook); the clients run in a separate
process, so they do not share the server's GIL. Each client socket keeps one query in flight
(a mix of plain, EDNS and client-subnet queries for shop.lab) and checks every answer's id,
status and record count. Run once with the answer cache (the default) and once without.
Target: >= 5,000 queries/s on a 2-core machine.
"""
from __future__ import annotations

import json
import selectors
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def client(host: str, port: int, seconds: float, concurrency: int) -> None:
    """Send queries as fast as answers come back; print a JSON summary."""
    import dns.edns
    import dns.message

    queries = [dns.message.make_query("shop.lab", "A").to_wire(),
               dns.message.make_query("shop.lab", "A", use_edns=0, payload=1232).to_wire(),
               dns.message.make_query("shop.lab", "A", options=[dns.edns.ECSOption("127.0.1.0", 24)]).to_wire()]
    sel = selectors.DefaultSelector()
    socks, sent_at, next_id = [], {}, 1
    lat: list[float] = []
    bad = lost = 0

    def send(s: socket.socket) -> None:
        nonlocal next_id
        next_id = next_id % 65535 + 1
        wire = next_id.to_bytes(2, "big") + queries[next_id % len(queries)][2:]
        sent_at[s] = (next_id, time.perf_counter())
        s.send(wire)

    for _ in range(concurrency):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((host, port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    end = time.perf_counter() + seconds
    for s in socks:
        send(s)
    while time.perf_counter() < end:
        events = sel.select(timeout=0.5)
        now = time.perf_counter()
        if not events:  # a datagram lost somewhere: resend on every idle socket
            for s in socks:
                lost += 1
                send(s)
            continue
        for key, _ in events:
            s = key.fileobj
            reply = s.recv(4096)
            qid, t0 = sent_at[s]
            # id echoed, QR set, NOERROR, three answers
            if int.from_bytes(reply[:2], "big") != qid or not reply[2] & 0x80 or reply[3] & 0xF or reply[6:8] != b"\x00\x03":
                bad += 1
            lat.append(now - t0)
            send(s)
    print(json.dumps({"answered": len(lat), "seconds": seconds, "bad": bad, "lost": lost,
                      "lat_ms": [x * 1000 for x in lat]}))


def run(seconds: float, concurrency: int, cache: bool) -> None:
    from labsupport.course.dnsserver import DNSServer

    with DNSServer(cache=cache) as server:
        out = subprocess.run([sys.executable, __file__, "--client", server.host, str(server.port),
                              str(seconds), str(concurrency)], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    lat = sorted(r["lat_ms"])
    q = statistics.quantiles(lat, n=100)
    print(f"{'answer cache on ' if cache else 'answer cache off'}: {r['answered'] / r['seconds']:8,.0f} queries/s "
          f"({concurrency} clients, {seconds:g} s)   latency p50 {q[49]:.2f} ms  p90 {q[89]:.2f} ms  "
          f"p99 {q[98]:.2f} ms  max {lat[-1]:.2f} ms   wrong answers {r['bad']}, lost {r['lost']}")


def main() -> None:
    if sys.argv[1:2] == ["--client"]:
        host, port, seconds, concurrency = sys.argv[2:6]
        client(host, int(port), float(seconds), int(concurrency))
        return
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    print("lab DNS server over UDP (target: >= 5,000 queries/s on 2 cores)")
    run(seconds, concurrency, cache=True)
    run(seconds, concurrency, cache=False)


if __name__ == "__main__":
    main()
