"""Lesson 07's services behind one address, and a way to ask who answers a request.

    start_services(fleet)                      # web, api-v1, api-v2, static, admin: Flask servers in service mode
    ask("http://127.0.0.1:8000", "/v1/users", host="api.lab")   -> Answer(who='api-v1', path='/v1/users', ...)
    route_table(["GET api.lab /v1/users", "GET www.lab /"], engine=lb.url, haproxy=hx.url)

Each service is ``backends/app.py --name NAME``: it answers every path with its name and what it saw
(method, path, query, Host, headers), so a table can show both where a request went and what the
balancer changed on the way (a rewritten path, an added header).
"""
from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from ...course.display.table import Table
from ...errors import UsageError

SERVICES: dict[str, int] = {"web": 8101, "api-v1": 8111, "api-v2": 8112, "static": 8121, "admin": 8131}
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


@dataclass(frozen=True)
class Answer:
    """One request's answer: who served it (a service's name, or what came back instead) and what it saw."""

    status: int | None
    who: str
    path: str = ""
    query: str = ""
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    location: str | None = None
    error: str | None = None

    def header(self, name: str) -> str | None:
        """A header as the service received it (None: it got none, or no service answered)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def start_services(fleet, names: Iterable[str] | None = None, https_only: Iterable[str] = ()) -> Table:
    """Start the lesson's services (all of them, or ``names``) in ``fleet``, each on its own port of
    127.0.0.1 (``SERVICES``). ``https_only``: services that redirect to https unless the balancer says
    ``X-Forwarded-Proto: https``. Returns a table of the services and their addresses."""
    chosen = list(SERVICES) if names is None else list(names)
    unknown = [n for n in chosen if n not in SERVICES]
    if unknown:
        raise UsageError(f"no service named {', '.join(map(repr, unknown))}; the lesson's services are "
                         f"{', '.join(SERVICES)}")
    strict = set(https_only)
    for name in chosen:
        fleet.start(SERVICES[name], name=name, https_only=name in strict)
    return Table([{"service": n, "address": f"127.0.0.1:{SERVICES[n]}",
                   "redirects plain http": "yes" if n in strict else ""} for n in chosen],
                 columns=["service", "address"] + (["redirects plain http"] if strict else []))


def ask(url: str, path: str = "/", host: str | None = None, method: str = "GET",
        headers: Mapping[str, str] | None = None, timeout: float = 3.0) -> Answer:
    """Send one request (a new connection) to the balancer at ``url`` with ``Host: host`` and say who answered."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme != "http" or not parts.hostname:
        raise UsageError(f"ask() needs an http:// address like http://127.0.0.1:8000, not {url!r}")
    method = method.upper()
    if method not in METHODS:
        raise UsageError(f"method {method!r}: use one of {', '.join(METHODS)}")
    if not path.startswith("/"):
        raise UsageError(f"the path must start with '/', e.g. '/api/users', not {path!r}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    sent = {"Host": host or f"{parts.hostname}:{parts.port or 80}", "Connection": "close", **(headers or {})}
    try:
        conn.request(method, path, headers=sent)
        r = conn.getresponse()
        body = r.read()
    except OSError as e:
        return Answer(None, f"no answer ({e.__class__.__name__})", error=str(e))
    finally:
        conn.close()
    location = r.getheader("Location")
    if r.status == 200 and r.getheader("Content-Type", "").startswith("application/json"):
        try:
            seen = json.loads(body)
            return Answer(200, seen["service"], seen["path"], seen["query"], seen["host"],
                          tuple((k, v) for k, v in seen["headers"]), location)
        except (ValueError, KeyError, TypeError):
            pass
    text = body.decode("latin-1").strip().splitlines()
    if location:
        who = f"{r.status} to {location}"
    else:
        who = f"{r.status} {r.reason}" + (f": {text[0][:40]}" if text and r.status != 503 else "")
    return Answer(r.status, who, location=location)


def address(balancer) -> str:
    """A balancer's first address: a URL as given, ``lb.url``, or ``hx.urls[0]`` (real HAProxy)."""
    if isinstance(balancer, str) and balancer:
        return balancer
    url = getattr(balancer, "url", None) or (getattr(balancer, "urls", None) or [None])[0]
    if not url:
        raise UsageError(f"give a balancer or its address (engine=lb, haproxy=hx, or 'http://127.0.0.1:8000'), "
                         f"not {balancer!r}")
    return url


def parse_request(line: str) -> tuple[str, str, str]:
    """'GET api.lab /v1/users' (or 'api.lab /v1/users', or '/v1/users') -> (method, host, path)."""
    words = line.split()
    if words and words[0].upper() in METHODS:
        method, words = words[0].upper(), words[1:]
    else:
        method = "GET"
    if len(words) == 2:
        return method, words[0], words[1]
    if len(words) == 1 and words[0].startswith("/"):
        return method, "", words[0]
    raise UsageError(f"cannot read {line!r} as a request: write it as 'GET api.lab /v1/users' (method, Host, path)")


def route_table(requests: Iterable[str], **balancers) -> Table:
    """Send each request ('GET api.lab /v1/users') to each balancer (label=balancer or its URL; None is
    left out, e.g. haproxy=None where HAProxy is not installed) and show who answered."""
    urls = {label: address(b) for label, b in balancers.items() if b is not None}  # None: not there (no haproxy)
    if not urls:
        raise UsageError("give at least one balancer, e.g. route_table([...], engine=lb)")
    rows = []
    for line in requests:
        method, host, path = parse_request(line)
        row = {"request": f"{method} {host or '(no Host)'} {path}"}
        for label, url in urls.items():
            a = ask(url, path, host or None, method)
            row[label] = a.who + (f" (saw {a.path})" if a.status == 200 and a.path != path.split("?")[0] else "")
        rows.append(row)
    return Table(rows)
