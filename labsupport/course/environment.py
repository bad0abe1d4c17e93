"""Where the course runs: what this machine has (Python, packages, the optional system tools),
whether it runs headless, and whether a notebook's kernel is running it."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

from ..errors import ToolMissingError
from .display.table import Table

# Headless (LAB_HEADLESS=1: make test, nbval, CI): live loops run a moment, bars and live charts stay
# quiet, lessons take their short runs, so saved outputs are stable and a build never waits on a widget.
HEADLESS = os.environ.get("LAB_HEADLESS") == "1"

PACKAGES = ["flask", "httptools", "dnspython", "matplotlib", "ipywidgets", "psutil", "jupyterlab"]
TOOLS = {
    "haproxy": ("sudo apt-get install haproxy",
                "runs the very same haproxy.cfg files on the real HAProxy, side by side with the course's engine"),
    "dig": ("sudo apt-get install dnsutils",
            "the classic DNS query tool; the DNS lesson runs it next to its own Python version"),
}


def in_notebook() -> bool:
    """Running in an IPython kernel (a student's cell), not in a script or a test."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and ipython.get_ipython() is not None


def find_tool(name: str) -> str | None:
    """Path of a system program, also looking in /usr/sbin (where Debian puts haproxy)."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.access(p, os.X_OK)), None)


def tool_version(path: str) -> str:
    try:
        out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=5)
        return ((out.stdout or out.stderr).strip().splitlines() or [""])[0][:40]
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def check_environment() -> Table:
    """One row per requirement: what was found, and what to do when something is missing."""
    ok = sys.version_info >= (3, 10)
    rows = [{"what": "Python", "found": platform.python_version(),
             "status": "ok" if ok else "too old", "note": "" if ok else "the course needs Python 3.10 or newer"}]
    for pkg in PACKAGES:
        try:
            rows.append({"what": pkg, "found": importlib.metadata.version(pkg), "status": "ok", "note": ""})
        except importlib.metadata.PackageNotFoundError:
            rows.append({"what": pkg, "found": "-", "status": "missing",
                         "note": "run `make lab` from the course folder: it installs everything"})
    for tool, (install, adds) in TOOLS.items():
        path = find_tool(tool)
        rows.append({"what": tool, "found": tool_version(path) if path else "-",
                     "status": "ok" if path else "optional, not installed",
                     "note": adds if path else f"{install}: {adds}"})
    return Table(rows, columns=["what", "found", "status", "note"], title="Your machine")


_carried_on: list[str] = []  # the tools blocks of this kernel carried on without, in order


@contextmanager
def if_installed() -> Iterator[None]:
    """Run a block that needs an optional tool; without the tool, say what is missing and carry on. Once a
    block has carried on, a later block that meets a NameError (a name the skipped block would have made)
    carries on too, saying so; before that a NameError is the student's own and shows as usual.

    >>> with if_installed():
    ...     HAProxy.from_file("../haproxy/myhaproxy.cfg").check()
    """
    try:
        yield
    except ToolMissingError as missing:
        _carried_on.append(missing.tool)
        print(f"{missing}\n{getattr(missing, 'carry_on', 'Carrying on without it: the rest of this notebook does not need it.')}")
    except NameError as missing:
        # a name an earlier block would have made, had it not carried on past a missing tool (only then)
        if not _carried_on:
            raise
        print(f"{missing.name or 'a name this cell uses'} was never made: an earlier cell carried on without "
              f"{_carried_on[-1]}. Carrying on.")
