"""Saving a lesson from a kernel of another Python version keeps the file as it was."""
from __future__ import annotations

import asyncio
import threading

import nbformat
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager, FileContentsManager
from support.references import LESSONS, as_jupyterlab_writes

from labsupport.course.notebook_files import keep_stored_python_version


def test_a_save_from_another_python_keeps_the_stored_version(tmp_path):
    text = (LESSONS / "00-welcome.ipynb").read_text(encoding="utf-8")
    (tmp_path / "lesson.ipynb").write_text(text, encoding="utf-8")
    cm = FileContentsManager(root_dir=str(tmp_path), pre_save_hook=keep_stored_python_version)
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
    cm = AsyncFileContentsManager(root_dir=str(tmp_path), pre_save_hook=keep_stored_python_version)

    async def open_and_save():
        model = await cm.get("lesson.ipynb", content=True)
        model["content"]["metadata"]["language_info"]["version"] = "3.99.0"
        await cm.save(model, "lesson.ipynb")

    # in a thread of its own: another test's kernel client may have left a loop running in this one
    worker = threading.Thread(target=asyncio.run, args=(open_and_save(),))
    worker.start()
    worker.join(30)
    assert (tmp_path / "lesson.ipynb").read_text(encoding="utf-8") == text
