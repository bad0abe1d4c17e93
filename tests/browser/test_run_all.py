"""Every notebook, the way a student meets it: open it (no outputs), Run All, and look at the page."""
from __future__ import annotations

import pytest

from .conftest import console_errors
from .labserver import REPO
from .notebook import Notebook

NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))  # new lessons are covered as they land


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_run_all_shows_no_error_and_renders_every_widget(headless_page, headless_lab, name):
    """On the headless server (LAB_HEADLESS=1, as make test runs the lessons): the short versions."""
    page = headless_page
    nb = Notebook(page, headless_lab, name).open()
    nb.run_all()
    problems = nb.problems()
    assert not problems, f"{name} after Run All:\n" + "\n".join(problems)
    errors = console_errors(page)
    assert not errors, f"{name}: browser console errors:\n" + "\n".join(errors)
