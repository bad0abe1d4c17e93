"""The repository as repo2docker builds it (Binder, JupyterHub images): apt.txt, requirements.txt, start.

repo2docker installs apt.txt's packages, then ``pip install -r requirements.txt`` as an ordinary user, then
runs every server command through the repository's ``start`` script. CI does the first two steps already
(.ci/run: apt-get as root, then the whole suite as an ordinary user in a fresh clone); here, the packages
exist in this Debian, and ``start`` gives the server what ``make lab`` gives it: the student's copies, and the
course's kernel environment, in which lessons 00 and 03 pass under nbval.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_launch import course  # noqa: F401  (the fixture: this working tree, committed in a repository)

REPO = Path(__file__).resolve().parents[2]


def test_every_apt_package_exists_in_this_debian():
    if not shutil.which("apt-cache"):
        pytest.skip("no apt-cache here (not Debian or Ubuntu): repo2docker's images are Ubuntu")
    wanted = [line.strip() for line in (REPO / "apt.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert wanted == ["haproxy", "dnsutils", "socat"]
    for package in wanted:
        policy = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True).stdout
        assert "Candidate:" in policy and "Candidate: (none)" not in policy, f"{package}: {policy or 'unknown'}"


def test_start_prepares_the_copies_and_the_kernel_environment(course):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "LAB_RUN"))}
    env["PATH"] = f"{os.path.dirname(sys.executable)}:{env.get('PATH', '')}"  # repo2docker's python first
    shown = subprocess.run([str(course / "start"), "sh", "-c", 'echo "$LAB_RUN|$JUPYTER_PATH|$PWD"'],
                           cwd=course, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("Your copies of the lessons: my-notebooks/")
    lab_run, jupyter_path, cwd = lines[-1].split("|")
    assert os.path.isdir(lab_run) and os.path.isfile(os.path.join(jupyter_path.split(":")[0], "kernels",
                                                                       "python3", "kernel.json"))
    assert cwd == str(course) and (course / "my-notebooks" / "00-welcome.ipynb").is_file()


def test_lessons_00_and_03_pass_under_nbval_through_start(course):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "LAB_RUN"))}
    env.update(PATH=f"{os.path.dirname(sys.executable)}:{env.get('PATH', '')}", LAB_HEADLESS="1")
    run = subprocess.run([str(course / "start"), sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/notebooks/00-welcome.ipynb", "tests/notebooks/03-load-balancer.ipynb",
                          "--nbval-lax", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg"],
                         cwd=course, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1] and "failed" not in run.stdout.splitlines()[-1]
