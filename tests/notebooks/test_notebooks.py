"""The lessons as students open them, and their references as the build checks them.

Every notebooks/*.ipynb is covered, including lessons added later: each must be stored as
JupyterLab writes it (so opening it changes nothing), carry no outputs and no test machinery in
its text, and have a reference run in tests/notebooks/ whose cells match its own.
"""
from __future__ import annotations

import nbformat
import pytest

from support.references import (KERNELSPEC, LANGUAGE_INFO_KEYS, LESSONS, NBVAL_TAGS, REFERENCES, as_jupyterlab_writes,
                        cell_sources, lesson_names, refresh_command)

NAMES = lesson_names()


def test_there_are_lessons():
    assert len(NAMES) >= 4, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_lesson_round_trips_unchanged(name):
    """JupyterLab's save of the unopened lesson writes the very same bytes."""
    text = (LESSONS / f"{name}.ipynb").read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    assert as_jupyterlab_writes(nb) == text, (
        f"{name}.ipynb is not stored as JupyterLab writes it; run: {refresh_command(name)}")
    nbformat.validate(nb)
    assert all("id" in cell for cell in nb.cells), f"cells without ids; run: {refresh_command(name)}"


@pytest.mark.parametrize("name", NAMES)
def test_lesson_metadata_is_what_ipykernel_writes(name):
    nb = nbformat.read(LESSONS / f"{name}.ipynb", as_version=4)
    assert set(nb.metadata) == {"kernelspec", "language_info"}, f"run: {refresh_command(name)}"
    assert dict(nb.metadata.kernelspec) == KERNELSPEC, f"run: {refresh_command(name)}"
    assert set(nb.metadata.language_info) == LANGUAGE_INFO_KEYS, f"run: {refresh_command(name)}"
    assert nb.metadata.language_info.name == "python"


@pytest.mark.parametrize("name", NAMES)
def test_lesson_has_no_outputs_and_no_test_machinery(name):
    nb = nbformat.read(LESSONS / f"{name}.ipynb", as_version=4)
    for i, cell in enumerate(nb.cells):
        where = f"{name}.ipynb cell {i}"
        assert "NBVAL_" not in cell.source.upper(), f"{where}: use a cell tag, not a comment"
        assert set(cell.metadata) <= {"tags"}, f"{where}: metadata {sorted(cell.metadata)}; run: {refresh_command(name)}"
        unknown = {t for t in cell.metadata.get("tags", ()) if t.startswith("nbval") and t not in NBVAL_TAGS}
        assert not unknown, f"{where}: unknown nbval tag {unknown}"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{where} carries an output; run: {refresh_command(name)}")


@pytest.mark.parametrize("name", NAMES)
def test_reference_matches_lesson(name):
    """The reference is a run of this very lesson: same cells, same sources, same tags."""
    path = REFERENCES / f"{name}.ipynb"
    assert path.exists(), f"{name} has no reference run tests/notebooks/{name}.ipynb; run: {refresh_command(name)}"
    lesson = cell_sources(nbformat.read(LESSONS / f"{name}.ipynb", as_version=4))
    reference = cell_sources(nbformat.read(path, as_version=4))
    for i, (mine, theirs) in enumerate(zip(lesson, reference)):
        assert mine == theirs, (f"{name}.ipynb cell {i} differs from its reference run; run: {refresh_command(name)}"
                                f"\nlesson:    {mine!r}\nreference: {theirs!r}")
    assert len(lesson) == len(reference), (
        f"{name}.ipynb has {len(lesson)} cells, its reference {len(reference)}; run: {refresh_command(name)}")


@pytest.mark.parametrize("name", NAMES)
def test_reference_checks_something(name):
    """A reference that checks no output would let any change pass."""
    nb = nbformat.read(REFERENCES / f"{name}.ipynb", as_version=4) if (REFERENCES / f"{name}.ipynb").exists() else None
    if nb is None:
        pytest.fail(f"no reference; run: {refresh_command(name)}")
    checked = [c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", ())]
    assert checked, f"{name}: no cell tagged nbval-check-output"
    assert any(c.outputs for c in checked), f"{name}: no checked cell has a stored output; run: {refresh_command(name)}"


@pytest.mark.parametrize("name", NAMES)
def test_reference_shows_every_chart_as_a_picture(name):
    """A Figure a cell returns reaches the student as a PNG, never as '<Figure size 1100x420 with 2 Axes>'
    (that happens when nothing registered the picture formatter: labsupport.course.display.charts does, on import)."""
    path = REFERENCES / f"{name}.ipynb"
    if not path.exists():
        pytest.fail(f"no reference; run: {refresh_command(name)}")
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        for out in cell.get("outputs", []):
            text = "".join(out.get("data", {}).get("text/plain", "")) + "".join(out.get("text", ""))
            assert "<Figure size " not in text or "image/png" in out.get("data", {}), (
                f"{name} cell {i} shows a chart as text: {text.strip()[:80]}")


def test_no_orphan_references():
    orphans = sorted(p.stem for p in REFERENCES.glob("*.ipynb") if p.stem not in NAMES)
    assert not orphans, f"references without a lesson (delete them): {orphans}"
