"""The experiments of lesson 06 (algorithms under load), each a few lines for the notebook.

How it works: every experiment writes a real ``haproxy.cfg`` text (``lab_config``), runs it on the
bundled engine (or on real HAProxy, same text), drives it with the open-loop generator
(``loadgen``) against Flask servers in capacity mode, and returns plain rows (dicts) that
``Table`` and ``plots`` display. Queueing theory for the overlays is here too: the response
time of an M/M/1 queue is exponential with rate mu - lambda, so its q-th percentile is
-ln(1 - q) / (mu - lambda); ``mmc_mean`` is Erlang C's mean for c workers sharing one line.

``SHORT`` (headless: nbval, CI) makes every run a second or two with fewer points;
by hand the notebook runs the full version. Either way a run lasts long enough for ``SAMPLES``
requests: a p99 needs at least 100 answers before it is more than the slowest one
(``results.min_samples``), and every row says how many answers (``n``) its percentiles come from.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence

from ...course.display.progress import Progress
from ...course.environment import HEADLESS
from ...course.haproxy import parse_stat_csv
from ...course.logtable import parse_logs
from ...course.traffic.results import percentile
from ...engine.balancer import Balancer
from .loadgen import LoadRun, OpenLoop, cpu_seconds, open_loop

SHORT = HEADLESS
SERVICE_MS = 20.0  # one worker serves one request in 20 ms on average: 50 requests/s
PER_SERVER = 1000.0 / SERVICE_MS
SAMPLES = 100 if SHORT else 300  # requests offered at least per measurement: p99 then is not the maximum


def lab_config(ports: Sequence[int], balance: str = "roundrobin", *, port: int = 3006,
               maxconn: int | None = None, hash_type: str | None = None, balance_factor: int | None = None,
               queue_timeout: str = "10s", log: bool = False) -> str:
    """A haproxy.cfg for the lesson: one frontend on ``port``, servers s1..sN on ``ports``; with
    ``log``, one httplog line per request on standard output (the engine keeps them: ``lb.logs()``)."""
    lines = ["global", "    maxconn 4000"] + (["    log stdout format raw local0"] if log else [])
    lines += ["defaults", "    mode http"] + (["    log global", "    option httplog"] if log else [])
    lines += ["    timeout connect 2s", "    timeout client 30s", "    timeout server 30s",
              f"    timeout queue {queue_timeout}", "frontend lesson", f"    bind 127.0.0.1:{port}",
              "    default_backend servers", "backend servers", f"    balance {balance}"]
    if hash_type:
        lines.append(f"    hash-type {hash_type}")
    if balance_factor:
        lines.append(f"    hash-balance-factor {balance_factor}")
    limit = f" maxconn {maxconn}" if maxconn else ""
    lines += [f"    server s{i} 127.0.0.1:{p}{limit}" for i, p in enumerate(ports, 1)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- theory
def mm1_percentile_ms(rho: float, q: float, service_ms: float = SERVICE_MS) -> float:
    """The q-th percentile (0..100) of an M/M/1 response time at utilisation ``rho`` (inf at rho >= 1)."""
    if rho >= 1:
        return math.inf
    return -math.log(1 - q / 100) * service_ms / (1 - rho)


def mmc_mean_ms(rho: float, c: int, service_ms: float = SERVICE_MS) -> float:
    """Mean response time of M/M/c (c workers, one shared line) at utilisation ``rho`` (Erlang C)."""
    if rho >= 1:
        return math.inf
    a = rho * c
    top = a ** c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)
    return service_ms + p_wait * service_ms / (c * (1 - rho))


# ----------------------------------------------------------------------------- the capacity sweep
def sweep(url: str, capacity: float, fractions: Sequence[float], seconds: float,
          cpu_pid: int | None = None, seed: int = 1) -> list[dict]:
    """Offer ``fraction x capacity`` requests/s for ``seconds`` each (longer when that is fewer than
    ``SAMPLES`` requests); one row per point: answered/s until the last answer, p50/p99 of the ``n``
    answers, and the balancer's CPU share (this process's CPU when ``cpu_pid`` is None: the engine
    runs here)."""
    rows = []
    bar = Progress(len(fractions), "sweep", len(fractions) * seconds >= 3)
    for k, f in enumerate(fractions):
        bar.update(k, force=True)
        c0, t0 = cpu_seconds(cpu_pid), time.monotonic()
        run = open_loop(url, f * capacity, seconds, seed=seed + k, timeout=10, progress=False, samples=SAMPLES)
        cpu = (cpu_seconds(cpu_pid) - c0) / (time.monotonic() - t0)
        p50, p99 = run.percentile([50, 99])
        rows.append({"load": f, "offered/s": round(f * capacity, 1), "answered/s": round(run.throughput, 1),
                     "n": run.answered, "p50 ms": round(float(p50), 1), "p99 ms": round(float(p99), 1),
                     "failed": int((~run.ok).sum()), "balancer CPU": f"{cpu:.1%}"})
    bar.close()
    return rows


# ----------------------------------------------------------------------------- algorithms side by side
def compare(ports: Sequence[int], algorithms: Sequence[str], rate: float, seconds: float, *,
            maxconn: int | None = None, port: int = 3006, runner: Callable[[str], object] | None = None,
            seed: int = 7) -> tuple[list[dict], dict[str, LoadRun]]:
    """The same open-loop load through each algorithm (fresh balancer each); rows of p50/p99 and
    the share each server took. ``runner(text)`` starts a balancer (default: the engine). With
    ``maxconn``, also what the queues did: their longest length (stats: qmax) and, from the log's
    ``Tw`` timer, how many requests waited in a queue and the p99 of that wait."""
    rows, runs = [], {}
    bar = Progress(len(algorithms), "algorithms", len(algorithms) * seconds >= 3)
    for k, algo in enumerate(algorithms):
        bar.update(k, force=True)
        text = lab_config(ports, algo, port=port, maxconn=maxconn, log=bool(maxconn))
        lb = runner(text) if runner else Balancer.from_text(text).start()
        try:
            run = open_loop(f"http://127.0.0.1:{port}/", rate, seconds, seed=seed, timeout=10,
                            sources=32 if algo == "source" else 1, progress=False, samples=SAMPLES)
            stats = {r["svname"]: r for r in parse_stat_csv(lb.stats_csv()) if r["pxname"] == "servers"}
            waits = [r["Tw"] for r in parse_logs(_log_lines(lb, len(run))) if r["Tw"] >= 0] if maxconn else []
        finally:
            lb.stop()
        runs[algo] = run
        row = row_of(algo, run, ports)
        if maxconn:
            row["qmax backend"] = stats["BACKEND"]["qmax"]
            row["qmax s" + str(len(ports))] = stats[f"s{len(ports)}"]["qmax"]
            row["queued"] = f"{sum(w > 0 for w in waits) / len(waits):.0%}" if waits else "-"
            row["Tw p99 ms"] = round(float(percentile(waits, 99)), 1) if waits else math.nan
        rows.append(row)
    bar.close()
    return rows, runs


def _log_lines(lb, expected: int, wait: float = 2.0) -> list[str]:
    """The balancer's log lines (the engine's or real HAProxy's ``logs()``). Waits (at most ``wait`` s)
    until ``expected`` request lines are there: the last ones are written as their answers end."""
    deadline = time.monotonic() + wait
    while True:
        lines = lb.logs()[0]
        if len(parse_logs(lines)) >= expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def row_of(name: str, run: LoadRun, ports: Sequence[int]) -> dict:
    p50, p99 = run.percentile([50, 99]) if run.ok.any() else (math.nan, math.nan)
    shares = run.shares()
    row = {"algorithm": name, "n": run.answered, "p50 ms": round(float(p50), 1), "p99 ms": round(float(p99), 1),
           "failed": int((~run.ok).sum())}
    row.update({f"s{i}": f"{shares.get(str(p), 0):.0%}" for i, p in enumerate(ports, 1)})
    return row


# ----------------------------------------------------------------------------- herding
def herd(ports: Sequence[int], algo: str, nodes: int, rate: float, returns: int = 3, period: float = 1.2,
         window: float = 0.15, first_port: int = 3016, seed: int = 3, hold_ms: int = 500) -> dict:
    """``nodes`` balancers share the servers, each with its own clients at ``rate``/s. The last server
    leaves (maintenance) and comes back on every node at once, ``returns`` times, once per ``period``
    s. Measured: the share of requests it took in the ``window`` s after each return (fair share:
    1/len(ports)), the most it had in flight, and p99 overall."""
    texts = [lab_config(ports, algo, port=first_port + k) for k in range(nodes)]
    last = f"servers/s{len(ports)}"
    lbs = [Balancer.from_text(t).start() for t in texts]
    backs = []
    try:
        for lb in lbs:
            lb.disable(last)
        # /slow?ms=500: each request holds its server 500 ms more (outside its workers), so every
        # server has several requests in flight, as with long-lived requests
        seconds = period * (returns + 1)
        loops = [OpenLoop(f"http://127.0.0.1:{first_port + k}/slow?ms={hold_ms}", rate, seconds,
                          seed=seed + k, timeout=10) for k in range(nodes)]
        for g in loops:
            g.start()
        while any(g.t0 == 0 and g.running for g in loops):
            time.sleep(0.005)  # each generator announces its second 0 at once
        t0 = min(g.t0 for g in loops)
        for r in range(1, returns + 1):
            time.sleep(max(0.0, t0 + r * period - time.time()))
            backs.append(time.time())
            for lb in lbs:
                lb.enable(last)
            time.sleep(max(0.0, t0 + (r + 0.5) * period - time.time()))
            for lb in lbs:
                lb.disable(last)
        runs = [g.wait() for g in loops]
    finally:
        for lb in lbs:
            lb.stop()
    name = str(ports[-1])
    took = total = 0
    for run in runs:
        for t, who, ok in zip(run.sched + run.t0, run.server, run.ok):
            if ok and any(b <= t < b + window for b in backs):
                total += 1
                took += who == name
    lat = [x for run in runs for x, ok in zip(run.latency_ms, run.ok) if ok]
    return {"algorithm": algo, "balancers": nodes, "requests just after a return": total,
            "share to the returning server": f"{took / total:.0%}" if total else "-",
            "fair share": f"{1 / len(ports):.0%}", "n": len(lat),
            "p99 ms": round(float(percentile(lat, 99)), 1) if lat else math.nan}


# ----------------------------------------------------------------------------- hashing
def key_map(lb_port: int, keys: Sequence[str]) -> dict[str, str]:
    """Which server answers each key (one GET per key, 8 at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    from ...course.traffic.sender import send

    def one(k: str) -> str:
        return send(f"http://127.0.0.1:{lb_port}{k}", 1, progress=False).results[0].label

    with ThreadPoolExecutor(8) as pool:
        return dict(zip(keys, pool.map(one, keys)))


def keys_moved(ports: Sequence[int], hash_type: str, keys: Sequence[str], runner=None, port: int = 3026) -> dict:
    """``balance uri whole`` over ``keys`` (paths like ``/?key=7``: the app answers any query): the
    maps before, with the last-but-one server removed, and after it returns; the keys that moved."""
    text = lab_config(ports, "uri whole", port=port, hash_type=hash_type)
    lb = runner(text) if runner else Balancer.from_text(text).start()
    gone = f"servers/s{len(ports) - 1}"
    try:
        before = key_map(port, keys)
        lb.disable(gone)
        without = key_map(port, keys)
        lb.enable(gone)
        after = key_map(port, keys)
    finally:
        lb.stop()
    removed = str(ports[-2])
    return {"hash-type": hash_type, "keys": len(keys),
            "on the removed server": sum(v == removed for v in before.values()),
            "moved when it left": sum(before[k] != without[k] for k in keys),
            "moved back when it returned": sum(without[k] != after[k] for k in keys),
            "ideal (1/N)": round(len(keys) / len(ports)),
            "same map afterwards": before == after, "_maps": (before, without, after)}


def hot_key(ports: Sequence[int], factor: int | None, rate: float, seconds: float, port: int = 3036,
            seed: int = 5) -> dict:
    """``balance uri whole`` + consistent hashing; half the requests ask for one hot key, the rest for
    200 others. With ``hash-balance-factor`` the hot key's server is capped."""
    text = lab_config(ports, "uri whole", port=port, hash_type="consistent", balance_factor=factor)
    paths = [p for i in range(200) for p in ("/?item=hot", f"/?item={i}")]  # every other one: the hot key
    lb = Balancer.from_text(text).start()
    try:
        run = open_loop(f"http://127.0.0.1:{port}/", rate, seconds, seed=seed, timeout=10, paths=paths,
                        samples=SAMPLES)
    finally:
        lb.stop()
    row = row_of(f"hash-balance-factor {factor}" if factor else "no balance factor", run, ports)
    return row
