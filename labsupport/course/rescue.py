"""After a kernel restart, a cell run in the middle says which cell to run first, not a NameError traceback.

How it works: ``kernel_env()`` gives the course's JupyterLab a ``JUPYTER_PATH`` whose ``python3`` kernelspec
starts ipykernel with this module as an IPython extension (``--ext``), so every kernel that JupyterLab
starts loads it; the student's own ``~/.ipython`` stays as it is. The extension installs one handler
for the course's errors (as ``labsupport.errors`` does) and for ``NameError``. jupyter_server tells each
kernel its notebook in ``JPY_SESSION_NAME``; on a NameError the handler reads that notebook, finds the
first code cell above the running one that assigns or imports the missing name, and says so in one
line. A name no cell above makes (a typo, a cell run out of order) keeps Python's own NameError.

nbval, plain Python and any other Jupyter never load it: only the course's launchers pass ``kernel_env()``.
"""
from __future__ import annotations

import ast
import json
import os
import re
import sys
from pathlib import Path

from ..errors import LabError, show_briefly
from ..rundir import run_dir

EXTENSION = __name__
HOW = "Run → Run All Above Selected Cell"


def kernel_env() -> dict[str, str]:
    """Environment variables to add to the JupyterLab server's environment (its kernels inherit them)."""
    folder = _kernelspec_folder()
    if folder is None:
        return {}
    existing = os.environ.get("JUPYTER_PATH")
    return {"JUPYTER_PATH": os.pathsep.join([str(folder)] + ([existing] if existing else []))}


def _kernelspec_folder() -> Path | None:
    """A Jupyter data folder holding kernels/python3 (this Python, plus the extension); None if none is writable."""
    try:
        from ipykernel.kernelspec import get_kernel_dict

        spec = get_kernel_dict()  # ipykernel's own python3 spec (this Python), plus the extension
    except ImportError:
        return None
    spec["argv"] = [*spec["argv"], f"--ext={EXTENSION}"]
    for root in (Path(sys.prefix) / "share" / "lab-course" / "jupyter",
                 run_dir() / "jupyter"):  # a venv this user may not write: this user's own run-time folder
        kernel = root / "kernels" / "python3"
        try:
            kernel.mkdir(parents=True, exist_ok=True)
            text = json.dumps(spec, indent=1)
            path = kernel / "kernel.json"
            if not path.is_file() or path.read_text() != text:
                path.write_text(text)
            return root
        except OSError:
            continue
    return None


# ----------------------------------------------------------------------------- reading the notebook
def bound_names(source: str) -> set[str]:
    """The names a cell's code binds at its top level (assignments, imports, defs, for/with targets)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)  # `!cmd` and `%magic` lines become Python
    except Exception:
        pass
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()

    class Binder(ast.NodeVisitor):
        def visit_Name(self, node: ast.Name) -> None:
            if isinstance(node.ctx, ast.Store):
                names.add(node.id)

        def visit_alias(self, node: ast.alias) -> None:
            if node.name != "*":
                names.add(node.asname or node.name.split(".")[0])

        def _named(self, node) -> None:  # a def or class binds its name; its body is another scope
            names.add(node.name)
            for d in node.decorator_list:
                self.visit(d)

        visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _named

        def visit_Lambda(self, node: ast.Lambda) -> None:
            pass

        def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
            if node.name:
                names.add(node.name)
            self.generic_visit(node)

        def _comprehension(self, node) -> None:  # its loop variables are its own; a walrus inside is not
            for n in ast.walk(node):
                if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name):
                    names.add(n.target.id)

        visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    Binder().visit(tree)
    return names


def _heading(cells: list[dict], index: int) -> str | None:
    for cell in reversed(cells[:index]):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("#"):
                    return re.sub(r"[*_`]", "", line.lstrip("#").strip())
    return None


def _first_line(source: str, width: int = 48) -> str:
    lines = [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    line = lines[0] if lines else ""
    return line if len(line) <= width else line[: width - 3].rstrip() + "..."


def explain(name: str, notebook: str | os.PathLike, current_cell: str | None = None) -> str | None:
    """The one line that names the cell making ``name`` in ``notebook``; None when no cell above makes it.

    ``current_cell`` is the running cell's id: the maker must come before it (without it, any cell)."""
    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    ids = [c.get("id") for c in cells]
    end = ids.index(current_cell) if current_cell in ids else len(cells)
    for i, cell in enumerate(cells[:end]):
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "code" and name in bound_names(source):
            under = _heading(cells, i)
            where = f"the cell under '{under}'" if under else "a cell near the top"
            return (f"name {name!r} is not defined yet (the kernel restarted, or the cells above have not run): "
                    f"{where} makes it (`{_first_line(source)}`). Run the cells above this one first "
                    f"({HOW}), then this cell again.")
    return None


# ----------------------------------------------------------------------------- in the kernel
def _current_cell(shell) -> str | None:
    try:
        return (shell.kernel.get_parent("shell").get("metadata") or {}).get("cellId")
    except Exception:
        return None


def _in_a_cell(shell, tb) -> bool:
    """The name was missing in the notebook's own code (a cell, or a function a cell defined), not in a library."""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals is shell.user_ns


def _handler(shell, etype, value, tb, tb_offset=None):
    if issubclass(etype, LabError):
        return show_briefly(shell, etype, value, tb, tb_offset)
    note = None
    notebook = os.environ.get("JPY_SESSION_NAME")
    if issubclass(etype, NameError) and getattr(value, "name", None) and notebook and _in_a_cell(shell, tb):
        note = explain(value.name, notebook, _current_cell(shell))
    if note is None:  # a genuine typo or bug: Python's own traceback
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    return show_briefly(shell, etype, etype(note), tb, tb_offset)


def load_ipython_extension(shell) -> None:
    """Installed by the course's kernelspec: the course's errors read briefly, and so does a missing name."""
    shell.set_custom_exc((LabError, NameError), _handler)
