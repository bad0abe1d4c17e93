"""The lessons under nbval, side by side, each on a loopback of its own (tests/support/side_by_side.py).

Every lesson binds the same fixed ports (3000, 8080 ...), so two cannot run at once on one loopback: each
runs in a network namespace of its own, as many at a time as the machine has cores, plus one, the longest
first. Where no namespace can be made they run one after the other, and the first line says so. Each
lesson's seconds print as it ends, then the wall time and the sum; the exit status is 1 when a lesson
failed, with its whole output.

    python tests/support/run_lessons.py                 # every lesson (make lessons)
    python tests/support/run_lessons.py 03 05 -j 1      # some, one at a time
    python tests/support/run_lessons.py 03 -- -x        # pytest options after --
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from side_by_side import AT_ONCE, ROOT, Job, report_failures, run_all, split_options

REFERENCES = ROOT / "tests" / "notebooks"
SECONDS_FILE = ROOT / ".pytest_cache" / "lesson-seconds.json"  # git-ignored; only orders the next run
BUDGET_S = 120  # the course's budget for all lessons, wall time
NBVAL = ["--nbval-lax", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-q", "-p", "no:cacheprovider"]


def lessons(names: list[str]) -> list[str]:
    every = sorted(p.stem for p in REFERENCES.glob("*.ipynb"))
    if not names:
        return every
    chosen = [n for n in every if any(n == want or n.startswith(want) for want in names)]
    missing = [want for want in names if not any(n == want or n.startswith(want) for n in every)]
    if missing:
        raise SystemExit(f"no lesson {', '.join(missing)} in {REFERENCES.relative_to(ROOT)} "
                         f"(lessons: {', '.join(every)})")
    return chosen


def lesson_job(name: str, extra: list[str]) -> Job:
    return Job(name, [sys.executable, "-m", "pytest", f"tests/notebooks/{name}.ipynb", *NBVAL, *extra])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="lessons by name or number (default: every lesson)")
    parser.add_argument("-j", "--jobs", type=int, default=AT_ONCE, help="lessons at a time")
    ours, extra = split_options(argv)
    args = parser.parse_args(ours)
    jobs = [lesson_job(n, extra) for n in lessons(args.names)]
    ended, wall, _ = run_all(jobs, args.jobs, SECONDS_FILE, what="lesson")
    total = sum(j.seconds for j in ended)
    print(f"{wall:6.1f} s  wall time for all (the lessons' own times add up to {total:.1f} s; the course's "
          f"budget: {BUDGET_S} s)")
    report_failures(ended)
    return 1 if any(j.failed for j in ended) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
