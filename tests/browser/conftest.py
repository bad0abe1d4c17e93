"""Fixtures of the browser tests: one JupyterLab server and one Chromium for the session, a fresh page
(tab) per test, and on failure a screenshot and the browser console under test-artifacts/.

Without Chromium or Playwright these tests skip with the install command; CI exports
LAB_REQUIRE_BROWSER=1, which turns the skip into a failure (as LAB_REQUIRE_HAPROXY does for haproxy).
Chromium is Debian's (``executable_path``): ``playwright install`` is never needed.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from .labserver import REPO, LabServer

ARTIFACTS = REPO / "test-artifacts"
# Chromium refuses to run as root with its sandbox on; an ordinary user (a student, CI) keeps the sandbox.
CHROMIUM_ARGS = (["--no-sandbox"] if os.geteuid() == 0 else []) + [
    "--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"]
_CONSOLES: dict = {}  # page -> list of its console lines ("error: ...", "pageerror: ...")
_LABS: list[LabServer] = []  # the session's servers, whose logs go with the artifacts


def _missing(reason: str):
    if os.environ.get("LAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"LAB_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(f"{reason}; set LAB_REQUIRE_BROWSER=1 to make this a failure")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser")
                                             if os.access(p, os.X_OK)), None)
    if not path:
        _missing("Chromium is not installed (sudo apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("Playwright is not installed (.venv/bin/pip install -r requirements.txt)")
    return path


def _serve(tmp_path_factory, headless: bool):
    """A JupyterLab server on a temporary copy of the course, started as make lab starts it; nothing it
    started outlives it, and no lesson file in the copy's notebooks/ changed."""
    server = LabServer(tmp_path_factory.mktemp("jupyterlab"), headless=headless).start()
    _LABS.append(server)
    yield server
    survivors = server.stop()
    assert not survivors, f"still running after JupyterLab stopped (killed now): {survivors}"
    # a whole session of tests, autosaving every few seconds: the course's lessons are as committed
    assert server.tracked_changes() == "", f"the session wrote into notebooks/:\n{server.tracked_changes()}"


@pytest.fixture(scope="package")  # stopped when the browser tests end, not at the end of make test
def lab(chromium_path, tmp_path_factory):
    """The server the UI tests use: the lessons' live panels run as long as they do for a student."""
    yield from _serve(tmp_path_factory, headless=False)


@pytest.fixture(scope="package")  # stopped when the browser tests end, not at the end of make test
def headless_lab(chromium_path, tmp_path_factory):
    """The server for Run All: its kernels get LAB_HEADLESS=1, so every lesson takes its short version
    (notebook 06 runs for minutes by hand); widgets still render."""
    yield from _serve(tmp_path_factory, headless=True)


@pytest.fixture(scope="package")  # stopped when the browser tests end, not at the end of make test
def browser(chromium_path, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium_path,
            args=CHROMIUM_ARGS, headless=True, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        yield context
        context.close()


def open_page(browser):
    page = browser.new_page()
    lines = _CONSOLES[page] = []
    page.on("console", lambda m: lines.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: lines.append(f"pageerror: {e}"))
    return page


def close_page(page, lab) -> None:
    """Close the tab and shut its kernels down; a kernel leaving processes behind is an error."""
    page.close()
    _CONSOLES.pop(page, None)
    survivors = lab.shutdown_kernels()
    assert not survivors, f"still running after the kernel shut down (killed now): {survivors}"


def console_errors(page) -> list[str]:
    """Uncaught exceptions and console errors of the page, JupyterLab's known noise aside."""
    from . import selectors as sel

    return [line for line in _CONSOLES.get(page, []) if line.startswith(("error:", "pageerror:"))
            and not any(re.search(n, line) for n in sel.CONSOLE_NOISE)]


@pytest.fixture
def page(browser, lab):
    p = open_page(browser)
    yield p
    close_page(p, lab)


@pytest.fixture
def headless_page(browser, headless_lab):
    p = open_page(browser)
    yield p
    close_page(p, headless_lab)


def _page_of(item):
    """The test's page; while a fixture is still setting one up (and failed), the newest page."""
    for value in getattr(item, "funcargs", {}).values():
        candidate = getattr(value, "page", value)
        if any(candidate is p for p in _CONSOLES):
            return candidate
    return next(reversed(_CONSOLES), None)


def save_artifacts(page, nodeid: str) -> list[Path]:
    ARTIFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])[:120]
    png, log = ARTIFACTS / f"{stem}.png", ARTIFACTS / f"{stem}.console.log"
    saved = []
    try:
        page.screenshot(path=str(png), full_page=True, timeout=15_000)
        saved.append(png)
    except Exception as e:  # the page may be the reason for the failure: still write the log
        png = None
        log_prefix = f"(no screenshot: {e})\n"
    else:
        log_prefix = ""
    server_log = "".join(f"\n--- JupyterLab's log (tail, {'headless' if lab.headless else 'live'})\n"
                         f"{lab.log_tail(60)}\n" for lab in _LABS)
    log.write_text(log_prefix + "\n".join(_CONSOLES.get(page, [])) + "\n" + server_log)
    saved.append(log)
    return saved


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        page = _page_of(item)
        if page is None or page.is_closed():
            return
        files = ", ".join(str(p.relative_to(REPO)) for p in save_artifacts(page, item.nodeid))
        note = f"browser artifacts: {files}"
        longrepr = rep.longrepr
        if hasattr(longrepr, "addsection"):
            longrepr.addsection("browser artifacts", files)
        crash = getattr(longrepr, "reprcrash", None)
        if crash is not None:
            try:
                crash.message = f"{crash.message} [{note}]"
            except Exception:
                pass
        elif isinstance(longrepr, str):
            rep.longrepr = f"{longrepr}\n{note}"


def scratch_notebook(browser, lab, name: str, cells: list[str], until: str, selector: str):
    """A notebook of ``cells`` written next to the student's copies, opened and run down to the cell holding
    ``until`` until ``selector`` shows; yields the Notebook, then closes the page and deletes the file."""
    import nbformat

    from .notebook import Notebook

    path = lab.folder / name
    kernel = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}}
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells], metadata=kernel),
                   path)
    page = open_page(browser)
    try:
        notebook = Notebook(page, lab, name).open()
        notebook.run_through(until)
        page.wait_for_selector(selector, timeout=30_000)
        yield notebook
        close_page(page, lab)
    finally:
        path.unlink(missing_ok=True)
