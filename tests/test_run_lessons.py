"""tests/support/run_lessons.py and side_by_side.py: each lesson (each shard of make test) on a loopback of its
own, as the same user, side by side, or one after the other."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from support import run_lessons, side_by_side

from labsupport.ports import free_ports

RUNNER = run_lessons.__file__
INSIDE = [sys.executable, side_by_side.__file__, "--inside", "--"]


def test_a_namespace_has_its_own_loopback_where_one_can_be_made():
    prefix = side_by_side.namespace_prefix()
    if prefix is None:
        pytest.skip("no network namespace here (not root, no unprivileged user namespaces): the runner runs "
                    "the lessons one after the other, which the next test checks")
    (port,) = free_ports(1)
    with socket.socket() as held:  # the port is taken here...
        held.bind(("127.0.0.1", port))
        held.listen()
        bind = f"import socket; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); print('bound')"
        inside = subprocess.run([*prefix, sys.executable, "-c", bind], capture_output=True, text=True, timeout=60)
    assert (inside.returncode, inside.stdout.strip()) == (0, "bound"), inside.stderr  # ...and free in there


def test_in_a_namespace_the_user_stays_who_they_are():
    """Not root as in ``unshare -rn``: the same uid and gid, so files keep their owners and permissions."""
    if side_by_side.namespace_prefix() is None:
        pytest.skip("no network namespace here")
    who = "import os; print(os.geteuid(), os.getegid())"
    inside = subprocess.run([*INSIDE, sys.executable, "-c", who], capture_output=True, text=True, timeout=60)
    assert inside.stdout.split() == [str(os.geteuid()), str(os.getegid())], inside.stderr


def test_jobs_get_a_run_folder_each_and_a_failure_is_shown_whole(tmp_path, capsys):
    show = "import os, sys; print('run', os.environ['LAB_RUN']); sys.exit(int(sys.argv[1]))"
    jobs = [side_by_side.Job(f"j{code}", [sys.executable, "-c", show, str(code)]) for code in (0, 3)]
    ended, _, _ = side_by_side.run_all(jobs, 2, tmp_path / "seconds.json")
    side_by_side.report_failures(ended)
    out = capsys.readouterr().out
    folders = {j.name: j.output.split()[1] for j in ended}
    assert folders["j0"] != folders["j3"] and not any(os.path.exists(f) for f in folders.values())
    assert [j.name for j in ended if j.failed] == ["j3"]
    assert f"===== j3 failed (exit 3); its output:\nrun {folders['j3']}" in out
    assert set(json.loads((tmp_path / "seconds.json").read_text())) == {"j0", "j3"}
    assert (tmp_path / "output" / "j0.log").read_text() == f"run {folders['j0']}\n"


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_a_lesson_runs_and_its_seconds_are_printed(jobs):
    run = subprocess.run([sys.executable, RUNNER, "00", "-j", jobs], capture_output=True, text=True, timeout=300)
    lines = run.stdout.splitlines()
    assert run.returncode == 0, run.stdout[-2000:]
    assert lines[0] in ("1 lesson, one after the other", "1 lesson, 3 at a time, each in a network namespace of "
                        "its own", "no network namespace can be made here (the kernel "
                        "allows no unprivileged user namespaces): the lessons run one after the other"), lines[0]
    assert " s  00-welcome  " in lines[1] and " passed" in lines[1], lines
    assert "wall time for all" in lines[-1]


def test_an_unknown_lesson_is_one_line():
    run = subprocess.run([sys.executable, RUNNER, "42"], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and run.stderr.strip().startswith("no lesson 42 in tests/notebooks (lessons: 00-"), \
        run.stderr
