"""What JupyterLab's save does to the course's notebooks: two pre-save hooks.

``no_dead_widgets`` (``make lab``, the student's copies): a saved live widget is a reference to a model that
lives only in the kernel that drew it. Opened again later, JupyterLab finds no such model and shows "Error
displaying widget: model not found" where the dashboard was, and logs an error. The hook saves such an
output as a line of text saying what was there and how to bring it back; while the tab stays open the
widget keeps working (the hook changes the file, not the page).

``keep_stored_python_version`` (``make edit-lessons``): lessons stay as they were stored when JupyterLab
saves them on another Python version.

A lesson records the Python version of the kernel that last ran it (``language_info.version``). An author
whose Python differs would see JupyterLab mark every lesson modified on opening and save the new version
number: ``git status`` dirty before any work. ``make edit-lessons`` (JupyterLab on the tracked ``notebooks/``)
installs this hook, which keeps the stored version when JupyterLab saves; everything else is saved as usual.
``make lab`` does not need it: students work in their git-ignored copies (``workspace``), where a version
number of their own dirties nothing, and "changed by you" compares cells, not metadata.

Install it by its import string, as the command line does (``--ContentsManager.pre_save_hook=labsupport.
course.notebook_files.keep_stored_python_version``). Given as a callable to a contents manager's constructor,
jupyter_server warns "Overriding existing pre_save_hook (keep_stored_python_version) with a new one
(keep_stored_python_version)": traitlets validates constructor arguments only after storing them all
(``hold_trait_notifications``), so the validator finds the hook already set, to itself. It is installed once.
"""
from __future__ import annotations

import json
from typing import Any


def keep_stored_python_version(model: dict[str, Any], path: str, contents_manager: Any, **_: Any) -> None:
    """jupyter_server pre-save hook: a notebook keeps the ``language_info.version`` its file already has."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    try:  # read the file itself: JupyterLab's manager is async, its get() a coroutine
        with open(contents_manager._get_os_path(path), encoding="utf-8") as f:
            stored = json.load(f)
    except Exception:  # a new notebook, or one that cannot be read: nothing to keep
        return
    version = stored.get("metadata", {}).get("language_info", {}).get("version")
    info = model["content"].setdefault("metadata", {}).get("language_info")
    if version and isinstance(info, dict):
        info["version"] = version


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
DEAD_WIDGET = "(a live widget was here; it lives only while its kernel runs: run this cell again to see it)"


def no_dead_widgets(model: dict[str, Any], path: str, contents_manager: Any, **_: Any) -> None:
    """jupyter_server pre-save hook: widget outputs whose state is not saved with the notebook become text."""
    content = model.get("content") if model.get("type") == "notebook" else None
    if not isinstance(content, dict):
        return
    saved = (((content.get("metadata") or {}).get("widgets") or {}).get(WIDGET_STATE) or {}).get("state") or {}
    for cell in content.get("cells") or []:
        for output in cell.get("outputs") or [] if isinstance(cell, dict) else []:
            data = output.get("data") if isinstance(output, dict) else None
            view = data.get(WIDGET_VIEW) if isinstance(data, dict) else None
            if isinstance(view, dict) and view.get("model_id") not in saved:
                del data[WIDGET_VIEW]
                data["text/plain"] = DEAD_WIDGET

