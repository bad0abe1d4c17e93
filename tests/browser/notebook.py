"""One notebook open in JupyterLab, driven the way a student drives it: menus, clicks, keys.

What the tests read back comes from the page (prompts, outputs, widgets), never from the kernel.
"""
from __future__ import annotations

import re
import time

from playwright.sync_api import Page

from . import selectors as sel
from .labserver import LabServer, wait_ports_free

KERNEL_START = 90.0  # seconds: a kernel's first start on a busy 2-core machine
RUN_ALL = 240.0  # seconds for Run All of one notebook (they take 5-60 s; generous on a loaded machine)

_IDLE_JS = """([indicator, items, idleText]) => {
    const ind = document.querySelector(indicator);
    const kernel = [...document.querySelectorAll(items)].some(e => new RegExp(idleText).test(e.textContent.trim()));
    return kernel && ind !== null && ind.dataset.status === 'idle';
}"""
_PROMPTS_JS = "sel => [...document.querySelectorAll(sel)].map(e => e.textContent.trim())"


class Notebook:
    def __init__(self, page: Page, lab: LabServer, name: str):
        self.page, self.lab, self.name = page, lab, name

    # ----- opening and waiting
    def open(self) -> Notebook:
        wait_ports_free()  # the lessons' fixed ports: another run of them on this machine may still hold them
        self.page.goto(self.lab.notebook_url(self.name))
        self.page.wait_for_selector(sel.CODE_CELL, timeout=KERNEL_START * 1000)
        self.wait_idle(KERNEL_START, steady=1.0)  # a kernel just started may report idle, then connect again
        return self

    def kernel_idle(self) -> bool:
        return self.page.evaluate(_IDLE_JS, [sel.EXECUTION_INDICATOR, sel.STATUS_BAR_ITEM, sel.KERNEL_IDLE_TEXT])

    def prompts(self) -> list[str]:
        return self.page.evaluate(_PROMPTS_JS, f"{sel.CODE_CELL} {sel.INPUT_PROMPT}")

    def wait_idle(self, timeout: float, steady: float = 0.0) -> None:
        """Until the kernel waits for work and no cell is queued or running ("[*]"), for ``steady`` s."""
        deadline = time.monotonic() + timeout
        since = None
        while time.monotonic() < deadline:
            if self.kernel_idle() and not any("*" in p for p in self.prompts()):
                since = since or time.monotonic()
                if time.monotonic() - since >= steady:
                    return
            else:
                since = None
            self.page.wait_for_timeout(250)
        raise AssertionError(f"{self.name}: the kernel was still busy after {timeout:.0f} s "
                             f"(prompts {' '.join(self.prompts())})")

    # ----- running
    def menu(self, menu: str, item: str) -> None:
        self.page.click(f"{sel.MENU_BAR_ITEM}:has-text('{menu}')")
        self.page.locator(sel.MENU_ITEM, has_text=re.compile(f"^{re.escape(item)}")).first.click()

    def _run(self, menu: str, item: str, timeout: float) -> float:
        start = time.monotonic()
        self.menu(menu, item)
        # JupyterLab marks every queued cell "[*]" at once: wait for that, then for all of them to finish
        self.page.wait_for_function("sel => [...document.querySelectorAll(sel)].some(e => e.textContent.includes('*'))",
                                    arg=f"{sel.CODE_CELL} {sel.INPUT_PROMPT}", timeout=30_000)
        self.wait_idle(timeout)
        return time.monotonic() - start

    def run_all(self, timeout: float = RUN_ALL) -> float:
        """Run > Run All Cells, and wait until it is done; returns the seconds it took."""
        return self._run(sel.MENU_RUN, sel.RUN_ALL, timeout)

    def cell_sources(self) -> list[str]:
        return self.page.evaluate("([c, t]) => [...document.querySelectorAll(c)].map(e => "
                                  "(e.querySelector(t) || {textContent: ''}).textContent)",
                                  [sel.CELL, sel.CELL_EDITOR_TEXT])

    def run_through(self, snippet: str, timeout: float = RUN_ALL) -> float:
        """Run every cell from the top down to (and including) the first code cell containing ``snippet``."""
        sources = self.cell_sources()
        index = next((i for i, s in enumerate(sources) if snippet in s), None)
        assert index is not None, f"{self.name}: no cell contains {snippet!r} (the tests expect that cell)"
        if index + 1 < len(sources):
            self.select_cell(index + 1)
            took = self._run(sel.MENU_RUN, sel.RUN_ALL_ABOVE, timeout)
        else:
            took = self.run_all(timeout)
        prompt = self.page.locator(sel.CELL).nth(index).locator(sel.INPUT_PROMPT).inner_text().strip()
        if not re.fullmatch(r"\[\d+\]:", prompt):
            problems = "\n".join(self.problems(widget_wait=0))
            raise AssertionError(f"{self.name}: the cell with {snippet!r} did not run (its prompt: {prompt}); "
                                 f"prompts {' '.join(self.prompts())}\n{problems}")
        return took

    def active_cell(self) -> int:
        return self.page.evaluate("c => [...document.querySelectorAll(c)].findIndex("
                                  "e => e.classList.contains('jp-mod-active'))", sel.CELL)

    def run_cell(self, snippet: str, timeout: float = RUN_ALL) -> int:
        """Run the one code cell containing ``snippet`` (select, Ctrl+Enter), as a student jumping ahead
        does; returns its index. Later ``run_until`` calls go on after it."""
        index = next((i for i, s in enumerate(self.cell_sources()) if snippet in s), None)
        assert index is not None, f"{self.name}: no cell contains {snippet!r} (the tests expect that cell)"
        self._run_one(index, timeout)
        self._next_cell = index + 1
        return index

    def _run_one(self, index: int, timeout: float) -> None:
        self.select_cell(index)  # also takes the keyboard back (a click in an iframe keeps it otherwise)
        self.page.keyboard.press("Control+Enter")
        self.wait_idle(timeout)
        cell = self.page.locator(sel.CELL).nth(index)
        for out in cell.locator(sel.STDERR_OUTPUT).all_text_contents():
            if any(m in out for m in sel.TRACEBACK_MARKERS):
                raise AssertionError(f"{self.name}: cell {index + 1} raised:\n{out.strip()[-1500:]}")

    def run_until(self, selector: str, timeout: float = RUN_ALL) -> int:
        """Run cells one by one (select, Ctrl+Enter), from the top or from where the previous call stopped,
        until ``selector`` shows on the page; returns the index of the cell that showed it.
        For lessons whose cells the tests do not know."""
        deadline = time.monotonic() + timeout
        count = self.page.locator(sel.CELL).count()
        for index in range(getattr(self, "_next_cell", 0), count):
            self._run_one(index, max(1.0, deadline - time.monotonic()))
            if self.page.locator(selector).count():
                self._next_cell = index + 1
                return index
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"{self.name}: ran cells up to {index + 1} of {count} and {selector!r} never appeared")

    def select_cell(self, index: int) -> None:
        cell = self.page.locator(sel.CELL).nth(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").first.click(position={"x": 5, "y": 5})  # the prompt: not the collapser, not the editor
        self.page.keyboard.press("Escape")  # command mode: keys act on cells, not on the text
        self.page.wait_for_function("([c, i]) => document.querySelectorAll(c)[i].classList.contains('jp-mod-active')",
                                    arg=[sel.CELL, index], timeout=10_000)

    def restart_kernel(self) -> None:
        """Kernel > Restart Kernel…, and confirm the dialog."""
        self.menu(sel.MENU_KERNEL, sel.RESTART_KERNEL)
        self.page.click(sel.DIALOG_ACCEPT)

    # ----- what the page shows
    def problems(self, widget_wait: float = 30) -> list[str]:
        """Everything wrong on the page after a run: error outputs, cells Run All never reached,
        widgets that failed (or never finished) rendering, and errors JupyterLab's log console caught
        (a widget's Python callback that raised)."""
        found = []
        prompts = self.prompts()
        if any(p in ("[ ]:", "") for p in prompts):
            ran = [i for i, p in enumerate(prompts) if re.fullmatch(r"\[\d+\]:", p)]
            stop = self.page.locator(sel.CODE_CELL).nth(ran[-1] if ran else 0)
            found.append(f"cells never ran (Run All stops at an error): prompts {' '.join(prompts)}; the last "
                         f"cell that ran:\n{(stop.text_content() or '')[-1500:]}")
        for text in self.page.locator(sel.STDERR_OUTPUT).all_text_contents():
            if any(m in text for m in sel.TRACEBACK_MARKERS):
                found.append("error output:\n" + text.strip()[-1500:])
        deadline = time.monotonic() + widget_wait  # widgets render asynchronously: give them time
        while True:
            failed = [t for t in self.page.locator(sel.OUTPUT).all_text_contents()
                      if any(m in t for m in sel.WIDGET_FAILED)]
            if not failed or time.monotonic() > deadline:
                break
            self.page.wait_for_timeout(250)
        found += [f"widget not rendered: {t.strip()[:300]}" for t in failed]
        found += [f"a chart shown as text, not as a picture: {t.strip()[:100]}"
                  for t in self.page.locator(sel.OUTPUT).all_text_contents() if sel.FIGURE_AS_TEXT in t]
        logged = self.log_console()
        if logged:
            found.append("JupyterLab's log console caught:\n" + logged[-1500:])
        return found

    def log_console(self) -> str:
        """The log console's text if it logged anything (it stays hidden otherwise)."""
        status = self.page.locator(sel.LOG_CONSOLE_STATUS)
        if not status.count() or not status.is_visible():
            return ""
        status.click()  # opens the log console
        self.page.wait_for_selector(sel.LOG_CONSOLE_ENTRIES, timeout=10_000)
        return "\n".join(self.page.locator(sel.LOG_CONSOLE_ENTRIES).all_inner_texts())
