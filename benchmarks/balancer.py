"""Requests per second and added latency: the course's engine next to real HAProxy, same config.

    .venv/bin/python benchmarks/balancer.py [seconds] [connections]

Two fast backends (real haproxy answering with ``http-request return``) sit behind a frontend run
first by real haproxy (one thread, like the engine's one event loop), then by the engine
(``python -m labsupport.balancer``). wrk measures each: throughput with N keep-alive connections,
and the median latency of one connection. Targets: >= 0.6x haproxy's req/s, <= 1 ms added p50.
Needs /usr/sbin/haproxy and wrk; prints figures, asserts nothing.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def wrk(url: str, seconds: int, connections: int) -> tuple[float, str]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1)
    return rps, p50


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    conns = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.access(haproxy, os.X_OK) or not shutil.which("wrk"):
        sys.exit("needs haproxy and wrk (sudo apt-get install haproxy wrk)")
    b1, b2, front = free_port(), free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="bench-lb-"))
    common = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
    (work / "backends.cfg").write_text(
        "global\n    nbthread 1\n" + common + f"listen app\n    bind 127.0.0.1:{b1}\n    bind 127.0.0.1:{b2}\n"
        '    http-request return status 200 content-type text/plain string "Hi!! from server"\n')
    lb_cfg = common + (f"frontend fe\n    bind 127.0.0.1:{front}\n    default_backend be\nbackend be\n"
                       f"    server s1 127.0.0.1:{b1}\n    server s2 127.0.0.1:{b2}\n")
    (work / "front.cfg").write_text("global\n    nbthread 1\n" + lb_cfg)
    (work / "engine.cfg").write_text(lb_cfg)
    procs = [subprocess.Popen([haproxy, "-db", "-f", str(work / "backends.cfg")], stderr=subprocess.DEVNULL)]
    try:
        wait_port(b1)
        direct = wrk(f"http://127.0.0.1:{b1}/", seconds, 1)[1]
        results = {}
        for name, cmd in (("haproxy", [haproxy, "-db", "-f", str(work / "front.cfg")]),
                          ("engine", [sys.executable, "-m", "labsupport.balancer", "-q", "-f", str(work / "engine.cfg")])):
            p = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.DEVNULL)
            try:
                wait_port(front)
                rps, _ = wrk(f"http://127.0.0.1:{front}/", seconds, conns)
                _, p50 = wrk(f"http://127.0.0.1:{front}/", seconds, 1)
                results[name] = (rps, p50)
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait(10)
            time.sleep(0.3)
        print(f"backend alone, 1 connection: p50 {direct}")
        for name, (rps, p50) in results.items():
            print(f"{name:8} {rps:10.0f} req/s with {conns} connections; p50 {p50} with 1 connection")
        (h_rps, h_p50), (e_rps, e_p50) = results["haproxy"], results["engine"]
        print(f"engine/haproxy throughput: {e_rps / h_rps:.2f}x (target >= 0.6x); "
              f"engine adds {to_ms(e_p50) - to_ms(direct):.3f} ms at p50 over the bare backend "
              f"(haproxy adds {to_ms(h_p50) - to_ms(direct):.3f} ms; target <= 1 ms)")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
