"""The student never presses save; JupyterLab's autosave does, into the student's copy and never the lesson.

The test lab autosaves every ``selectors.AUTOSAVE_S`` seconds (JupyterLab's default is 120; the interval is
in ``selectors.LAB_SETTINGS``). The lab runs on ``my-notebooks/`` as ``make lab`` starts it (labserver.py),
and its ``notebooks/`` is a git repository of its own, so "the lessons are unchanged" is ``git status``.
"""
from __future__ import annotations

import json
import time

from . import selectors as sel
from .conftest import console_errors
from .notebook import Notebook

LESSON = "00-welcome.ipynb"


def saved_outputs(path) -> str:
    """The text of every output stored in a notebook file ("" while a save is writing it: jupyter_server's
    atomic writing keeps a backup aside and rewrites the file in place)."""
    try:
        cells = json.loads(path.read_text())["cells"]
    except ValueError:
        return ""
    return json.dumps([c.get("outputs", []) for c in cells])


def test_autosave_writes_the_students_copy_and_leaves_the_lessons_unchanged(page, lab):
    copy = lab.folder / LESSON
    assert "Hi!! from server" not in saved_outputs(copy)
    assert lab.tracked_changes() == ""
    nb = Notebook(page, lab, LESSON).open()
    nb.run_through("fleet.ask(port)")  # Run All Above: runs the cells, saves nothing by itself
    shown = page.locator(sel.CELL, has_text="fleet.ask(port)").locator(sel.OUTPUT).inner_text()
    assert "Hi!! from server" in shown

    started = time.monotonic()
    deadline = started + 6 * sel.AUTOSAVE_S + 20  # a few intervals, on a busy machine
    while "Hi!! from server" not in saved_outputs(copy):
        assert time.monotonic() < deadline, (f"autosave did not save {copy.name} within "
                                             f"{deadline - started:.0f} s (interval {sel.AUTOSAVE_S} s)")
        page.wait_for_timeout(250)
    assert lab.tracked_changes() == "", "a lesson file in notebooks/ changed"
    assert "Hi!! from server" not in saved_outputs(lab.root / "notebooks" / LESSON)
    assert console_errors(page) == []


def test_the_reset_button_of_notebook_00_resets_a_lesson_and_keeps_a_backup(page, lab):
    lesson = lab.folder / "01-dns-load-balancing.ipynb"
    nb_json = json.loads(lesson.read_text())
    nb_json["cells"][0]["source"] = "my notes from an earlier session"
    lesson.write_text(json.dumps(nb_json))
    nb = Notebook(page, lab, LESSON).open()
    nb.run_cell("your_copies()")
    cell = page.locator(sel.CELL, has_text="import your_copies")  # (its first line: selecting may fold the input)
    assert "You work in my-notebooks/" in cell.locator(sel.OUTPUT).first.inner_text()
    row = cell.locator("tr", has_text="01-dns-load-balancing").inner_text().split("\t")
    assert [v.strip() for v in row][:3] == ["01-dns-load-balancing", "yes", "yes"]  # lesson, your copy, changed

    page.wait_for_selector(sel.RESET_WIDGET)  # a live notebook run from my-notebooks/ shows the button
    page.select_option(sel.RESET_CHOICE, "01-dns-load-balancing")
    page.click(sel.RESET_BUTTON)
    message = page.locator(sel.RESET_MESSAGE)
    message.filter(has_text="reset 01-dns-load-balancing").wait_for(timeout=15_000)
    backups = list((lab.folder / "backups").glob("*/01-dns-load-balancing.ipynb"))
    assert len(backups) == 1 and "my notes from an earlier session" in backups[0].read_text()
    assert f"backups/{backups[0].parent.name}/" in message.inner_text()
    assert lesson.read_bytes() == (lab.root / "notebooks" / lesson.name).read_bytes()
    assert lab.tracked_changes() == ""
