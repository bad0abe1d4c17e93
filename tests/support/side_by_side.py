"""Commands side by side, each on a loopback of its own: the machinery of run_lessons.py and run_tests.py.

The lessons bind fixed ports (3000, 8080 ...) and the tests bind ports the system chose and course sockets
under ``$LAB_RUN``: two runs on one loopback, or in one ``$LAB_RUN``, would collide. Here each job runs in a
network namespace of its own (its own 127.0.0.0/8, nothing shared) and with a ``$LAB_RUN`` of its own.

The namespace is made by this file run as ``python side_by_side.py --inside -- CMD...``: as root it unshares
the network alone; as an ordinary user it unshares a user namespace too, with the user's own uid and gid
mapped to themselves (not to root, as ``unshare -rn`` does), so the job runs as that user, with that user's
file permissions; it brings ``lo`` up, then becomes CMD (whose capabilities an ordinary user's exec drops).
Where the kernel allows neither, ``namespace_prefix()`` is None and the callers run one job at a time in
this network, and say so.

Jobs mostly wait (health checks, servers, a browser), so ``AT_ONCE`` run at a time: the machine's cores plus
one, the longest (as measured last time) first. Each job's seconds and its result line print as it
ends, then the wall time; the output of a failed job is printed whole at the end.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
RESULT = re.compile(r"\d+ (passed|failed|errors?|skipped|deselected)\b|no tests ran")
NO_TESTS = 5  # pytest's exit status when the options left nothing to run in a job: not a failure


def loopback_up() -> None:
    """Bring ``lo`` up in this (new) network namespace, as ``ip link set lo up`` does, without needing ip."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def enter_namespace() -> None:
    """Move this (single-threaded) process into a new network namespace of its own, loopback up."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNET if uid == 0 else CLONE_NEWUSER | CLONE_NEWNET
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    if uid != 0:  # the same user inside as outside: writing the maps needs setgroups denied first
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    loopback_up()


def namespace_prefix() -> list[str] | None:
    """The command that runs another in a new network namespace here, or None when none can be made."""
    prefix = [sys.executable, __file__, "--inside", "--"]
    try:
        ok = subprocess.run([*prefix, sys.executable, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return prefix if ok else None


# Jobs at a time by default: the cores plus one. On a 2-core machine three at a time took 582 s of wall time
# for a `make test` (1,743 s of shards); four at a time took 480 s (1,900 s), but in one run of two a test
# that times a health check on the page and one that reads HAProxy's stats while a check ran failed:
# the suite must pass every time, and -j 4 stays a choice.
AT_ONCE = (os.cpu_count() or 1) + 1


@dataclass
class Job:
    """One command to run; ``isolated`` False keeps it in this network (a test of something outside)."""
    name: str
    cmd: list[str]
    isolated: bool = True
    seconds: float = 0.0
    code: int = 0
    output: str = field(default="", repr=False)

    @property
    def failed(self) -> bool:
        return self.code not in (0, NO_TESTS)


def summary_of(output: str) -> str:
    """pytest's result line (``12 passed, 1 failed in 3.0s``), or what stands for it."""
    lines = [ln.strip("= ") for ln in output.splitlines() if RESULT.search(ln)]
    return lines[-1] if lines else "no result"


def run_job(job: Job, prefix: list[str] | None) -> Job:
    """Run ``job`` to its end (in a namespace when ``prefix``), with a ``$LAB_RUN`` of its own."""
    run = tempfile.mkdtemp(prefix=f"lab-run-{job.name.replace('/', '_')}-")
    env = dict(os.environ, LAB_HEADLESS="1", LAB_RUN=run)
    cmd = [*prefix, *job.cmd] if prefix is not None and job.isolated else job.cmd
    start = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace")
        job.code, job.output = done.returncode, done.stdout
    finally:
        job.seconds = time.monotonic() - start
        shutil.rmtree(run, ignore_errors=True)
    return job


# Seconds each shard and lesson took in a full `make test` on a 2-core CI machine (tracked): a first run, in a
# fresh clone with no .pytest_cache yet, still starts the longest first (differential among them, not last).
TYPICAL = Path(__file__).with_name("typical-seconds.json")


def run_all(jobs: list[Job], parallel: int, seconds_file: Path, what: str = "job") -> tuple[list[Job], float, bool]:
    """Run ``jobs``, ``parallel`` at a time each in a namespace (one at a time here when none can be made),
    printing each as it ends; returns the jobs as they ended, the wall time, and whether namespaces were used.
    Each job's whole output is kept in ``<seconds_file's folder>/output/NAME.log`` (a passing one's too)."""
    prefix = namespace_prefix() if parallel > 1 else None
    at_once = parallel if prefix is not None else 1
    count = f"{len(jobs)} {what}{'s' if len(jobs) != 1 else ''}"
    if prefix is None and parallel > 1:
        print(f"no network namespace can be made here (the kernel allows no unprivileged user namespaces): "
              f"the {what}s run one after the other", flush=True)
    else:
        print(f"{count}, {at_once} at a time, each in a network namespace of its own" if at_once > 1
              else f"{count}, one after the other", flush=True)
    known: list[dict] = []
    for path in (TYPICAL, seconds_file):
        try:
            known.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            known.append({})
    typical, before = known
    estimate = {**typical, **before}  # this checkout's last run counts over the typical figures
    order = sorted(jobs, key=lambda j: -float(estimate.get(j.name, 1e9)))  # the longest first; new ones before all
    start = time.monotonic()
    ended: list[Job] = []
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        for future in as_completed([pool.submit(run_job, j, prefix) for j in order]):
            job = future.result()
            ended.append(job)
            keep(job, seconds_file.parent / "output")
            print(f"{job.seconds:6.1f} s  {job.name}  {summary_of(job.output)}", flush=True)
    wall = time.monotonic() - start
    try:  # git-ignored; only orders the next run
        seconds_file.parent.mkdir(exist_ok=True)
        seconds_file.write_text(json.dumps({**before, **{j.name: round(j.seconds, 1) for j in ended}}, indent=1))
    except OSError:
        pass
    return ended, wall, prefix is not None


def keep(job: Job, folder: Path) -> None:
    """Write the job's output to ``folder/NAME.log`` (git-ignored), where a passing job's can be read too."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{job.name.replace('/', '_')}.log").write_text(job.output)
    except OSError:
        pass


def report_failures(jobs: list[Job]) -> None:
    """Print the whole output of every failed job."""
    for job in jobs:
        if job.failed:
            print(f"\n===== {job.name} failed (exit {job.code}); its output:\n{job.output.rstrip()}", flush=True)


def split_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """Our arguments, and the pytest options after ``--``."""
    return (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])


if __name__ == "__main__":  # python side_by_side.py --inside -- CMD...: CMD in a namespace of its own
    if sys.argv[1:3] != ["--inside", "--"] or len(sys.argv) < 4:
        sys.exit("usage: side_by_side.py --inside -- COMMAND [ARG...]")
    enter_namespace()
    os.execvp(sys.argv[3], sys.argv[3:])
