"""Small helpers the UI tests share: timed waits on what the page shows, colours, HTTP."""
from __future__ import annotations

import time
import urllib.request

from playwright.sync_api import Page


def rgb(hex_color: str) -> str:
    """"#d64541" as the browser reports a computed colour: "rgb(214, 69, 65)"."""
    h = hex_color.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4)))


def css(page: Page, selector: str, prop: str) -> str | None:
    return page.evaluate("([s, p]) => { const e = document.querySelector(s); "
                         "return e ? getComputedStyle(e)[p] : null }", [selector, prop])


def text(page: Page, selector: str) -> str | None:
    return page.evaluate("s => { const e = document.querySelector(s); return e ? e.textContent : null }", selector)


def within(seconds: float, read, ok, what: str, since: float | None = None):
    """Poll ``read()`` until ``ok(value)``, at most ``seconds`` after ``since`` (default: now).

    Returns the value; fails with what was last seen and how long it waited.
    """
    start = time.monotonic() if since is None else since
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() - start > seconds:
            raise AssertionError(f"{what}: not within {seconds:g} s (last seen: {value!r}, "
                                 f"waited {time.monotonic() - start:.2f} s)")
        time.sleep(0.05)


def http_get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def answers(url: str) -> str:
    """The page at ``url``, or the error in words (for ``within``: a server may still be starting)."""
    try:
        return http_get(url, timeout=2)
    except OSError as e:
        return f"no answer: {e}"
