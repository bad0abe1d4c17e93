"""Lesson 07's routing widget: type a request (method, Host, path), see who answers it on each balancer.

    Router(engine=lb, haproxy=hx)            # a widget in a live notebook
    Router(engine=lb).route("GET api.lab /v1/users")   -> Table (what the widget shows, headless too)

Every answer is a real request sent through the balancer (a new connection each time), so the engine
and real HAProxy are compared on what they do, not on what a model of them says. With an ``explain``
function (the engine's own view: which ACLs hold for the request) the widget also lists the ACLs.
ipywidgets wiring only; the requests come from services.ask.
"""
from __future__ import annotations

import html
import time
from typing import Callable, Iterable

from ...course.display.table import Table
from ...errors import LabError, UsageError
from .services import METHODS, address, ask, parse_request

Explain = Callable[[str, str, str], Iterable[tuple[str, bool]]]  # (method, host, path) -> (acl, holds)


class Router:
    """A request typed in, who answered it on each balancer (and, with ``explain``, which ACLs hold)."""

    def __init__(self, explain: Explain | None = None, **balancers) -> None:
        self.urls = {label: address(b) for label, b in balancers.items() if b is not None}  # None: not there
        if not self.urls:
            raise UsageError("Router needs at least one balancer, e.g. Router(engine=lb, haproxy=hx)")
        self.explain = explain
        self.last: Table | None = None
        self.seconds = 0.0  # how long the last answer took, all balancers together
        self._widget = None

    def route(self, request: str) -> Table:
        """'GET api.lab /v1/users' -> one row per balancer: who answered, what path and Host it saw."""
        method, host, path = parse_request(request)
        t0 = time.monotonic()
        rows = []
        for label, url in self.urls.items():
            a = ask(url, path, host or None, method)
            rows.append({"balancer": label, "answered by": a.who,
                         "path it saw": a.path + (f"?{a.query}" if a.query else "") if a.status == 200 else "",
                         "Host it saw": a.host or "" if a.status == 200 else ""})
        self.seconds = time.monotonic() - t0
        self.last = Table(rows, title=f"{method} {host or '(no Host)'} {path}")
        return self.last

    def acls(self, request: str) -> Table:
        """Which ACLs hold for this request, as the engine evaluates them (needs ``explain``)."""
        if self.explain is None:
            raise UsageError("this Router has no explain function: Router(explain=..., engine=lb)")
        method, host, path = parse_request(request)
        rows = [{"acl": name, "holds": "yes" if holds else "no"} for name, holds in self.explain(method, host, path)]
        return Table(rows, columns=["acl", "holds"],
                     title="" if rows else "(this frontend declares no named ACL: its rules use anonymous ones or maps)")

    # ------------------------------------------------------------------ the widget
    @property
    def widget(self):
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self):
        import ipywidgets as w

        self.method = w.Dropdown(options=METHODS, value="GET", layout=w.Layout(width="8em"))
        self.host = w.Text(value="api.lab", placeholder="Host, e.g. api.lab", continuous_update=False,
                           layout=w.Layout(width="14em"))
        self.path = w.Text(value="/v1/users", placeholder="path, e.g. /v1/users", continuous_update=False,
                           layout=w.Layout(width="20em"))
        self.send = w.Button(description="send", icon="paper-plane", button_style="primary")
        self.out = w.HTML()
        for widget, cls in ((self.method, "lab-route-method"), (self.host, "lab-route-host"),
                            (self.path, "lab-route-path"), (self.send, "lab-route-send"), (self.out, "lab-route-out")):
            widget.add_class(cls)
        for field in (self.method, self.host, self.path):
            field.observe(lambda _: self._update(), names="value")
        self.send.on_click(lambda _: self._update())
        box = w.VBox([w.HBox([self.method, self.host, self.path, self.send]), self.out])
        box.add_class("lab-router")
        self._update()
        return box

    def _update(self) -> None:
        request = f"{self.method.value} {self.host.value.strip() or '-'} {self.path.value.strip() or '/'}"
        try:
            if not self.path.value.strip().startswith("/"):
                raise UsageError("the path starts with '/', e.g. /v1/users")
            if not self.host.value.strip() or any(c.isspace() for c in self.host.value.strip()):
                raise UsageError("type a Host without spaces, e.g. api.lab")
            table = self.route(request)
            parts = [table._repr_html_()]
            if self.explain is not None:
                parts.append(self.acls(request)._repr_html_())
            parts.append(f'<span style="color:#666">answered in {self.seconds * 1000:.0f} ms</span>')
            self.out.value = "".join(parts)
        except LabError as e:
            self.out.value = f'<span style="color:#d64541">{html.escape(str(e))}</span>'

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return f"Router({', '.join(f'{k}={v}' for k, v in self.urls.items())})"
