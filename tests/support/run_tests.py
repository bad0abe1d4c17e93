"""make test: the whole suite in shards side by side, each on a loopback of its own, then the lessons beside them.

Shards (tests/support/side_by_side.py runs them): the browser suite in two (each a JupyterLab and a Chromium),
tests/differential (real HAProxy beside the engine) in two, lesson 10's hosts, tests/lessons, the rest of
tests/, and each lesson under nbval; they mostly wait (servers, health checks, a browser), so as many run at a
time as the machine has cores, plus one, the longest first. tests/test_ports_other_user.py stays in this
network: it reads a port another user holds here (``LAB_FOREIGN_PORT``). Where no namespace can be made,
everything runs one after the other, as one pytest run would, and the first line says so.

The environment (``LAB_REQUIRE_*`` ...) reaches every shard, and so do pytest options after ``--``. Each
shard's seconds and pytest's result line print as it ends, then the wall time; a failed shard's whole
output follows, and the exit status is 1. Every shard's output is kept in .pytest_cache/output/NAME.log.

    python tests/support/run_tests.py                   # everything (make test)
    python tests/support/run_tests.py -- -x -k health   # pytest options for every shard
    python tests/support/run_tests.py -j 1              # one shard at a time
    python tests/support/run_tests.py browser rest      # some shards (names as printed; lessons by number)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_lessons import lesson_job, lessons
from side_by_side import AT_ONCE, ROOT, Job, report_failures, run_all, split_options

SECONDS_FILE = ROOT / ".pytest_cache" / "shard-seconds.json"  # git-ignored; only orders the next run
HERE = ["tests/test_ports_other_user.py"]  # needs this network: a port another user holds here
# name: what it runs; "rest" is tests/ without the others. The longest first, for a first run. The browser
# suite is two shards (about half of its time each), each with a JupyterLab and a Chromium of its own: Run All
# of every lesson, and the rest of it (the widgets and the slips).
# tests/differential is two shards of about half its time each: what changes or breaks a running balancer
# (reloads, health, failover, servers that come and go), and the rest of it.
LIVE = [f"tests/differential/test_{n}.py" for n in ("reload", "peers_reload", "health", "failover", "live_haproxy",
                                                    "live_methods", "dns_discovery", "dynamic_servers")]
SHARDS = {
    "browser-run-all": ["tests/browser/test_run_all.py"],
    "browser": ["tests/browser", "--ignore=tests/browser/test_run_all.py"],
    "differential-live": LIVE,
    "differential": ["tests/differential", *(f"--ignore={p}" for p in LIVE)],
    "beyond": ["tests/lessons/beyond"],  # lesson 10's hosts, keepalived and regions: long waits, little CPU
    "lesson-helpers": ["tests/lessons", "--ignore=tests/lessons/beyond"],  # the lessons' code, without nbval
}


def pytest_job(name: str, paths: list[str], extra: list[str], isolated: bool = True) -> Job:
    # each shard its own cache folder: shards ending together must not write one file at once
    # --durations: the slowest tests of each shard at the end of its log (.pytest_cache/output/NAME.log)
    return Job(name, [sys.executable, "-m", "pytest", *paths, "-o", f"cache_dir=.pytest_cache/shard-{name}",
                      "--durations=15", *extra], isolated=isolated)


def shards(extra: list[str]) -> list[Job]:
    ignore = [f"--ignore={p}" for p in (*(p for ps in SHARDS.values() for p in ps if p.startswith("tests")), *HERE)
              if not p.startswith("tests/differential/")]
    jobs = [pytest_job(name, paths, extra) for name, paths in SHARDS.items()]
    jobs.insert(2, pytest_job("rest", ["tests", *ignore], extra))
    jobs += [lesson_job(n, extra) for n in sorted(lessons([]), reverse=True)]
    jobs.append(pytest_job("here", HERE, extra, isolated=False))
    return jobs


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="shards to run (default: every one)")
    parser.add_argument("-j", "--jobs", type=int, default=AT_ONCE, help="shards at a time")
    ours, extra = split_options(argv)
    args = parser.parse_args(ours)
    jobs = shards(extra)
    if args.names:
        unknown = [n for n in args.names if not any(j.name.startswith(n) for j in jobs)]
        if unknown:
            raise SystemExit(f"no shard {', '.join(unknown)} (shards: {', '.join(j.name for j in jobs)})")
        jobs = [j for j in jobs if any(j.name.startswith(n) for n in args.names)]
    ended, wall, _ = run_all(jobs, args.jobs, SECONDS_FILE, what="shard")
    total = sum(j.seconds for j in ended)
    failed = [j.name for j in ended if j.failed]
    print(f"{wall:6.1f} s  wall time for all (the shards' own times add up to {total:.1f} s); "
          + (f"failed: {', '.join(failed)}" if failed else "every shard passed"), flush=True)
    report_failures(ended)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
