"""The library's shape: who may import whom, no import cycle anywhere, one home for each idea.

labsupport/ has two halves above a floor: ``errors``, ``ports`` and ``lifecycle`` sit below both;
``engine/`` (HAProxy 2.6 re-implemented) imports nothing from the course; ``course/`` (what two or
more lessons use) imports nothing from ``lessons/``; a lesson package never imports another's.
Imports are read from the source (ast), so those inside functions and under ``TYPE_CHECKING`` count.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "labsupport"
BELOW_BOTH = {"labsupport.errors", "labsupport.ports", "labsupport.lifecycle"}
MODULES = sorted(LIB.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    base = ROOT / name.replace(".", "/")
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def imports_of(path: Path) -> set[str]:
    """Every labsupport module ``path`` imports, at any depth (in functions too, TYPE_CHECKING too)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("labsupport")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("labsupport"):
                continue
            for alias in node.names:  # "from . import x" names a module x
                sub = f"{target}.{alias.name}"
                found.add(sub if _is_module(sub) else target)
    return found


GRAPH = {module_name(p): imports_of(p) for p in MODULES}


def test_imports_of_sees_relative_and_lazy_imports():
    fleet = imports_of(LIB / "course" / "fleet.py")
    assert {"labsupport.ports", "labsupport.errors", "labsupport.lifecycle"} <= fleet
    assert "labsupport.engine.config.model" in imports_of(LIB / "engine" / "config" / "parser.py")
    assert "labsupport.course.traffic.sender" in imports_of(LIB / "lessons" / "load" / "experiments.py")  # in a function


def test_the_floor_imports_neither_half():
    for name in BELOW_BOTH:
        assert GRAPH[name] <= BELOW_BOTH, name


def test_engine_imports_nothing_from_the_course_side():
    offenders = [f"{m} imports {t}" for m, targets in GRAPH.items() if m.startswith("labsupport.engine")
                 for t in targets if not (t.startswith("labsupport.engine") or t in BELOW_BOTH)]
    assert offenders == []


def test_course_imports_nothing_from_the_lessons():
    offenders = [f"{m} imports {t}" for m, targets in GRAPH.items() if m.startswith("labsupport.course")
                 for t in targets if t.startswith("labsupport.lessons")]
    assert offenders == []


def test_a_lesson_never_imports_another_lesson():
    offenders = []
    for m, targets in GRAPH.items():
        if m.startswith("labsupport.lessons."):
            mine = m.split(".")[2]
            offenders += [f"{m} imports {t}" for t in targets
                          if t.startswith("labsupport.lessons.") and t.split(".")[2] != mine]
    assert offenders == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return trail[trail.index(nxt):] + [nxt] if nxt in trail else trail + [node, nxt]
            if nxt not in state:
                found = visit(nxt, trail + [nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"b"}}) is None


def test_no_import_cycle_anywhere():
    """Module to module, TYPE_CHECKING and function-level imports counted."""
    graph = {m: {t for t in targets if t != m} for m, targets in GRAPH.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_no_module_getattr_below_the_public_surface():
    for path in MODULES:
        if path == LIB / "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        assert not any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body), path


def _taken_names() -> set[str]:
    """Python's own modules and the top-level names of every installed distribution (flask, dns, ...)."""
    installed = {n for n in importlib.metadata.packages_distributions() if not n.startswith("_")}
    return (set(sys.stdlib_module_names) | installed) - {"labsupport"}


def test_no_module_or_folder_is_named_like_a_package_python_or_a_dependency_owns():
    taken = _taken_names()
    clashes = sorted(str(p.relative_to(ROOT)) for p in MODULES
                     if (p.stem if p.name != "__init__.py" else p.parent.name) in taken)
    assert clashes == []


def test_the_top_holds_at_most_eight_modules_and_no_file_is_long():
    top = [p.name for p in LIB.glob("*.py")]
    assert len(top) <= 8, top
    long = [f"{p.relative_to(ROOT)}: {n}" for p in MODULES if (n := len(p.read_text().splitlines())) > 500]
    assert long == []


def test_one_home_for_each_idea():
    text = {p: p.read_text() for p in MODULES}
    assert [p.name for p, t in text.items() if re.search(r"^def percentile\(", t, re.M)] == ["results.py"]  # LoadRun.percentile calls it
    assert [p for p, t in text.items() if 'sys.modules.get("labsupport' in t] == []
    assert [p for p, t in text.items() if "LAB_HEADLESS\")" in t or "LAB_HEADLESS')" in t] == \
        [LIB / "course" / "environment.py"]
    assert [p for p, t in text.items() if re.search(r"^\s*atexit\.register", t, re.M)] == [LIB / "lifecycle.py"]
    assert [p for p, t in text.items() if re.search(r"hasattr\((target|lb|self\.target)\b", t)] == []


def test_no_private_name_crosses_a_module_line():
    offenders = []
    for path in MODULES:
        tree = ast.parse(path.read_text())
        modules_here: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("labsupport")):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        offenders.append(f"{path.relative_to(ROOT)} imports {alias.name}")
                    modules_here.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules_here
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                offenders.append(f"{path.relative_to(ROOT)} reads {node.value.id}.{node.attr}")
    assert offenders == []


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_import_from_the_public_surface_only(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert re.findall(r"(?:from|import) labsupport\.\w+", code) == []
