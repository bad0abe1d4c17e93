"""No answer on screen before its question: every "Predict" in a lesson is asked before its answer shows.

Read from the stored lessons (notebooks/*.ipynb), without a kernel. The rule, precisely:

- A markdown cell **asks for a prediction** when its visible text contains the word ``Predict``
  (capital P: the imperative, "**Predict:** ...", "Predict before you run it") or ``make a prediction``
  (any case). A lower-case "predict" ("many people predict ...", "what theory predicts") asks nothing.
- **Visible** text is the cell's text with every ``<details> ... </details>`` block removed (JupyterLab
  shows such a block collapsed, so what is inside stays hidden until the student opens it).
- The **question** is the paragraph (text between blank lines) holding the last such word in the cell.
  The code cell it asks about is the next code cell.
- Rule 1, before the output: no visible text may follow the question, neither in its own cell after
  the question's paragraph nor in any markdown cell between it and that code cell. Setting the scene
  goes before the question; anything said after it goes inside a ``<details>`` block.
- Rule 2, under the output: the first markdown cell after that code cell (and after any code cells
  right below it, such as a chart of the same result) is on screen while the cell runs. It must begin
  with a ``<details>`` block ("Check your prediction") or with a heading (a new section, not an
  explanation).

Cells are numbered from 0, in file order (JupyterLab shows no numbers: count from the top).
"""
from __future__ import annotations

import re

import nbformat
import pytest
from support.references import LESSONS, lesson_names

ASKS = re.compile(r"\bPredict\b|\bmake a prediction\b", re.IGNORECASE)
DETAILS = re.compile(r"<details\b.*?</details>", re.DOTALL | re.IGNORECASE)


def asks(text: str) -> bool:
    """Does this visible text ask for a prediction? ("Predict" capitalised, or "make a prediction")."""
    return any(m.group(0) == "Predict" or m.group(0).lower() == "make a prediction" for m in ASKS.finditer(text))


def visible(source: str) -> str:
    """What a student sees of a markdown cell before opening anything: its <details> blocks removed."""
    return DETAILS.sub("", source)


def after_question(text: str) -> str:
    """The visible text that follows the paragraph of the cell's last question."""
    last = [m for m in ASKS.finditer(text) if m.group(0) == "Predict" or m.group(0).lower() == "make a prediction"][-1]
    end = re.compile(r"\n\s*\n").search(text, last.end())
    return "" if end is None else text[end.end():].strip()


def short(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= 90 else one_line[:87] + "..."


def problems(cells) -> list[str]:
    """Every breach of rules 1 and 2 in a lesson's cells, one line each."""
    found = []
    for q, cell in enumerate(cells):
        if cell.cell_type != "markdown" or not asks(visible(cell.source)):
            continue
        rest = after_question(visible(cell.source))
        if rest:
            found.append(f"cell {q}: text after its Predict question: {short(rest)!r}")
        k = q + 1
        while k < len(cells) and cells[k].cell_type != "code":
            seen = visible(cells[k].source).strip()
            if seen:
                found.append(f"cell {k}: visible between the Predict of cell {q} and its code cell: {short(seen)!r}")
            k += 1
        while k < len(cells) and cells[k].cell_type == "code":
            k += 1
        if k < len(cells) and cells[k].cell_type == "markdown":
            first = cells[k].source.lstrip()
            if not (first.lower().startswith("<details") or first.startswith("#")):
                found.append(f"cell {k}: on screen under the output that cell {q} asks to predict, "
                             f"not inside <details>: {short(first)!r}")
    return found


@pytest.mark.parametrize("name", lesson_names())
def test_no_answer_on_screen_before_its_question(name):
    nb = nbformat.read(LESSONS / f"{name}.ipynb", as_version=4)
    found = problems(nb.cells)
    if found:
        pytest.fail(f"{name}.ipynb shows answers before the student predicts:\n  " + "\n  ".join(found), pytrace=False)


def _md(text):
    return nbformat.v4.new_markdown_cell(text)


def _code(text="x"):
    return nbformat.v4.new_code_cell(text)


def test_the_rule_catches_each_kind_of_giveaway():
    assert problems([_md("**Predict:** which?\n\nIt is the first."), _code()]) == [
        "cell 0: text after its Predict question: 'It is the first.'"]
    assert problems([_md("Make a prediction first."), _md("The first one wins."), _code()]) == [
        "cell 1: visible between the Predict of cell 0 and its code cell: 'The first one wins.'"]
    assert problems([_md("Predict the order."), _code(), _code(), _md("It rotates.")]) == [
        "cell 3: on screen under the output that cell 0 asks to predict, not inside <details>: 'It rotates.'"]


def test_the_rule_lets_hidden_and_later_answers_pass():
    hidden = "<details><summary>Check your prediction</summary>\n\nIt rotates.\n</details>"
    assert problems([_md("Setting the scene.\n\n**Predict** the order, then run:"), _code(), _md(hidden)]) == []
    assert problems([_md(f"**Predict:** which?\n\n{hidden}"), _code(), _md("## Next section\n\nMore.")]) == []
    assert problems([_md("Many people predict 1 2 3, and the theory predicts 4."), _md("Answer."), _code()]) == []
