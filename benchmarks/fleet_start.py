"""Time from Fleet.start() to 4 servers answering HTTP, over 5 runs. Target: median <= 1.5 s.

    .venv/bin/python benchmarks/fleet_start.py [runs]
"""
from __future__ import annotations

import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from labsupport.course.fleet import Fleet


def one_run() -> float:
    with Fleet() as fleet:
        t0 = time.perf_counter()
        ports = fleet.start(count=4)
        for p in ports:  # start() already waited for /health; check the lesson's own page too
            urllib.request.urlopen(f"http://127.0.0.1:{p}/", timeout=5).read()
        return time.perf_counter() - t0


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    times = [one_run() for _ in range(runs)]
    print(f"fleet start, 4 servers, {runs} runs: " + " ".join(f"{t:.3f}s" for t in times))
    print(f"median {statistics.median(times):.3f} s   max {max(times):.3f} s   (target: median <= 1.5 s)")


if __name__ == "__main__":
    main()
