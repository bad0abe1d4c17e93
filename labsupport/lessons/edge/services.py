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
import socket
import ssl
from dataclasses import dataclass, field
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from ...course.display.table import Table
from ...errors import UsageError

SERVICES: dict[str, int] = {"web": 8101, "api-v1": 8111, "api-v2": 8112, "static": 8121, "admin": 8131,
                            "shop": 8141,   # part B's application that insists on HTTPS
                            "vault": 8151}  # part B's service that speaks only HTTPS itself
PART_B = ("shop", "vault")
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
    reply: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # the answer's headers, as the client got them

    def header(self, name: str) -> str | None:
        """A header as the service received it (None: it got none, or no service answered)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def reply_header(self, name: str) -> str | None:
        """A header of the answer, as the client received it (None: there was none)."""
        return next((v for k, v in self.reply if k.lower() == name.lower()), None)


def start_services(fleet, names: Iterable[str] | None = None, https_only: Iterable[str] = (),
                   tls: Mapping[str, tuple] | None = None) -> Table:
    """Start the lesson's services (the five of part A, or ``names``) in ``fleet``, each on its own port of
    127.0.0.1 (``SERVICES``). ``https_only``: services that redirect to https unless the balancer says
    ``X-Forwarded-Proto: https``. ``tls={"vault": (cert, key)}``: services that speak HTTPS themselves
    (e.g. ``ca.cert_and_key("vault.lab")``). Returns a table of the services and their addresses."""
    tls = dict(tls or {})
    chosen = [n for n in SERVICES if n not in PART_B] if names is None else list(names)
    unknown = [n for n in chosen if n not in SERVICES]
    if unknown:
        raise UsageError(f"no service named {', '.join(map(repr, unknown))}; the lesson's services are "
                         f"{', '.join(SERVICES)}")
    strict = set(https_only)
    odd = [n for n in tls if n not in chosen]
    if odd:
        raise UsageError(f"tls= names {', '.join(map(repr, odd))}, which is not started here: give it in names too")
    for name in chosen:
        fleet.start(SERVICES[name], name=name, https_only=name in strict, tls=tls.get(name))
    rows = []
    for n in chosen:
        row = {"service": n, "address": f"127.0.0.1:{SERVICES[n]}"}
        if strict:
            row["redirects plain http"] = "yes" if n in strict else ""
        if tls:
            row["speaks"] = "HTTPS only" if n in tls else "HTTP"
        rows.append(row)
    return Table(rows)


def ask(url: str, path: str = "/", host: str | None = None, method: str = "GET",
        headers: Mapping[str, str] | None = None, timeout: float = 3.0, cafile: str | None = None) -> Answer:
    """Send one request (a new connection) to the balancer at ``url`` with ``Host: host`` and say who answered.
    An ``https://`` address sends ``host`` (without a port) as the TLS server name; with ``cafile`` the
    certificate is checked as a browser trusting that CA would, and a refusal is the answer."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"ask() needs an address like http://127.0.0.1:8000 or https://127.0.0.1:8443, not {url!r}")
    method = method.upper()
    if method not in METHODS:
        raise UsageError(f"method {method!r}: use one of {', '.join(METHODS)}")
    if not path.startswith("/"):
        raise UsageError(f"the path must start with '/', e.g. '/api/users', not {path!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    sent = {"Host": host or f"{parts.hostname}:{port}", "Connection": "close", **(headers or {})}
    try:
        if parts.scheme == "https":  # the server name (SNI) is the Host's name, as a browser sends it
            conn.sock = tls_client(cafile).wrap_socket(socket.create_connection((parts.hostname, port), timeout),
                                                       server_hostname=(host or parts.hostname).split(":")[0])
        conn.request(method, path, headers=sent)
        r = conn.getresponse()
        body = r.read()
    except ssl.SSLCertVerificationError as e:
        return Answer(None, f"refused: {e.verify_message}", error=str(e))
    except OSError as e:
        return Answer(None, f"no answer ({e.__class__.__name__})", error=str(e))
    finally:
        conn.close()
    location = r.getheader("Location")
    reply = tuple(r.getheaders())
    if r.status == 200 and r.getheader("Content-Type", "").startswith("application/json"):
        try:
            seen = json.loads(body)
            return Answer(200, seen["service"], seen["path"], seen["query"], seen["host"],
                          tuple((k, v) for k, v in seen["headers"]), location, reply=reply)
        except (ValueError, KeyError, TypeError):
            pass
    text = body.decode("latin-1").strip().splitlines()
    if location:
        who = f"{r.status} to {location}"
    else:  # a plain-text answer shows its first line; an HTML error page only its status
        plain = r.getheader("Content-Type", "").startswith("text/plain")
        who = f"{r.status} {r.reason}" + (f": {text[0][:40]}" if text and plain else "")
    return Answer(r.status, who, location=location, reply=reply)


def tls_client(cafile: str | None = None) -> ssl.SSLContext:
    """A client's TLS settings: trusting only ``cafile`` (names checked), or trusting anything (None)."""
    if cafile is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=str(cafile))


def address(balancer, https: bool = False) -> str:
    """A balancer's first address (its first https:// one with ``https``): a URL as given, or one of
    ``lb.urls`` / ``hx.urls`` (the engine, real HAProxy)."""
    if isinstance(balancer, str) and balancer:
        return balancer
    urls = list(getattr(balancer, "urls", None) or [getattr(balancer, "url", None)])
    url = next((u for u in urls if u and u.startswith("https://") == https), None)
    if not url:
        raise UsageError(f"give a balancer or its address (engine=lb, haproxy=hx, or 'http://127.0.0.1:8000'), "
                         f"not {balancer!r}" + (" (it has no 'bind ... ssl' address)" if https and urls else ""))
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


def route_table(requests: Iterable[str], https: bool = False, cafile: str | None = None, **balancers) -> Table:
    """Send each request ('GET api.lab /v1/users') to each balancer (label=balancer or its URL; None is
    left out, e.g. haproxy=None where HAProxy is not installed) and show who answered. ``https``: to
    each balancer's TLS address, checking its certificate against ``cafile`` when given."""
    urls = {label: address(b, https) for label, b in balancers.items() if b is not None}  # None: no haproxy
    if not urls:
        raise UsageError("give at least one balancer, e.g. route_table([...], engine=lb)")
    rows = []
    for line in requests:
        method, host, path = parse_request(line)
        row = {"request": f"{method} {host or '(no Host)'} {path}"}
        for label, url in urls.items():
            a = ask(url, path, host or None, method, cafile=cafile)
            row[label] = a.who + (f" (saw {a.path})" if a.path and a.path != path.split("?")[0] else "")
        rows.append(row)
    return Table(rows)
