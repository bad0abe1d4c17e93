"""Lesson 08: a shopper with a browser's cookie jar, and what each server saw of it.

    shop = Shopper("http://127.0.0.1:8000", "ada")
    shop.walk(["login", "add book", "add pen", "cart", "cart"])     -> Table, one row per request
    shop.cookies()                                                   -> what the browser stores

A ``Shopper`` is one browser: a ``requests.Session`` that keeps the cookies it is given and sends them
back, as a browser does. Each step is one request to the lesson's session servers (backends/sessions.py)
through the balancer: ``login`` (POST /login?user=NAME), ``add ITEM`` (POST /cart?item=ITEM), ``cart``
(GET /cart), ``logout``. A row says which server answered, whether it knew the session, the cart it
holds, the ``Cookie`` header the browser sent and the one the server received (a balancer can add or
remove cookies on the way), and any cookie the answer set. Session ids are random; a table shows each as a
short name in the order it appeared (``#1``, ``#2``...), so two rows with the same id are easy to see
(``Shopper(..., raw_ids=True)`` shows them as they are).
"""
from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import urlsplit

import requests

from ...course.display.table import Table
from ...errors import UsageError

STEPS = ("login", "add ITEM", "cart", "logout")
SESSION_ID = re.compile(r"\b[0-9a-f]{16}\b")  # backends/sessions.py: secrets.token_hex(8)


class Shopper:
    """One browser with a cookie jar, shopping at ``url`` as ``user``."""

    def __init__(self, url: str, user: str = "ada", timeout: float = 3.0, raw_ids: bool = False) -> None:
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"Shopper needs an address like http://127.0.0.1:8000, not {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.user = user
        self.timeout = timeout
        self.browser = requests.Session()
        self.raw_ids = raw_ids
        self._ids: dict[str, str] = {}

    def _named(self, text: str) -> str:
        """``text`` with each session id replaced by its short name (#1, #2...) unless raw_ids."""
        if self.raw_ids:
            return text
        return SESSION_ID.sub(lambda m: self._ids.setdefault(m.group(0), f"#{len(self._ids) + 1}"), text)

    def __repr__(self) -> str:
        return f"<Shopper {self.user!r} at {self.url}, cookies: {self.cookies() or 'none'}>"

    def cookies(self) -> str:
        """The cookies the browser stores, as it would send them: 'NAME=value; ...'."""
        return self._named("; ".join(f"{c.name}={c.value}" for c in self.browser.cookies))

    def step(self, what: str) -> dict:
        """One request ('login', 'add ITEM', 'cart', 'logout'): a row of what happened."""
        words = what.split(maxsplit=1)
        verb = words[0].lower() if words else ""
        if verb == "login" and len(words) == 1:
            method, path, params = "POST", "/login", {"user": self.user}
        elif verb == "add" and len(words) == 2:
            method, path, params = "POST", "/cart", {"item": words[1]}
        elif verb == "cart" and len(words) == 1:
            method, path, params = "GET", "/cart", {}
        elif verb == "logout" and len(words) == 1:
            method, path, params = "POST", "/logout", {}
        else:
            raise UsageError(f"cannot read the step {what!r}: use one of {', '.join(STEPS)}")
        try:
            r = self.browser.request(method, self.url + path, params=params, timeout=self.timeout)
        except requests.RequestException as e:
            return {"step": what, "answered by": f"no answer ({e.__class__.__name__})", "status": ""}
        sent = r.request.headers.get("Cookie", "")
        row = {"step": what, "answered by": "", "status": r.status_code, "knows you": "", "cart": "",
               "browser sent": self._named(sent) or "-", "server saw": "",
               "answer set": self._named(r.headers.get("Set-Cookie", "")) or "-"}
        try:
            seen = r.json()
        except ValueError:
            row["answered by"] = f"{r.status_code} {r.reason}"
            return row
        if isinstance(seen, dict) and "server" in seen:
            row.update({"answered by": seen["server"], "knows you": "yes" if seen.get("logged_in") else "no",
                        "cart": ", ".join(seen.get("items") or []) or "(empty)",
                        "server saw": self._named(seen.get("cookie_seen") or "") or "-"})
        return row

    def walk(self, steps: Iterable[str]) -> Table:
        """Several steps in order, one row each."""
        steps = list(steps)
        if not steps:
            raise UsageError(f"give some steps, e.g. shop.walk(['login', 'add book', 'cart']) ({', '.join(STEPS)})")
        if len(steps) > 200:
            raise UsageError(f"{len(steps)} steps: at most 200 at a time")
        return Table([self.step(s) for s in steps])
