"""make lab's launcher, for real: a JupyterLab server on a temporary git repository of this working tree,
started as the browser tests start theirs (browser/labserver.py: the launcher, a free port, a token).

A lesson is opened, run and saved through JupyterLab's contents API (as the browser does, autosave
included); the repository stays clean and the student's copy keeps the outputs.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
import pytest
from browser.labserver import LabServer

from labsupport.course.launch import FIRST, STUDENT_HOOK, jupyter_command, lab_environment
from labsupport.course.rescue import kernel_env
from labsupport.rundir import run_dir

REPO = Path(__file__).resolve().parents[2]
GIT_IDENTITY = ["-c", "user.name=tests", "-c", "user.email=tests@localhost", "-c", "commit.gpgsign=false"]


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def course(tmp_path) -> Path:
    """The working tree's files as a commit would take them (tracked, and new files not ignored), committed
    in a repository of their own: the test works before anything is committed here."""
    root = tmp_path / "course"
    names = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, names):
        src = REPO / name
        if src.is_file():  # (a tracked file deleted in the working tree is not part of it)
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / name)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, *GIT_IDENTITY, "commit", "-q", "-m", "the course")
    return root


@pytest.fixture
def lab(course, tmp_path):
    server = LabServer(tmp_path / "lab", course=course).start()
    yield server
    assert server.stop() == []  # nothing it started outlives it


def test_a_lesson_run_and_saved_through_jupyterlab_leaves_git_clean_and_keeps_the_outputs(course, lab, tmp_path):
    printed = lab.launch_lines()
    assert printed[0].startswith("Your copies of the lessons: my-notebooks/ (git ignores it;")
    files = [p for p in (course / "notebooks").iterdir() if p.is_file() and not p.name.startswith(".")]
    noun = "lessons" if all(p.suffix == ".ipynb" for p in files) else "files"  # lesson 07 brings its map files
    assert printed[1] == f"  copied {len(files)} {noun} into my-notebooks/"
    listing = {e["name"] for e in lab.api("GET", "api/contents")["content"]}
    assert FIRST in listing and "notebooks" not in listing  # JupyterLab opens the student's folder

    # the server is the launcher's own process (exec), with what the course's kernels need
    server = psutil.Process(lab.proc.pid)
    assert "jupyterlab" in " ".join(server.cmdline())
    assert kernel_env().items() <= server.environ().items()

    # open, run (in the folder JupyterLab's kernels start in), save: what a student's session does
    from nbclient import NotebookClient

    model = lab.api("GET", f"api/contents/{FIRST}?content=1")
    nb = nbformat.from_dict(model["content"])
    folder = course / "my-notebooks"
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    saved = lab.api("PUT", f"api/contents/{FIRST}", {"type": "notebook", "format": "json", "content": nb})
    assert saved["path"] == FIRST

    assert git(course, "status", "--porcelain") == ""
    assert lab.tracked_changes() == ""
    assert (course / "notebooks" / FIRST).read_bytes() == (REPO / "notebooks" / FIRST).read_bytes()
    mine = nbformat.read(folder / FIRST, as_version=4)
    outputs = "".join(o.get("text", "") for c in mine.cells if c.cell_type == "code" for o in c.outputs)
    assert "Hi!! from server" in outputs and "servers still running: 0" in outputs

    # a second launch keeps the student's copy, outputs and all
    lab.stop()
    again = LabServer(tmp_path / "again", course=course).start()
    try:
        assert again.launch_lines()[1:] == []  # nothing new, nothing to say
        assert nbformat.read(folder / FIRST, as_version=4).cells == mine.cells
    finally:
        again.stop()
    assert git(course, "status", "--porcelain") == ""


def test_the_command_line_jupyterlab_gets():
    folder = REPO / "my-notebooks"
    cmd = jupyter_command(folder, ["--no-browser"])
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"] and cmd[-1] == "--no-browser"
    assert f"--ServerApp.root_dir={folder}" in cmd and "--ServerApp.ip=127.0.0.1" in cmd
    # the student's copies: dead widget views saved as text (git ignores the copies: no version to keep)
    assert [a for a in cmd if "pre_save_hook" in a] == [f"--ContentsManager.pre_save_hook={STUDENT_HOOK}"]
    assert any("pre_save_hook" in a for a in jupyter_command(REPO / "notebooks", [], lessons=True))
    assert lab_environment({"A": "1"}) == {"A": "1", **kernel_env(), "LAB_RUN": str(run_dir())}


def test_the_lab_is_refused_in_one_line_when_the_folder_cannot_be_made(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "my-notebooks").write_text("a file where the folder goes")
    out = subprocess.run([sys.executable, "-m", "labsupport.course.launch", "--root", str(tmp_path), "lab"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and "my-notebooks" in out.stderr


def test_a_folder_without_lessons_is_refused_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "labsupport.course.launch", "--root", str(tmp_path), "lab"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 2 and out.stderr == (f"NotFoundError: no lessons in {tmp_path / 'notebooks'}: give the "
                                                  "course folder (the one holding notebooks/)\n")
    assert not (tmp_path / "my-notebooks").exists()
