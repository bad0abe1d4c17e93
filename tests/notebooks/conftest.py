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


# ----- how long each lesson took (printed at the end of the run): the course's budget is 120 s in all
BUDGET_S = 120
_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report) -> None:
    path = report.nodeid.partition("::")[0]
    if path.endswith(".ipynb"):
        name = Path(path).stem
        _SECONDS[name] = _SECONDS.get(name, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    if not _SECONDS:
        return
    terminalreporter.section("lessons under nbval")
    for name, seconds in sorted(_SECONDS.items()):
        terminalreporter.write_line(f"{seconds:6.1f} s  {name}")
    total = sum(_SECONDS.values())
    terminalreporter.write_line(f"{total:6.1f} s  in all (the course's budget: {BUDGET_S} s)")
