"""The student's copies of the lessons: ``my-notebooks/``, a git-ignored folder beside ``notebooks/``.

``notebooks/`` holds the course's lessons (tracked; ``git pull`` updates them); JupyterLab opens
``my-notebooks/``, so autosave, outputs and answers land in the student's copies and never in a tracked
file. Being one level below the course folder like ``notebooks/``, the lessons' relative paths
(``../haproxy/...``, ``../backends/app.py``) work the same from there.

How it works: ``fill()`` copies every course file the folder lacks (the lessons and any data file beside
them) and records in ``.course-copies.json`` the fingerprint of the course's file it copied: for a notebook
its cells' types and sources (the course's lessons carry no outputs), for any other file its bytes. A copy's
own fingerprint counts its outputs too (a run is the student's work) and leaves metadata out (a kernel of
another Python changes it without the student doing anything). Comparing with the record tells, without
keeping a third copy, whether the student changed the copy and whether the course changed the lesson since.
A copy the student never changed follows the course; a changed one is kept, and the launch says how to
reset it. ``reset()`` moves the student's copy to ``backups/<time>/`` first, so nothing of theirs is lost.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFoundError
from .display.table import Table

FOLDER = "my-notebooks"
COURSE = "notebooks"
BACKUPS = "backups"
RECORD = ".course-copies.json"
ROOT = Path(__file__).resolve().parents[2]  # the course folder this library belongs to


def fingerprint(path: Path, outputs: bool = True) -> str:
    """What "changed" means for a course file: a notebook's cells (type, source, outputs), else its bytes.
    ``outputs=False`` leaves outputs out: the lesson as the course means it (its files carry none)."""
    data = path.read_bytes()
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(data)["cells"]
            data = json.dumps([[c.get("cell_type"), _text(c.get("source", "")),
                                c.get("outputs", []) if outputs else []] for c in cells], sort_keys=True).encode()
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # not a notebook JupyterLab could open either: its bytes are all there is
    return hashlib.sha256(data).hexdigest()


def has_outputs(path: Path) -> bool:
    return path.suffix == ".ipynb" and fingerprint(path) != fingerprint(path, outputs=False)


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


@dataclass(frozen=True)
class CopyState:
    """One course file as the student has it."""

    name: str  # its path inside notebooks/ ("03-load-balancer.ipynb")
    exists: bool  # the student has a copy
    changed_by_you: bool  # the copy differs from the course's file it was made from
    course_updated: bool  # the course's file changed since the copy was made


class Workspace:
    """The course's ``notebooks/`` and the student's ``my-notebooks/`` beside it, under ``root``."""

    def __init__(self, root: Path | str = ROOT):
        self.root = Path(root)
        self.course = self.root / COURSE
        self.folder = self.root / FOLDER
        self.backups = self.folder / BACKUPS
        self._record_path = self.folder / RECORD

    @classmethod
    def around(cls, cwd: Path | str) -> Workspace:
        """The workspace a kernel working in ``cwd`` belongs to (``my-notebooks/`` or ``notebooks/``)."""
        parent = Path(cwd).resolve().parent
        return cls(parent) if (parent / COURSE).is_dir() else cls()

    # ----- what there is
    def course_files(self) -> list[str]:
        """The course's files under notebooks/, as relative paths; hidden ones and caches left out."""
        return sorted(p.relative_to(self.course).as_posix() for p in self.course.rglob("*")
                      if p.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                                 for part in p.relative_to(self.course).parts))

    def lessons(self) -> list[str]:
        return [n for n in self.course_files() if n.endswith(".ipynb") and "/" not in n]

    def _record(self) -> dict[str, str]:
        try:
            record = json.loads(self._record_path.read_text(encoding="utf-8"))
            return {str(k): str(v) for k, v in record.items()} if isinstance(record, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save(self, record: dict[str, str]) -> None:
        self._record_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    def state(self, name: str, record: dict[str, str] | None = None) -> CopyState:
        record = self._record() if record is None else record
        copy, base = self.folder / name, record.get(name)
        if not copy.is_file():
            return CopyState(name, False, False, False)
        course = fingerprint(self.course / name, outputs=False)
        if base is None:  # a copy made before any record (or the record was lost): compare with the course
            return CopyState(name, True, fingerprint(copy) != course, False)
        return CopyState(name, True, fingerprint(copy) != base, course != base)

    def status(self) -> Table:
        """One row per lesson: does the student have a copy, did they change it, did the course since."""
        record = self._record()
        rows = []
        for name in self.lessons():
            s = self.state(name, record)
            rows.append({"lesson": name.removesuffix(".ipynb"), "your copy": "yes" if s.exists else "not yet",
                         "changed by you": _yes(s.changed_by_you) if s.exists else "",
                         "course updated since": _yes(s.course_updated) if s.exists else ""})
        return Table(rows, title=f"your copies, in {self.folder}")

    # ----- filling and resetting
    def fill(self) -> list[str]:
        """Copy what the folder lacks; bring unchanged copies up to date; return what to tell the student."""
        if not self.course.is_dir():
            raise NotFoundError(f"no lessons in {self.course}: give the course folder (the one holding notebooks/)")
        self.folder.mkdir(exist_ok=True)
        record, copied, updated, notes = self._record(), [], [], []
        for name in self.course_files():
            s = self.state(name, record)
            if not s.exists or (s.course_updated and not s.changed_by_you):
                if s.exists:  # nothing of the student's in it: the old course text needs no backup
                    (self.folder / name).unlink()
                self._replace(name, [])
                (updated if s.exists else copied).append(name)
            elif s.course_updated:
                notes.append(f"{_stem(name)}: the course updated this lesson since your copy was made; yours is "
                             f"kept. To take the new one: {reset_command(name)} (your copy goes to {BACKUPS}/)")
                continue  # the record keeps what the copy was made from
            record[name] = fingerprint(self.course / name, outputs=False)
        self._save(record)
        lines = []
        if copied:
            lines.append(f"copied {_listing(copied)} into {FOLDER}/")
        if updated:
            lines.append(f"updated {_listing(updated)} from the course (you had not changed them)")
        dirty = [n for n in self.lessons() if has_outputs(self.course / n)]
        if dirty:  # saved by a JupyterLab opened on notebooks/ itself, before my-notebooks/ existed
            notes.append(f"{COURSE}/ holds outputs a session saved into the course's files ({_listing(dirty)}); "
                         f"your copies keep them. `git checkout {COURSE}/` gives the course its clean files back.")
        return lines + notes

    def reset(self, which: str | None = None) -> list[str]:
        """Replace the student's copy of one lesson (``which``: "03", "03-load-balancer" ...) or of every
        course file with the course's; a copy that differs is moved to backups/<time>/ first."""
        names = self.course_files() if which is None else [self.find(which)]
        self.folder.mkdir(exist_ok=True)
        record, backup = self._record(), []
        moved = [name for name in names if self._replace(name, backup)]
        for name in names:
            record[name] = fingerprint(self.course / name, outputs=False)
        self._save(record)
        what = _stem(names[0]) if which is not None else "every lesson"
        if not moved:
            return [f"reset {what}: your copy was already the course's, nothing to back up"]
        return [f"reset {what} to the course's version; your {'copy is' if len(moved) == 1 else 'copies are'} "
                f"kept in {backup[0].relative_to(self.root)}/ ({_listing(moved)})"]

    def _replace(self, name: str, backup: list[Path]) -> bool:
        """Put the course's file in place of the student's copy. A copy that differs moves to a new folder
        under backups/ first (made at the first need, then kept in ``backup``); True when one did."""
        src, dst = self.course / name, self.folder / name
        moved = dst.is_file() and fingerprint(dst) != fingerprint(src)
        if moved:
            if not backup:
                backup.append(self._new_backup_folder())
            (backup[0] / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(dst), str(backup[0] / name))
        if not dst.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)  # a fresh modification time: JupyterLab sees the file as new
        return moved

    def find(self, which: str) -> str:
        """The lesson ``which`` names: its number ("03"), its name, or its file name."""
        files = self.course_files()
        want = which.strip().removesuffix(".ipynb")
        exact = [n for n in files if n in (which, f"{want}.ipynb")]
        found = exact or [n for n in self.lessons() if n.startswith(want)]
        if len(found) != 1:
            lessons = ", ".join(_stem(n) for n in self.lessons())
            why = "matches several lessons" if found else "is no lesson"
            raise NotFoundError(f"{which!r} {why}: give its number or name, one of {lessons}")
        return found[0]

    def _new_backup_folder(self) -> Path:
        base = self.backups / time.strftime("%Y-%m-%d_%H%M%S")
        folder, n = base, 1
        while folder.exists():
            n += 1
            folder = base.with_name(f"{base.name}-{n}")
        folder.mkdir(parents=True)
        return folder


def your_copies(cwd: Path | str | None = None) -> None:
    """Notebook 00's cell: the student's copies as a table, how to reset one, and (in a live notebook run
    from my-notebooks/) a reset button. Headless (make test, nbval) it only reads and prints: never resets."""
    from IPython.display import display

    from .environment import HEADLESS, in_notebook

    here = Path.cwd() if cwd is None else Path(cwd)
    ws = Workspace.around(here)
    for line in copies_report(ws, here):
        print(line)
    if ws.folder.is_dir():
        display(ws.status())
    if not HEADLESS and in_notebook() and here.resolve() == ws.folder.resolve():
        display(_reset_widget(ws))


def copies_report(ws: Workspace, cwd: Path) -> list[str]:
    """What the 00 cell prints above the table: where this notebook runs from, and how to reset."""
    if cwd.resolve() != ws.folder.resolve():
        lines = [f"This notebook runs from {cwd}, not from your copies in {ws.folder}: open the course with "
                 f"`make lab` to work in your own copies."]
    else:
        lines = [f"You work in {FOLDER}/, your own copies; {COURSE}/ keeps the course's, so `git pull` is safe."]
    if not ws.folder.is_dir():
        return lines + ["You have no copies yet: `make lab` makes them on its first run."]
    return lines + [f"To start a lesson afresh: `{reset_command('03-load-balancer.ipynb')}` (or `{reset_command()}` "
                    f"for every lesson) in a terminal, in the course folder; your copy moves to {FOLDER}/{BACKUPS}/."]


def _reset_widget(ws: Workspace):
    import ipywidgets as w

    every = "every lesson"
    choice = w.Dropdown(options=[_stem(n) for n in ws.lessons()] + [every], description="Lesson")
    button = w.Button(description="Reset to the course's copy", button_style="warning",
                      layout=w.Layout(width="auto"))
    said = w.HTML()

    def reset(_):
        try:
            lines = ws.reset(None if choice.value == every else choice.value)
        except Exception as e:  # shown in the widget: a callback's exception would only reach the log
            said.value = f"<b>not reset</b>: {e}"
            return
        said.value = ("<br>".join(lines) + "<br>If that lesson is open in a tab, close it without saving, "
                      "or choose <i>Revert</i> when JupyterLab says the file changed on disk.")

    button.on_click(reset)
    for widget, name in ((choice, "choice"), (button, "button"), (said, "message")):
        widget.add_class(f"lab-reset-{name}")  # stable names for the browser tests
    return w.VBox([w.HBox([choice, button]), said]).add_class("lab-reset")


def reset_command(name: str | None = None) -> str:
    """The command a student types in the course folder (the same one the launcher runs)."""
    if name is None:
        return "make reset"
    return f"make reset NB={_stem(name).split('-')[0] if _stem(name)[:2].isdigit() else _stem(name)}"


def _stem(name: str) -> str:
    return name.removesuffix(".ipynb")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _listing(names: list[str]) -> str:
    if len(names) > 4:
        return f"{len(names)} {'lessons' if all(n.endswith('.ipynb') for n in names) else 'files'}"
    return ", ".join(_stem(n) for n in names)
