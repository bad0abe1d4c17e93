"""Saving a lesson from a kernel of another Python version keeps the file as it was; saving a student's copy
keeps no dead widget.

The hook is given by its import string, as ``make edit-lessons`` gives it: given as a callable, jupyter_server
warns that it overrides an existing hook (itself; see notebook_files' docstring). Here that warning is a
failure, so it cannot come back unseen."""
from __future__ import annotations

import asyncio
import threading

import nbformat
import pytest
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager, FileContentsManager
from support.references import LESSONS, as_jupyterlab_writes

from labsupport.course.launch import SAVE_HOOK as HOOK  # by its import string, as make edit-lessons installs it
from labsupport.course.launch import STUDENT_HOOK
from labsupport.course.notebook_files import DEAD_WIDGET, WIDGET_STATE, WIDGET_VIEW

pytestmark = pytest.mark.filterwarnings("error:Overriding existing pre_save_hook")


def test_a_save_from_another_python_keeps_the_stored_version(tmp_path):
    text = (LESSONS / "00-welcome.ipynb").read_text(encoding="utf-8")
    (tmp_path / "lesson.ipynb").write_text(text, encoding="utf-8")
    cm = FileContentsManager(root_dir=str(tmp_path), pre_save_hook=HOOK)
    model = cm.get("lesson.ipynb", content=True)
    stored = model["content"]["metadata"]["language_info"]["version"]
    model["content"]["metadata"]["language_info"]["version"] = "3.99.0"  # what that kernel reports
    cm.save(model, "lesson.ipynb")
    saved = (tmp_path / "lesson.ipynb").read_text(encoding="utf-8")
    assert saved == text, "the save changed the lesson"
    assert nbformat.reads(saved, as_version=4).metadata.language_info.version == stored

    model["content"]["cells"][0]["source"] = "# edited"  # real edits are saved as usual
    cm.save(model, "lesson.ipynb")
    edited = nbformat.read(tmp_path / "lesson.ipynb", as_version=4)
    assert edited.cells[0].source == "# edited" and edited.metadata.language_info.version == stored
    assert as_jupyterlab_writes(edited).count("\n") > 10


def test_jupyterlabs_async_manager_runs_the_hook_too(tmp_path):
    text = (LESSONS / "00-welcome.ipynb").read_text(encoding="utf-8")
    (tmp_path / "lesson.ipynb").write_text(text, encoding="utf-8")
    cm = AsyncFileContentsManager(root_dir=str(tmp_path), pre_save_hook=HOOK)

    async def open_and_save():
        model = await cm.get("lesson.ipynb", content=True)
        model["content"]["metadata"]["language_info"]["version"] = "3.99.0"
        await cm.save(model, "lesson.ipynb")

    # in a thread of its own: another test's kernel client may have left a loop running in this one
    worker = threading.Thread(target=asyncio.run, args=(open_and_save(),))
    worker.start()
    worker.join(30)
    assert (tmp_path / "lesson.ipynb").read_text(encoding="utf-8") == text


def test_a_students_copy_saves_a_live_widget_as_a_line_of_text(tmp_path):
    """make lab's hook: a widget view whose model lives only in the kernel becomes text when saved (opened
    later, JupyterLab would show 'model not found' there); one whose state the notebook saved stays."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("Dashboard(lb)"),
                                         nbformat.v4.new_code_cell("panel")])
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={
        WIDGET_VIEW: {"model_id": "dead", "version_major": 2, "version_minor": 0}, "text/plain": "VBox()"})]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={
        WIDGET_VIEW: {"model_id": "kept", "version_major": 2, "version_minor": 0}, "text/plain": "HBox()"})]
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": {"kept": {}}, "version_major": 2, "version_minor": 0}}
    nbformat.write(nb, tmp_path / "copy.ipynb")
    cm = FileContentsManager(root_dir=str(tmp_path), pre_save_hook=STUDENT_HOOK)
    cm.save(cm.get("copy.ipynb", content=True), "copy.ipynb")
    saved = nbformat.read(tmp_path / "copy.ipynb", as_version=4)
    assert saved.cells[0].outputs[0].data == {"text/plain": DEAD_WIDGET}
    assert saved.cells[1].outputs[0].data[WIDGET_VIEW]["model_id"] == "kept"
