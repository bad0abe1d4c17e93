"""Lessons stay as they were stored when JupyterLab saves them on another Python version.

A lesson records the Python version of the kernel that last ran it (``language_info.version``). A student
whose Python differs would see JupyterLab mark every lesson modified on opening and save the new version
number: ``git status`` dirty before any work. ``make lab`` installs this hook, which keeps the stored
version when JupyterLab saves; everything else (the student's outputs, edits) is saved as usual.
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
