"""Opening the lessons still being written (04, 05): skipped while missing, run cell by cell until their widget shows.

Their cells are not known here: ``Notebook.run_until`` runs the lesson until the widget a test needs
shows, found by the stable classes the lessons promise (tests/browser/selectors.py).
"""
from __future__ import annotations

import re

import pytest

from .conftest import close_page, open_page
from .labserver import REPO
from .notebook import Notebook


def lesson(number: str) -> str:
    found = sorted((REPO / "notebooks").glob(f"{number}-*.ipynb"))
    if not found:
        pytest.skip(f"notebook {number} not in this checkout")
    return found[0].name


def open_until(request, number: str, selector: str | None) -> Notebook:
    """Open lesson ``number`` in a new tab and run it cell by cell until ``selector`` shows (None: only open)."""
    name = lesson(number)  # skips before JupyterLab and Chromium start, when the lesson is missing
    browser, lab = request.getfixturevalue("browser"), request.getfixturevalue("lab")
    page = open_page(browser)
    nb = Notebook(page, lab, name).open()
    try:
        if selector is not None:
            nb.run_until(selector)
    except BaseException:
        close_page(page, lab)
        raise
    return nb


def check_setting(nb: Notebook, keyword: str, default: float | None, unit_ms: bool = False) -> float | None:
    """A health-check setting (``inter 500ms``, ``fall 2``) as the cells run so far write it (the last such
    cell wins: it is the configuration in force), else ``default`` (HAProxy's)."""
    ran = nb.cell_sources()[:getattr(nb, "_next_cell", None)]
    found = re.findall(rf"\b{keyword}\s+(\d+)(ms|s)?\b", "\n".join(ran))
    if not found:
        return default
    value, unit = found[-1]
    return float(value) / 1000 if unit_ms and unit == "ms" else float(value)
