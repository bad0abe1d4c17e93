"""The library's shape: the engine imports nothing from the course, the config package has no cycle."""
from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parent.parent / "labsupport"
BELOW_BOTH = {"labsupport.errors", "labsupport.ports"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


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
                found.add(sub if (LIB.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                          or (LIB.parent / sub.replace(".", "/")).is_dir() else target)
    return found


def test_imports_of_sees_relative_and_lazy_imports():
    fleet = imports_of(LIB / "fleet.py")
    assert "labsupport.ports" in fleet and "labsupport.errors" in fleet
    assert "labsupport.engine.config.model" in imports_of(LIB / "engine" / "config" / "parser.py")


def test_engine_imports_nothing_from_the_course_side():
    offenders = []
    for path in sorted((LIB / "engine").rglob("*.py")):
        for target in imports_of(path):
            if not (target.startswith("labsupport.engine") or target in BELOW_BOTH):
                offenders.append(f"{path.relative_to(LIB.parent)} imports {target}")
    assert offenders == []


def test_errors_and_ports_import_neither_half():
    for name in ("errors.py", "ports.py"):
        assert imports_of(LIB / name) <= BELOW_BOTH, name


def test_config_package_has_no_import_cycle_and_no_module_getattr():
    pkg = LIB / "engine" / "config"
    graph = {module_name(p): {t for t in imports_of(p) if t.startswith("labsupport.engine.config.")}
             for p in pkg.glob("*.py") if p.name != "__init__.py"}
    for path in pkg.glob("*.py"):
        tree = ast.parse(path.read_text())
        assert not any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body), path
    # depth-first search for a cycle
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(trail + [node, nxt])
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    assert len(graph) >= 8  # model, words, keywords, context, conditions, server, proxy, parser, report


def test_no_module_is_named_dns():
    assert not any(p.stem == "dns" or (p.is_dir() and p.name == "dns") for p in LIB.rglob("*"))
