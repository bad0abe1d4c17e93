"""A progress bar: an ipywidgets bar in a notebook, a one-line text bar on a terminal, else nothing."""
from __future__ import annotations

import sys
import time

from ..environment import HEADLESS, in_notebook


class Progress:
    """A progress bar: an ipywidgets bar in a notebook, a one-line text bar on a terminal, else nothing.

    Headless runs (``LAB_HEADLESS=1``, pipes, CI logs) show nothing, so saved outputs stay stable.
    """

    def __init__(self, total: float, label: str, enabled: bool):
        self.total, self.label, self.kind, self._last = max(total, 1e-9), label, None, 0.0
        if not enabled or HEADLESS:
            return
        if in_notebook():
            try:
                import ipywidgets
                from IPython.display import display

                self.bar = ipywidgets.FloatProgress(value=0, min=0, max=self.total, description=label)
                display(self.bar)
                self.kind = "widget"
            except Exception:
                self.kind = None
        elif sys.stderr.isatty():
            self.kind = "text"

    def update(self, done: float, force: bool = False) -> None:
        now = time.monotonic()
        if self.kind is None or (not force and now - self._last < 0.1):  # at most 10 redraws a second
            return
        self._last = now
        if self.kind == "widget":
            self.bar.value = min(done, self.total)
        else:
            frac = min(1.0, done / self.total)
            sys.stderr.write(f"\r{self.label} [{'#' * int(frac * 30):<30}] {frac:4.0%}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.kind == "widget":
            self.bar.close()
        elif self.kind == "text":
            sys.stderr.write("\r" + " " * (len(self.label) + 40) + "\r")
            sys.stderr.flush()
        self.kind = None
