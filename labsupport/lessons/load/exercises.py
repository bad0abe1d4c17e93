"""Lesson 06's exercise: an algorithm and a server maxconn that keep p99 low with one slow server,
checked on a real open-loop run through a private engine."""
from __future__ import annotations

from typing import Sequence

from ...course.exercise import ExerciseResult, answers
from ...engine.balance import ALGORITHMS
from ...engine.balancer import Balancer
from ...ports import free_ports
from .experiments import SAMPLES, SHORT, lab_config
from .loadgen import open_loop


def check_slow_server(balance: str, maxconn: int | None, ports: Sequence[int], rate: float = 100.0,
                      target_p99_ms: float = 400.0, seconds: float | None = None) -> ExerciseResult:
    """Lesson 06: with one slow server among ``ports``, do ``balance`` and server ``maxconn`` keep
    p99 under ``target_p99_ms`` at ``rate`` requests/s? Runs the load through a private engine."""
    title = f"p99 under {target_p99_ms:g} ms at {rate:g} requests/s with one slow server"
    algo = balance.split("(")[0]
    if algo not in ALGORITHMS:
        return ExerciseResult(False, title, details=(f"balance {balance!r}: choose one of {', '.join(ALGORITHMS)}",))
    if maxconn is not None and (isinstance(maxconn, bool) or not isinstance(maxconn, int) or maxconn < 1):
        return ExerciseResult(False, title, details=(f"maxconn {maxconn!r}: a whole number from 1 up, or None",))
    down = [str(p) for p in ports if not answers("127.0.0.1", p)]
    if down:
        return ExerciseResult(False, title, details=(f"server(s) {', '.join(down)} do not answer: run the "
                                                  "notebook's first cell again.",))
    port = free_ports(1)[0]
    with Balancer.from_text(lab_config(ports, balance, port=port, maxconn=maxconn)):
        run = open_loop(f"http://127.0.0.1:{port}/", rate, seconds or (0.5 if SHORT else 6.0), seed=11, samples=SAMPLES,
                        timeout=10, progress=False, sources=32 if algo == "source" else 1)
    counts = {}
    for s in run.server:
        counts[s or "no answer"] = counts.get(s or "no answer", 0) + 1
    shares = {k: 100.0 * v / len(run) for k, v in counts.items()}
    p99 = float(run.percentile(99, ok_only=False))
    passed = p99 <= target_p99_ms
    line = (f"balance {balance}, maxconn {maxconn}: p99 {p99:.0f} ms, p50 {float(run.percentile(50)):.0f} ms, "
            f"of {len(run)} requests"
            + (" (every request counts: a failed one is infinitely slow)" if not run.ok.all() else ""))
    return ExerciseResult(passed, title, shares, dict(sorted(counts.items())), (line,))
