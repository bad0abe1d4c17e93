"""The run-time folder is this user's own, whatever another user (or root) left in the shared /tmp."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from labsupport import rundir


@pytest.fixture()
def fresh(tmp_path, monkeypatch):
    """No folder chosen yet, no $LAB_RUN or $XDG_RUNTIME_DIR, and a temporary folder of the test's own."""
    monkeypatch.setattr(rundir, "_chosen", None)
    monkeypatch.delenv("LAB_RUN", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() reads TMPDIR again
    return tmp_path


def test_a_private_folder_named_for_the_user_and_exported(fresh):
    folder = rundir.run_dir()
    assert folder.parent == fresh and folder.name == f"lab-course-{rundir._user()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert os.environ["LAB_RUN"] == str(folder)
    assert rundir.run_dir() == folder  # chosen once


def test_xdg_runtime_dir_first(fresh, monkeypatch):
    (fresh / "run-user").mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(fresh / "run-user"))
    assert rundir.run_dir() == fresh / "run-user" / "lab-course"


def test_a_link_in_the_way_is_not_followed(fresh):
    target = fresh / "someone-elses"
    target.mkdir()
    (fresh / f"lab-course-{rundir._user()}").symlink_to(target)
    folder = rundir.run_dir()
    assert folder.parent == fresh and folder.name.startswith(f"lab-course-{rundir._user()}-")
    assert not folder.is_symlink() and stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_an_open_folder_of_ours_is_made_private(fresh):
    mine = fresh / f"lab-course-{rundir._user()}"
    mine.mkdir()
    mine.chmod(0o777)
    assert rundir.run_dir() == mine and stat.S_IMODE(mine.stat().st_mode) == 0o700


def test_a_folder_another_user_owns_is_left_alone(fresh, monkeypatch):
    theirs = fresh / f"lab-course-{rundir._user()}"
    theirs.mkdir(mode=0o755)
    me = os.getuid()
    if me == 0:
        os.chown(theirs, 65534, 65534)  # nobody's, as another student's folder would be
    else:  # only root can give a folder away: here the folder stays ours and we play someone else
        monkeypatch.setattr(os, "getuid", lambda: me + 1)
    folder = rundir.run_dir()
    assert folder != theirs and folder.parent == fresh and folder.stat().st_uid == me


def test_children_inherit_the_folder(fresh):
    folder = rundir.run_dir()
    out = subprocess.run([sys.executable, "-c", "from labsupport.rundir import run_dir; print(run_dir())"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(folder)
