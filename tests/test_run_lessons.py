"""tests/support/run_lessons.py: each lesson on a loopback of its own, side by side, or one after the other."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from support import run_lessons

from labsupport.ports import free_ports

RUNNER = run_lessons.__file__


def test_a_namespace_has_its_own_loopback_where_one_can_be_made():
    prefix = run_lessons.namespace_prefix()
    if prefix is None:
        pytest.skip("no network namespace here (not root, no unprivileged user namespaces): the runner runs "
                    "the lessons one after the other, which the next test checks")
    (port,) = free_ports(1)
    with socket.socket() as held:  # the port is taken here...
        held.bind(("127.0.0.1", port))
        held.listen()
        bind = f"import socket; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); print('bound')"
        inside = subprocess.run([*prefix, sys.executable, RUNNER, "--inside", "--", sys.executable, "-c", bind],
                                capture_output=True, text=True, timeout=60)
    assert (inside.returncode, inside.stdout.strip()) == (0, "bound"), inside.stderr  # ...and free in there


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_a_lesson_runs_and_its_seconds_are_printed(jobs):
    run = subprocess.run([sys.executable, RUNNER, "00", "-j", jobs], capture_output=True, text=True, timeout=300)
    lines = run.stdout.splitlines()
    assert run.returncode == 0, run.stdout[-2000:]
    assert lines[0] in ("1 lesson, one after the other", "1 lesson, 3 at a time, each in a network namespace of "
                        "its own", "no network namespace can be made here (not root, and no unprivileged user "
                        "namespaces): the lessons run one after the other"), lines[0]
    assert " s  00-welcome  " in lines[1] and " passed" in lines[1], lines
    assert "wall time for all" in lines[-1]


def test_an_unknown_lesson_is_one_line():
    run = subprocess.run([sys.executable, RUNNER, "42"], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and run.stderr.strip().startswith("no lesson 42 in tests/notebooks (lessons: 00-"), \
        run.stderr
