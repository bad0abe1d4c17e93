"""The lessons under nbval, side by side, each on a loopback of its own.

Every lesson binds the same fixed ports (3000, 8080 ...), so two cannot run at once on one loopback. Here
each runs in a network namespace of its own (``unshare -n`` as root, ``unshare -rn`` where the kernel lets an
ordinary user have one): its own 127.0.0.0/8, nothing shared. Lessons mostly wait (health checks,
measurements), so as many run at a time as the machine has cores, plus one; the longest (as measured last
time) start first. Where no namespace can be made, they run one after the other in this network, as
before, and the first line says so. Each lesson's seconds are printed as it ends, then the wall time and
the sum; the exit status is 1 when a lesson failed, with the end of its output.

    python tests/support/run_lessons.py                 # every lesson (make lessons, make test)
    python tests/support/run_lessons.py 03 05 -j 1      # some, one at a time
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCES = ROOT / "tests" / "notebooks"
SECONDS_FILE = ROOT / ".pytest_cache" / "lesson-seconds.json"  # git-ignored; only orders the next run
BUDGET_S = 120  # the course's budget for all lessons, wall time
NBVAL = ["--nbval-lax", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-q", "-p", "no:cacheprovider"]
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """Bring ``lo`` up in this (new) network namespace, as ``ip link set lo up`` does, without needing ip."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def namespace_prefix() -> list[str] | None:
    """The command that runs another in a new network namespace here, or None when none can be made."""
    unshare = shutil.which("unshare") or next((p for p in ("/usr/bin/unshare", "/bin/unshare") if os.path.exists(p)),
                                               None)
    if unshare is None:
        return None
    prefix = [unshare, "-n"] if os.geteuid() == 0 else [unshare, "-rn"]
    try:
        ok = subprocess.run([*prefix, sys.executable, __file__, "--inside", "--check"], capture_output=True,
                            timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return prefix if ok else None


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


def run_one(name: str, prefix: list[str] | None, extra: list[str]) -> tuple[str, float, int, str]:
    cmd = [sys.executable, "-m", "pytest", f"tests/notebooks/{name}.ipynb", *NBVAL, *extra]
    if prefix is not None:
        cmd = [*prefix, sys.executable, __file__, "--inside", "--", *cmd]
    env = dict(os.environ, LAB_HEADLESS="1")
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace")
    return name, time.monotonic() - start, done.returncode, done.stdout


def summary_of(output: str) -> str:
    lines = [ln.strip("= ") for ln in output.splitlines() if " passed" in ln or " failed" in ln or " error" in ln]
    return lines[-1] if lines else "no result"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--inside"]:  # in the new namespace: loopback up, then the command
        loopback_up()
        rest = argv[1:]
        if rest == ["--check"]:
            return 0
        os.execvp(rest[1], rest[1:])  # rest[0] is "--"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="lessons by name or number (default: every lesson)")
    parser.add_argument("-j", "--jobs", type=int, default=(os.cpu_count() or 1) + 1, help="lessons at a time")
    ours, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = parser.parse_args(ours)  # after "--": more pytest options
    names = lessons(args.names)
    prefix = namespace_prefix() if args.jobs > 1 else None
    jobs = args.jobs if prefix is not None else 1
    if prefix is None and args.jobs > 1:
        print("no network namespace can be made here (not root, and no unprivileged user namespaces): "
              "the lessons run one after the other", flush=True)
    else:
        count = f"{len(names)} lesson{'s' if len(names) != 1 else ''}"
        print(f"{count}, {jobs} at a time, each in a network namespace of its own" if jobs > 1
              else f"{count}, one after the other", flush=True)
    try:
        before = json.loads(SECONDS_FILE.read_text())
    except (OSError, ValueError):
        before = {}
    order = sorted(names, key=lambda n: -float(before.get(n, 1e9)))  # the longest first; new ones before all
    start = time.monotonic()
    results = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in as_completed([pool.submit(run_one, n, prefix, extra) for n in order]):
            name, seconds, code, output = future.result()
            results.append((name, seconds, code, output))
            print(f"{seconds:6.1f} s  {name}  {summary_of(output)}", flush=True)
    wall = time.monotonic() - start
    total = sum(r[1] for r in results)
    print(f"{wall:6.1f} s  wall time for all (the lessons' own times add up to {total:.1f} s; the course's "
          f"budget: {BUDGET_S} s)")
    try:
        SECONDS_FILE.parent.mkdir(exist_ok=True)
        SECONDS_FILE.write_text(json.dumps({**before, **{r[0]: round(r[1], 1) for r in results}}, indent=1))
    except OSError:
        pass
    failed = [r for r in results if r[2] != 0]
    for name, _, code, output in failed:
        print(f"\n===== {name} failed (exit {code}); the end of its output:\n" + "\n".join(output.splitlines()[-60:]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
