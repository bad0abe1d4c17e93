"""Notebook 07's router in the browser: a typed request is answered on both balancers within a second."""
from __future__ import annotations

import time

import pytest

from . import selectors as sel
from .conftest import close_page, console_errors, open_page
from .notebook import Notebook
from .ui import text, within

NOTEBOOK = "07-the-edge.ipynb"
ANSWER = 1.0  # seconds from Enter to the answer on screen (the promise)


@pytest.fixture(scope="module")
def nb(browser, lab):
    """Notebook 07 run down to its router cell, the router on screen (as a student has it at that point)."""
    page = open_page(browser)
    notebook = Notebook(page, lab, NOTEBOOK).open()
    notebook.run_through("Router(explain=")
    page.wait_for_selector(sel.ROUTER_OUT, timeout=30_000)
    yield notebook
    close_page(page, lab)


def type_request(page, host: str, path: str) -> float:
    page.fill(sel.ROUTER_HOST, host)
    page.fill(sel.ROUTER_PATH, path)
    page.press(sel.ROUTER_PATH, "Enter")
    return time.monotonic()


def test_the_router_starts_with_an_answer_from_both_balancers(nb):
    out = within(10, lambda: text(nb.page, sel.ROUTER_OUT) or "", lambda t: "answered in" in t,
                 "the router shows its first answer")
    assert "engine" in out and "haproxy" in out and "api-v1" in out, out


@pytest.mark.parametrize("host, path, service", [
    ("www.lab", "/images/logo.png", "static"),
    ("api.lab", "/static/site.css", "api-v1"),
    ("API.LAB", "/v1/users", "api-v1"),
    ("www.lab", "/anything", "web"),
])
def test_a_typed_request_is_answered_within_a_second(nb, host, path, service):
    sent = type_request(nb.page, host, path)
    shown = within(ANSWER, lambda: text(nb.page, sel.ROUTER_OUT) or "",
                   lambda t: f"GET {host} {path}" in t and "answered in" in t,
                   f"the router answers GET {host} {path}", since=sent)
    answers = nb.page.locator(f"{sel.ROUTER_OUT} table").first.locator("tr").all_inner_texts()  # the first table
    rows = [r.split("\t") for r in answers if r.startswith(("engine", "haproxy"))]
    assert [r[:2] for r in rows] == [["engine", service], ["haproxy", service]], shown


def test_a_slip_in_the_path_is_one_red_line(nb):
    type_request(nb.page, "www.lab", "users")
    within(ANSWER, lambda: text(nb.page, sel.ROUTER_OUT) or "", lambda t: "the path starts with '/'" in t,
           "the router says how to write a path")
    assert not console_errors(nb.page)
