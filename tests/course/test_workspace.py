"""The student's copies: filled on first launch, completed (never overwritten) on later ones, reset on demand."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labsupport.course.launch import prepare
from labsupport.course.workspace import CopyState, Workspace, copies_report, fingerprint
from labsupport.errors import NotFoundError

REPO = Path(__file__).resolve().parents[2]
LESSONS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
COURSE_FILES = [p for p in (REPO / "notebooks").rglob("*") if p.is_file() and not any(
    part.startswith(".") or part == "__pycache__" for part in p.relative_to(REPO / "notebooks").parts)]


@pytest.fixture
def ws(tmp_path) -> Workspace:
    """A course folder with the real lessons and a data file beside them."""
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".*"))
    (tmp_path / "notebooks" / "data").mkdir()
    (tmp_path / "notebooks" / "data" / "hosts.txt").write_text("server01 127.0.0.1\n")
    return Workspace(tmp_path)


def edit(path: Path, source: str = "# my answer", outputs: bool = False) -> None:
    """What a student's save does to a copy: a changed cell, or outputs (JupyterLab writes the whole file)."""
    nb = json.loads(path.read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    if outputs:
        code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["Hi!! from server 8080\n"]}]
    else:
        code["source"] = source
    path.write_text(json.dumps(nb, indent=1))


def test_the_first_launch_copies_the_lessons_and_their_data_files(ws):
    lines = prepare(ws)
    assert lines[0].startswith("Your copies of the lessons: my-notebooks/ (git ignores it;")
    assert "make reset NB=03" in lines[0] and "my-notebooks/backups/" in lines[0]
    assert lines[1:] == [f"  copied {len(COURSE_FILES) + 1} files into my-notebooks/"]  # lessons, their maps, hosts.txt
    assert sorted(p.name for p in ws.folder.glob("*.ipynb")) == LESSONS
    for name in LESSONS:
        assert (ws.folder / name).read_bytes() == (ws.course / name).read_bytes()
    assert (ws.folder / "data" / "hosts.txt").read_text() == "server01 127.0.0.1\n"
    # the lessons' relative paths hold: my-notebooks/ sits where notebooks/ does
    assert (ws.folder / "..").resolve() == (ws.course / "..").resolve()
    assert ws.fill() == []  # a second launch with nothing new says nothing more


def test_a_second_launch_adds_a_new_lesson_and_keeps_a_modified_one(ws):
    ws.fill()
    edit(ws.folder / "03-load-balancer.ipynb")
    mine = (ws.folder / "03-load-balancer.ipynb").read_bytes()
    shutil.copyfile(ws.course / "00-welcome.ipynb", ws.course / "99-new-lesson.ipynb")  # git pull brings a lesson
    edit(ws.course / "03-load-balancer.ipynb", "# the course's fix")  # ... and changes one the student edited
    lines = prepare(ws)[1:]
    assert lines == ["  copied 99-new-lesson into my-notebooks/",
                     "  03-load-balancer: the course updated this lesson since your copy was made; yours is kept. "
                     "To take the new one: make reset NB=03 (your copy goes to backups/)"]
    assert (ws.folder / "99-new-lesson.ipynb").is_file()
    assert (ws.folder / "03-load-balancer.ipynb").read_bytes() == mine
    row = next(r for r in ws.status() if r["lesson"] == "03-load-balancer")
    assert row == {"lesson": "03-load-balancer", "your copy": "yes", "changed by you": "yes",
                   "course updated since": "yes"}
    assert prepare(ws)[1:] == lines[1:]  # said again at every launch until the student decides


def test_a_copy_the_student_never_changed_follows_the_course(ws):
    ws.fill()
    edit(ws.course / "04-health-checks.ipynb", "# corrected in the course")
    assert ws.fill() == ["updated 04-health-checks from the course (you had not changed them)"]
    assert (ws.folder / "04-health-checks.ipynb").read_bytes() == (ws.course / "04-health-checks.ipynb").read_bytes()


def test_outputs_an_old_session_saved_into_the_lessons_stay_the_students(ws):
    """Before my-notebooks/, make lab opened notebooks/ itself and autosave wrote outputs there."""
    lesson = ws.course / "03-load-balancer.ipynb"
    clean = lesson.read_bytes()
    edit(lesson, outputs=True)
    lines = ws.fill()
    assert lines[-1] == ("notebooks/ holds outputs a session saved into the course's files (03-load-balancer); "
                         "your copies keep them. `git checkout notebooks/` gives the course its clean files back.")
    lesson.write_bytes(clean)  # git checkout notebooks/
    assert ws.fill() == []
    assert "Hi!! from server 8080" in (ws.folder / lesson.name).read_text()  # the student's outputs, kept
    assert ws.state(lesson.name) == CopyState(lesson.name, exists=True, changed_by_you=True, course_updated=False)


def test_outputs_are_a_change_metadata_is_not(ws):
    ws.fill()
    copy = ws.folder / "00-welcome.ipynb"
    nb = json.loads(copy.read_text())
    nb["metadata"]["language_info"]["version"] = "3.99.0"  # a kernel of another Python, nothing of the student's
    copy.write_text(json.dumps(nb))
    assert not ws.state("00-welcome.ipynb").changed_by_you
    edit(copy, outputs=True)
    assert ws.state("00-welcome.ipynb").changed_by_you
    assert fingerprint(copy) != fingerprint(ws.course / "00-welcome.ipynb")


def test_a_deleted_copy_comes_back_from_the_course(ws):
    ws.fill()
    (ws.folder / "02-application-servers.ipynb").unlink()
    assert ws.fill() == ["copied 02-application-servers into my-notebooks/"]


def test_reset_of_one_lesson_keeps_a_backup_and_says_where(ws):
    ws.fill()
    edit(ws.folder / "03-load-balancer.ipynb", outputs=True)
    edit(ws.folder / "04-health-checks.ipynb")
    mine = (ws.folder / "03-load-balancer.ipynb").read_bytes()
    (line,) = ws.reset("03")
    backups = list((ws.folder / "backups").glob("*/03-load-balancer.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == mine
    where = backups[0].parent.relative_to(ws.root)
    assert line == f"reset 03-load-balancer to the course's version; your copy is kept in {where}/ (03-load-balancer)"
    assert (ws.folder / "03-load-balancer.ipynb").read_bytes() == (ws.course / "03-load-balancer.ipynb").read_bytes()
    assert ws.state("04-health-checks.ipynb").changed_by_you  # the other lesson is untouched
    assert ws.reset("03-load-balancer.ipynb") == [
        "reset 03-load-balancer: your copy was already the course's, nothing to back up"]


def test_reset_of_every_lesson(ws):
    ws.fill()
    for name in ("01-dns-load-balancing.ipynb", "05-monitoring.ipynb"):
        edit(ws.folder / name)
    (ws.folder / "data" / "hosts.txt").write_text("mine\n")
    (ws.folder / "my-own-notes.ipynb").write_text("{}")  # the student's own file: not the course's to reset
    (line,) = ws.reset()
    (stamp,) = (ws.folder / "backups").iterdir()
    assert sorted(p.relative_to(stamp).as_posix() for p in stamp.rglob("*") if p.is_file()) == \
        ["01-dns-load-balancing.ipynb", "05-monitoring.ipynb", "data/hosts.txt"]
    assert line.startswith(f"reset every lesson to the course's version; your copies are kept in "
                           f"{stamp.relative_to(ws.root)}/ (01-dns-load-balancing, 05-monitoring, data/hosts.txt)")
    assert not any(ws.state(n).changed_by_you for n in ws.course_files())
    assert (ws.folder / "my-own-notes.ipynb").read_text() == "{}"
    edit(ws.folder / "05-monitoring.ipynb")
    ws.reset("05")  # a second reset in the same second gets a folder of its own
    assert len(list((ws.folder / "backups").iterdir())) == 2


@pytest.mark.parametrize("which, why", [("9", "is no lesson"), ("0", "matches several lessons")])
def test_a_wrong_lesson_name_is_one_line_listing_the_lessons(ws, which, why):
    with pytest.raises(NotFoundError) as e:
        ws.reset(which)
    assert str(e.value) == (f"{which!r} {why}: give its number or name, one of "
                            + ", ".join(n.removesuffix(".ipynb") for n in LESSONS))


def test_the_command_line_resets_and_reports_a_wrong_name_in_one_line(ws):
    ws.fill()
    edit(ws.folder / "02-application-servers.ipynb")
    run = [sys.executable, "-m", "labsupport.course.launch", "--root", str(ws.root)]
    out = subprocess.run(run + ["reset", "02"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0 and out.stdout.startswith("reset 02-application-servers to the course's version")
    bad = subprocess.run(run + ["reset", "42"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("NotFoundError: '42' is no lesson") and bad.stderr.count("\n") == 1
    status = subprocess.run(run + ["status"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert re.search(r"^02-application-servers +yes +no", status.stdout, re.M), status.stdout


def test_notebook_00s_report_says_where_the_notebook_runs_and_how_to_reset(ws):
    assert copies_report(ws, ws.course) == [
        f"This notebook runs from {ws.course}, not from your copies in {ws.folder}: open the course with "
        "`make lab` to work in your own copies.", "You have no copies yet: `make lab` makes them on its first run."]
    ws.fill()
    assert copies_report(ws, ws.folder) == [
        "You work in my-notebooks/, your own copies; notebooks/ keeps the course's, so `git pull` is safe.",
        "To start a lesson afresh: `make reset NB=03` (or `make reset` for every lesson) in a terminal, in the "
        "course folder; your copy moves to my-notebooks/backups/."]
    assert Workspace.around(ws.folder).folder == ws.folder and Workspace.around(ws.course).folder == ws.folder
