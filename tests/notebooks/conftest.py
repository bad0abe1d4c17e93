"""nbval runs each reference with its kernel in notebooks/, where the lesson itself runs.

The references live here, out of the students' sight, but their cells open files by the paths a
student's notebook uses (``../haproxy/myhaproxy.cfg``): those resolve from notebooks/ only.
"""
from __future__ import annotations

from pathlib import Path

from nbval import plugin
from nbval.kernel import RunningKernel

HERE = Path(__file__).resolve().parent
LESSONS = HERE.parent.parent / "notebooks"


class LessonKernel(RunningKernel):
    """nbval's kernel, started in notebooks/ when nbval asks for this folder."""

    def __init__(self, kernel_name, cwd=None, startup_timeout=60):
        if cwd is not None and Path(cwd).resolve() == HERE:
            cwd = str(LESSONS)
        super().__init__(kernel_name, cwd=cwd, startup_timeout=startup_timeout)


plugin.RunningKernel = LessonKernel
