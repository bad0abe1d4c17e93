"""Lesson 07, part B: what TLS costs a balancer, measured: requests per second and CPU per request.

    cost = tls_cost(ca.ca_file, engine=lb, haproxy=hx)   -> Table (one row per way of connecting)
    tls_cost_figure(cost)                                -> a bar chart of the CPU per request

Three ways a client can talk HTTPS to the balancer, each measured for ``seconds`` by a client process of
its own that sends one request at a time:

  new connection    a full TLS handshake for every request
  keep-alive        one TLS connection, request after request
  resumed session   a new connection for every request, resuming the previous TLS session (a TLSv1.3
                    ticket): no certificate is sent or signed

CPU per request is the balancer process's user + system time over the requests answered: HAProxy's own
process (``hx.pid``), and for the engine, which runs inside this notebook's kernel, the kernel's process
(the kernel only waits for the client meanwhile, so the time is the engine's). The client runs as
``python -m labsupport.lessons.edge.tlscost PORT MODE CAFILE SECONDS HOST PATH``; ``benchmarks/tls.py``
runs the same client (``client``) to compare the two balancers with more clients and longer runs.
"""
from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time

from matplotlib.figure import Figure

from ...course.cputime import cpu_seconds
from ...course.display.charts import PALETTE, show_figures_inline
from ...course.display.table import Table
from ...errors import UsageError
from .services import address

MODES = {"new": "new connection", "keepalive": "keep-alive", "resume": "resumed session"}
CPU = " CPU µs/request"
show_figures_inline()  # a Figure displays as its picture


def _read_answer(s: socket.socket) -> None:
    """Read one HTTP answer with a Content-Length (what the lesson's services and a ``return`` send)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("the balancer closed the connection before answering")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        raise ConnectionError(f"the answer was {status.decode('latin-1')!r}, not 200")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                   if line.lower().startswith(b"content-length:")), None)
    if length is None:
        raise ConnectionError("the answer has no Content-Length")
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("the balancer closed the connection in the middle of an answer")
        body += chunk


def client(port: int, mode: str, cafile: str | None, seconds: float, host: str = "www.lab",
           path: str = "/") -> tuple[int, float]:
    """Send requests to 127.0.0.1:``port`` over TLS (``mode`` in MODES, or ``plain``), one at a time, for
    ``seconds``: (requests answered, seconds taken)."""
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    done, session, conn = 0, None, None
    t0 = time.monotonic()
    end = t0 + seconds
    try:
        while time.monotonic() < end:
            if mode == "keepalive" and conn is not None:
                conn.sendall(request)
                _read_answer(conn)
                done += 1
                continue
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            s = raw if mode == "plain" else ctx.wrap_socket(raw, server_hostname=host,
                                                            session=session if mode == "resume" else None)
            s.sendall(request)
            _read_answer(s)
            done += 1
            if mode == "resume":
                session = s.session  # after an answer: the TLSv1.3 ticket has arrived
            if mode == "keepalive":
                conn = s
            else:
                s.close()
    finally:
        if conn is not None:
            conn.close()
    return done, time.monotonic() - t0


def _measure(port: int, pid: int | None, mode: str, cafile: str, seconds: float, host: str,
             path: str) -> tuple[float, float]:
    """(requests/s, CPU microseconds per request) of the balancer process ``pid`` for one mode."""
    cmd = [sys.executable, "-m", "labsupport.lessons.edge.tlscost", str(port), mode, str(cafile), f"{seconds:g}",
           host, path]
    cpu0 = cpu_seconds(pid)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise UsageError(f"the TLS client on port {port} did not finish within {seconds + 60:g} s") from None
    cpu = cpu_seconds(pid) - cpu0
    if out.returncode != 0:
        raise UsageError(f"the TLS client on port {port} ({MODES[mode]}) failed: "
                         f"{(out.stderr.strip().splitlines() or ['no message'])[-1]}")
    count, took = out.stdout.split()
    count, took = int(count), float(took)
    return count / took, cpu / max(count, 1) * 1e6


def tls_cost(cafile, seconds: float = 1.0, host: str = "www.lab", path: str = "/", **balancers) -> Table:
    """Requests/s and the balancer's CPU per request for each way of connecting (``MODES``), on each balancer's
    first https:// address (label=balancer; None is left out). ``seconds`` per measurement (0.2 to 10)."""
    if not isinstance(seconds, (int, float)) or not 0.2 <= seconds <= 10:
        raise UsageError(f"seconds must be a number from 0.2 to 10, not {seconds!r}")
    chosen = {label: b for label, b in balancers.items() if b is not None}
    if not chosen:
        raise UsageError("give at least one balancer, e.g. tls_cost(ca.ca_file, engine=lb, haproxy=hx)")
    ports = {}
    for label, b in chosen.items():
        url = address(b, https=True)
        ports[label] = (int(url.rsplit(":", 1)[1].split("/")[0]), getattr(b, "pid", None))
    rows = []
    for mode, label in MODES.items():
        row = {"how the client connects": label}
        for name, (port, pid) in ports.items():
            rps, cpu = _measure(port, pid, mode, cafile, seconds, host, path)
            row[f"{name} req/s"] = round(rps)
            row[f"{name}{CPU}"] = round(cpu)
        rows.append(row)
    return Table(rows)


def tls_cost_figure(cost: Table) -> Figure:
    """The CPU per request of ``tls_cost``'s table as bars: one group per way of connecting, a bar per balancer."""
    labels = [c[:-len(CPU)] for c in cost.columns if c.endswith(CPU)]
    if not labels:
        raise UsageError("tls_cost_figure() needs the table tls_cost(...) returned")
    modes = cost.column("how the client connects")
    fig = Figure(figsize=(8, 2.6))
    ax = fig.add_subplot()
    height = 0.8 / len(labels)
    for k, label in enumerate(labels):
        ys = [i + (k - (len(labels) - 1) / 2) * height for i in range(len(modes))]
        values = cost.column(label + CPU)
        bars = ax.barh(ys, values, height * 0.9, label=label, color=PALETTE[k])
        ax.bar_label(bars, [f" {v} µs" for v in values], fontsize=8)
    ax.set_yticks(range(len(modes)), modes)
    ax.invert_yaxis()
    ax.set_xlabel("the balancer's CPU time per request (µs): less is cheaper")
    ax.set_xlim(0, max(max(cost.column(label + CPU)) for label in labels) * 1.25)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def main(argv: list[str]) -> int:
    """The client process: ``PORT MODE CAFILE SECONDS HOST PATH`` -> prints 'count seconds'."""
    port, mode, cafile, seconds, host, path = argv
    try:
        count, took = client(int(port), mode, cafile if cafile != "-" else None, float(seconds), host, path)
    except (OSError, ValueError) as e:
        print(f"{e.__class__.__name__}: {e}", file=sys.stderr)
        return 1
    print(count, f"{took:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
