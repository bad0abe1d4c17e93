"""Lesson 06's algorithms under load, on the bundled engine and on real HAProxy, side by side.

    .venv/bin/python benchmarks/algorithms.py [SECONDS]      (default 6 s per measurement)

Four Flask servers in capacity mode (1 worker, 20 ms exponential service: about 50 requests/s each),
the last one made five times slower. For each algorithm, the same open-loop Poisson load (100
requests/s) goes through the engine, then through real HAProxy (same config text, same port):
p50, p99 and the share of requests each server took. Then the capacity sweep's highest rate (110 %
of 4 x 50 = 220 requests/s, all servers at normal speed): the CPU time each balancer spent per
request. Prints figures; asserts nothing.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labsupport.course.display.table import Table
from labsupport.course.fleet import Fleet, free_ports
from labsupport.course.haproxy import HAProxy, find_haproxy
from labsupport.engine.balancer import Balancer
from labsupport.lessons.load.experiments import PER_SERVER, SERVICE_MS, compare, lab_config
from labsupport.lessons.load.loadgen import cpu_seconds, open_loop

ALGORITHMS = ["roundrobin", "leastconn", "random(2)", "first", "source"]
RATE = 100.0


def cpu_per_request(ports: list[int], rate: float, seconds: float, real: bool) -> tuple[float, float]:
    """(CPU us per answered request, answered/s) of one balancer at ``rate`` (roundrobin, 4 servers)."""
    port = free_ports(1)[0]
    text = lab_config(ports, port=port)
    lb = HAProxy.from_text(text, "bench.cfg").start() if real else Balancer.from_text(text).start()
    try:
        pid = lb.pid if real else None
        c0 = cpu_seconds(pid)
        run = open_loop(f"http://127.0.0.1:{port}/", rate, seconds, seed=2, timeout=10, progress=False)
        cpu = cpu_seconds(pid) - c0
    finally:
        lb.stop()
    answered = int(run.ok.sum())
    return (cpu / answered * 1e6 if answered else float("nan")), run.throughput


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
    real = find_haproxy() is not None
    with Fleet() as fleet:
        ports = fleet.start(count=4, workers=1, service_ms=SERVICE_MS, service_dist="exp")
        fleet.slow_down(ports[-1], 5)
        port = free_ports(1)[0]
        rows = []
        for algo in ALGORITHMS:
            for maxconn in (None, 1):
                label = algo + (" maxconn 1" if maxconn else "")
                e, _ = compare(ports, [algo], RATE, seconds, maxconn=maxconn, port=port)
                rows.append({"balancer": "engine", **e[0], "algorithm": label})
                if real:
                    h, _ = compare(ports, [algo], RATE, seconds, maxconn=maxconn, port=port,
                                   runner=lambda t: HAProxy.from_text(t, "bench.cfg").start())
                    rows.append({"balancer": "HAProxy", **h[0], "algorithm": label})
        for r in rows:
            r.pop("qmax backend", None)
            r.pop("qmax s4", None)
        print(f"One slow server (s4 x5; capacity 50+50+50+10 = 160/s), {RATE:g} requests/s Poisson, "
              f"{seconds:g} s each:")
        print(Table(rows))
        fleet.slow_down(ports[-1], 1)
        top = 1.1 * 4 * PER_SERVER
        cpu_rows = []
        for name, is_real in (("engine", False), ("HAProxy", True)):
            if is_real and not real:
                continue
            us, tput = cpu_per_request(ports, top, seconds, is_real)
            cpu_rows.append({"balancer": name, "offered/s": round(top), "answered/s": round(tput, 1),
                             "CPU us/request": round(us), "CPU share of one core": f"{us * tput / 1e6:.1%}"})
        print(f"\nThe sweep's highest rate ({top:g} requests/s, roundrobin over 4 servers), CPU per request:")
        print(Table(cpu_rows))
        if not real:
            print("\n(real HAProxy is not installed: engine only)")
    return 0


if __name__ == "__main__":
    t0 = time.monotonic()
    code = main()
    print(f"\n({time.monotonic() - t0:.0f} s)")
    sys.exit(code)
