"""The lessons and their reference runs: what students open, and what the build checks.

``notebooks/NAME.ipynb`` is what a student opens: no outputs, no execution counts, and the metadata
JupyterLab and ipykernel write, so opening and saving it changes nothing. ``tests/notebooks/NAME.ipynb``
is the same notebook executed once: nbval (``make test``) runs it again and compares the cells tagged
``nbval-check-output`` with the outputs stored there.

Refresh after editing a lesson (also strips the outputs JupyterLab saved into the lesson)::

    make references                      # every notebooks/*.ipynb
    make references NB=04-health-checks  # one lesson
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
LESSONS = ROOT / "notebooks"
REFERENCES = ROOT / "tests" / "notebooks"

# What JupyterLab 4 with ipykernel writes. language_info comes from the kernel that ran the reference.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO_KEYS = {"codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter",
                      "pygments_lexer", "version"}
# Cell metadata the lessons may carry; anything else (nbclient timings, collapsed, scrolled) is dropped.
KEEP_CELL_METADATA = ("tags",)
NBVAL_TAGS = {"nbval-check-output", "nbval-ignore-output", "nbval-skip", "nbval-raises-exception"}


def refresh_command(name: str) -> str:
    return f"make references NB={name}"


def lesson_names() -> list[str]:
    return sorted(p.stem for p in LESSONS.glob("*.ipynb"))


def as_jupyterlab_writes(nb: nbformat.NotebookNode) -> str:
    """The exact text JupyterLab's save writes (jupyter_server -> nbformat.write): indent 1, sorted keys."""
    return nbformat.writes(nb, version=nbformat.NO_CONVERT) + "\n"


def strip(nb: nbformat.NotebookNode, language_info: dict | None = None) -> nbformat.NotebookNode:
    """The lesson form of a notebook: no outputs, no counts, only the metadata a fresh JupyterLab writes."""
    nb = nbformat.from_dict(nb)
    keep_info = language_info or nb.metadata.get("language_info", {})
    nb.metadata = nbformat.from_dict({"kernelspec": dict(KERNELSPEC), "language_info": dict(keep_info)})
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict({k: cell.metadata[k] for k in KEEP_CELL_METADATA if k in cell.metadata})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def cell_sources(nb: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    """What must agree between a lesson and its reference: each cell's type, source and tags."""
    return [(c.cell_type, c.source, tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def execute(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel whose working directory is notebooks/, as in JupyterLab."""
    from nbclient import NotebookClient

    os.environ["LAB_HEADLESS"] = "1"  # live loops stop by themselves
    run = nbformat.from_dict(nb)
    NotebookClient(run, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(LESSONS)}},
                   record_timing=False, store_widget_state=False).execute()
    return run


def refresh(name: str) -> None:
    """Strip the lesson in place, run it, and store the run as its reference."""
    path = LESSONS / f"{name}.ipynb"
    if not path.exists():
        raise SystemExit(f"no lesson {path.relative_to(ROOT)}; lessons: {', '.join(lesson_names())}")
    lesson = strip(nbformat.read(path, as_version=4))
    print(f"running {path.relative_to(ROOT)} ...", flush=True)
    run = execute(lesson)
    lesson = strip(lesson, language_info=run.metadata.get("language_info"))  # what the kernel reports
    path.write_text(as_jupyterlab_writes(lesson), encoding="utf-8")
    reference = nbformat.from_dict(run)
    reference.metadata = nbformat.from_dict(dict(lesson.metadata))
    for cell in reference.cells:
        cell.metadata = nbformat.from_dict({k: cell.metadata[k] for k in KEEP_CELL_METADATA if k in cell.metadata})
    REFERENCES.mkdir(exist_ok=True)
    out = REFERENCES / f"{name}.ipynb"
    out.write_text(as_jupyterlab_writes(reference), encoding="utf-8")
    print(f"  wrote {out.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="lesson names without .ipynb (default: all)")
    args = parser.parse_args(argv)
    names = [n.removesuffix(".ipynb").split("/")[-1] for n in args.names] or lesson_names()
    for name in names:
        refresh(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
