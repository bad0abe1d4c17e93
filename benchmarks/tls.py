"""What TLS costs at the edge: requests/s and the balancer's CPU per request, engine against HAProxy.

    .venv/bin/python benchmarks/tls.py [--seconds 3] [--clients 2] [--repeat 2] [--key ec|rsa]

Three ways a client can talk HTTPS to the balancer:
  new        a new TLS connection (full handshake) for every request
  keepalive  one TLS connection, request after request
  resume     a new connection for every request, resuming the previous TLS session (a TLSv1.3 ticket)
and plain HTTP, new connection per request, for scale. The balancer terminates TLS (a P-256 certificate
from the lab CA, or RSA 2048 with ``--key rsa``: signing with it is what makes a full handshake dear,
and a resumed one, which signs nothing, cheaper; TLSv1.3 resumption still does an ECDHE exchange, so with
P-256 the two cost about the same) and forwards in clear to a backend answering at once (a real haproxy with
``http-request return``), so the balancer is what is measured. Each balancer runs in its own process:
the engine as ``python -m labsupport.balancer -q -f``, HAProxy with ``nbthread 1``. Clients are
``--clients`` processes of Python's ssl, one request at a time each, so requests/s is bounded by the
clients on a small machine; CPU per request (the balancer process's user+system time over the requests
answered) is the figure to compare. Best of ``--repeat`` rounds. Needs /usr/sbin/haproxy. Prints figures;
asserts nothing.
"""
from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from proxy import stop, wait_port  # noqa: E402

from labsupport.course.certs import LabCA  # noqa: E402
from labsupport.course.cputime import cpu_seconds  # noqa: E402
from labsupport.lessons.edge.tlscost import client as tls_client  # noqa: E402
from labsupport.ports import free_ports  # noqa: E402

DEFAULTS = "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n"
MODES = ("plain", "new", "keepalive", "resume")


def client(port: int, mode: str, ca_file: str, seconds: float, out) -> None:
    """Send requests one at a time for ``seconds`` (lesson 07's client); put the number answered on ``out``."""
    out.put(tls_client(port, mode, ca_file, seconds, host="web.lab")[0])


def run(port: int, pid: int, mode: str, ca_file: str, seconds: float, clients: int) -> tuple[float, float]:
    """(requests/s, balancer CPU microseconds per request) for one mode."""
    q: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client, args=(port, mode, ca_file, seconds, q)) for _ in range(clients)]
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic()
    for p in procs:
        p.start()
    total = sum(q.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    wall = time.monotonic() - t0
    return total / wall, (cpu_seconds(pid) - cpu0) / max(total, 1) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--key", choices=("ec", "rsa"), default="ec", help="the certificate's key type")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lab-tls-bench-") as tmp:
        work = Path(tmp)
        ca = LabCA(work)
        pem = ca.bundle("web.lab", folder=work, key_type=args.key)
        back, eng_tls, eng_plain, hap_tls, hap_plain = free_ports(5)
        (work / "back.cfg").write_text(
            "global\n    nbthread 1\n" + DEFAULTS + f"frontend back\n    bind 127.0.0.1:{back}\n"
            "    http-request return status 200 content-type text/plain string ok\n")
        for name, tls_port, plain_port, glob in (("engine", eng_tls, eng_plain, ""),
                                                 ("haproxy", hap_tls, hap_plain, "global\n    nbthread 1\n")):
            (work / f"{name}.cfg").write_text(
                glob + DEFAULTS + f"frontend fe\n    bind 127.0.0.1:{tls_port} ssl crt {pem} alpn http/1.1\n"
                f"    bind 127.0.0.1:{plain_port}\n    default_backend be\n"
                f"backend be\n    server s1 127.0.0.1:{back}\n")
        backend = subprocess.Popen(["/usr/sbin/haproxy", "-db", "-f", str(work / "back.cfg")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(back, backend)
        targets = {"engine": ([sys.executable, "-m", "labsupport.balancer", "-q", "-f", str(work / "engine.cfg")],
                              eng_tls, eng_plain),
                   "haproxy": (["/usr/sbin/haproxy", "-db", "-f", str(work / "haproxy.cfg")], hap_tls, hap_plain)}
        best: dict[tuple[str, str], tuple[float, float]] = {}
        try:
            for k in range(args.repeat):
                for name in (targets if k % 2 == 0 else list(targets)[::-1]):
                    cmd, tls_port, plain_port = targets[name]
                    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    try:
                        wait_port(tls_port, proc)
                        for mode in MODES:
                            rps, cpu = run(plain_port if mode == "plain" else tls_port, proc.pid, mode,
                                           str(ca.ca_file), args.seconds, args.clients)
                            old = best.get((name, mode))
                            best[(name, mode)] = (max(rps, old[0]), min(cpu, old[1])) if old else (rps, cpu)
                    finally:
                        stop(proc)
        finally:
            stop(backend)
    print(f"TLS at the edge ({args.key} key): {args.clients} client processes, {args.seconds:g} s per run, "
          f"best of {args.repeat}")
    print(f"{'mode':<11}{'engine req/s':>14}{'CPU us/req':>12}{'haproxy req/s':>15}{'CPU us/req':>12}"
          f"{'CPU ratio':>11}")
    for mode in MODES:
        e, h = best[("engine", mode)], best[("haproxy", mode)]
        print(f"{mode:<11}{e[0]:>14.0f}{e[1]:>12.0f}{h[0]:>15.0f}{h[1]:>12.0f}{e[1] / max(h[1], 1e-9):>10.1f}x")


if __name__ == "__main__":
    main()
