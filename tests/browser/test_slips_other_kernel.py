"""A slip students make: a lesson's tab closed without shutting its kernel down, then the next lesson
wants the same ports. The student sees one line naming the first notebook and how to shut its kernel
down; following it in JupyterLab's Running panel, then running the cell again, works."""
from __future__ import annotations

import re
import time

import psutil

from labsupport.ports import listener

from . import selectors as sel
from .conftest import close_page, open_page
from .notebook import Notebook
from .ui import answers, within

FIRST = "03-load-balancer.ipynb"  # its first code cell starts four servers on 8080-8083
SECOND = "02-application-servers.ipynb"  # starts four servers on the same ports
START_02 = "fleet.start([8080, 8081, 8082, 8083])"


def run(nb: Notebook, snippet: str, timeout: float = 120) -> int:
    """Run the one code cell containing ``snippet`` as a student does (click its prompt, Ctrl+Enter) and
    wait until its prompt shows a new execution count; returns its index."""
    index = next(i for i, s in enumerate(nb.cell_sources()) if snippet in s)
    prompt = nb.page.locator(sel.CELL).nth(index).locator(sel.INPUT_PROMPT)
    before = prompt.inner_text().strip()
    nb.page.bring_to_front()
    prompt.click()  # selects the cell (a click beside the editor may land on its collapser)
    nb.page.keyboard.press("Escape")
    nb.page.keyboard.press("Control+Enter")
    within(timeout, lambda: prompt.inner_text().strip(), lambda p: re.fullmatch(r"\[\d+\]:", p) and p != before,
           f"{nb.name}: the cell with {snippet!r} ran")
    return index


def outputs(nb: Notebook, index: int) -> list[str]:
    return nb.page.locator(sel.CELL).nth(index).locator(sel.OUTPUT).all_inner_texts()


def test_a_kernel_left_running_by_a_closed_tab(browser, lab):
    # Both tabs open first: opening waits for the lessons' ports to be free, which they will not be.
    first = Notebook(open_page(browser), lab, FIRST).open()
    second = Notebook(open_page(browser), lab, SECOND).open()
    try:
        run(first, START_02)  # 03's first code cell: its four servers run
        holder = listener(8080)
        kernel = psutil.Process(holder.pid).parent()
        first.page.close()  # the tab is gone; its kernel and servers keep running

        run(second, "from labsupport import")  # 02's first code cell, then its servers' cell
        index = run(second, START_02)
        (shown,) = outputs(second, index)
        assert "\n" not in shown.strip() and not any(m in shown for m in sel.TRACEBACK_MARKERS), shown
        assert shown.strip() == (
            f"PortInUseError: port 8080 on 127.0.0.1 is already in use by an application server that the kernel "
            f"of notebook {FIRST} started (pid {holder.pid}). Shut that kernel down: JupyterLab's Running panel "
            f"(left sidebar, 'Running Terminals and Kernels') → shut down {FIRST}, or run stop_all() in that "
            "notebook, or choose another port.")

        # The hint, followed in the UI: the Running panel, that notebook's kernel, its shut-down button.
        page = second.page
        page.click(sel.RUNNING_TAB)
        item = page.locator(sel.running_kernel(FIRST)).first
        item.wait_for(timeout=15_000)
        item.hover()
        clicked = time.monotonic()
        item.locator(f"> {sel.RUNNING_SHUTDOWN}").click()
        page.locator(sel.running_kernel(FIRST)).first.wait_for(state="detached", timeout=30_000)
        gone = time.monotonic() - clicked
        within(10, lambda: listener(8080), lambda h: h is None, "port 8080 free once the kernel is shut down")
        freed = time.monotonic() - clicked
        assert not kernel.is_running() or kernel.status() == psutil.STATUS_ZOMBIE

        run(second, START_02)  # the same cell again: it works now
        assert outputs(second, index) == ["[8080, 8081, 8082, 8083]"]  # its ports, no error
        for port in (8080, 8081, 8082, 8083):
            within(5, lambda p=port: answers(f"http://127.0.0.1:{p}/"), lambda a, p=port: a == f"Hi!! from server {p}",
                   f"{port} answers {SECOND}'s server")
        assert psutil.Process(listener(8080).pid).parent().pid != kernel.pid
        print(f"\n{FIRST}'s kernel gone from the Running panel {gone:.2f} s after the click, port 8080 free "
              f"{freed:.2f} s after the click")
    finally:
        if not first.page.is_closed():
            first.page.close()
        close_page(second.page, lab)  # shuts every kernel of this lab down, and checks nothing survives
