"""The course's JupyterLab, as ``make lab`` starts it, and the reset of a student's copies.

    python -m labsupport.course.launch lab [--root DIR] [JUPYTER OPTION ...]   # make lab
    python -m labsupport.course.launch reset [NB]                              # make reset [NB=03]
    python -m labsupport.course.launch status                                  # make copies
    python -m labsupport.course.launch lab --lessons                           # make edit-lessons
    python -m labsupport.course.launch prepare                                 # Binder's start: fill, no lab
    python -m labsupport.course.launch env                                     # export lines for a shell

``lab`` fills the student's folder (``workspace.Workspace.fill``), prints one line per thing the student
should know, and then becomes JupyterLab (``exec``: its pid is the server's, Ctrl+C stops it) on that
folder, with ``rescue.kernel_env()`` added to its environment so every kernel inherits it. The browser
tests start their server through ``lab`` too, so they test what students get.

``--lessons`` is for course authors: JupyterLab on the tracked ``notebooks/`` themselves, with the save hook
that keeps a lesson's stored Python version (``notebook_files``); students never need it.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ..errors import LabError
from ..rundir import run_dir
from .rescue import kernel_env
from .workspace import BACKUPS, COURSE, FOLDER, ROOT, Workspace, reset_command

SAVE_HOOK = "labsupport.course.notebook_files.keep_stored_python_version"  # the lessons themselves
STUDENT_HOOK = "labsupport.course.notebook_files.no_dead_widgets"  # the student's copies
FIRST = "00-welcome.ipynb"


def jupyter_command(root_dir: Path, extra: list[str], lessons: bool = False) -> list[str]:
    """The JupyterLab command line: this Python's jupyterlab, on ``root_dir``, local only."""
    cmd = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root_dir}",
           f"--LabApp.default_url=/lab/tree/{FIRST}"]
    if os.geteuid() == 0:  # containers run as root; JupyterLab refuses that unless told
        cmd.append("--allow-root")
    cmd.append(f"--ContentsManager.pre_save_hook={SAVE_HOOK if lessons else STUDENT_HOOK}")
    return cmd + extra


def lab_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: ours, plus what the course's kernels need (they inherit it)."""
    env = dict(os.environ if base is None else base)
    env.update(kernel_env())
    env["LAB_RUN"] = str(run_dir())  # this user's folder for sockets and logs: kernels and terminals see it
    return env


def prepare(ws: Workspace) -> list[str]:
    """Fill the student's folder; the lines ``make lab`` prints before JupyterLab starts."""
    lines = ws.fill()
    head = (f"Your copies of the lessons: {FOLDER}/ (git ignores it; {COURSE}/ keeps the course's, so `git pull` "
            f"is safe). Start one afresh: {reset_command('03')} (or {reset_command()}); yours goes to "
            f"{FOLDER}/{BACKUPS}/.")
    return [head] + [f"  {line}" for line in lines]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labsupport.course.launch", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the course folder (default: this checkout)")
    sub = parser.add_subparsers(dest="command", required=True)
    lab = sub.add_parser("lab", help="fill my-notebooks/ and open JupyterLab on it")
    lab.add_argument("--lessons", action="store_true", help="for course authors: open notebooks/ itself")
    reset = sub.add_parser("reset", help="replace your copy of one lesson (or every one) with the course's")
    reset.add_argument("nb", nargs="?", default=None, help="the lesson's number or name; none: every lesson")
    sub.add_parser("status", help="your copies: changed by you? updated by the course since?")
    sub.add_parser("prepare", help="fill my-notebooks/ and print what make lab prints, without starting JupyterLab")
    sub.add_parser("env", help="the environment the course's kernels need, as shell export lines")
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    ws = Workspace(args.root.resolve())
    try:
        if args.command == "reset":
            print("\n".join(ws.reset(args.nb or None)))
            return 0
        if args.command == "status":
            print(repr(ws.status()))
            return 0
        if args.command == "prepare":
            print("\n".join(prepare(ws)))
            return 0
        if args.command == "env":  # for repo2docker's start script: eval "$(python -m ... env)"
            extra_env = lab_environment({})
            print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(extra_env.items())))
            return 0
        if args.lessons:
            folder = ws.course
        else:
            print("\n".join(prepare(ws)), flush=True)
            folder = ws.folder
    except LabError as e:  # a wrong NB=...: one line, no traceback
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a folder that cannot be made or written
        print(f"cannot prepare your copies in {ws.folder}: {e.strerror or e} ({e.filename or ws.folder})",
              file=sys.stderr)
        return 2
    cmd = jupyter_command(folder, extra, lessons=args.lessons)
    os.chdir(folder)  # kernels start here: the lessons' ../haproxy and ../backends hold
    os.execve(cmd[0], cmd, lab_environment())
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
