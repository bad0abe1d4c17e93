"""The stats page a backend with ``stats enable`` serves, as HAProxy 2.6 answers it.

``stats uri`` (default ``/haproxy?stats``) is a prefix match on the request target, so ``stats uri
/`` answers on every path. ``;csv`` anywhere after it gives the CSV (text/plain), otherwise the
HTML page; ``stats refresh`` adds a ``refresh`` header unless ``;norefresh`` is given; ``stats
auth`` asks for Basic credentials with HAProxy's exact 401 page. Bodies are sent chunked, like
HAProxy does. ``;json`` gives the rows as ``show stat json`` does.

With ``stats admin if TRUE`` the page carries HAProxy's admin form (a checkbox per server, an
action, the backend's ``#id``), and a POST applies the action as HAProxy 2.6's stats.c
(stats_process_http_post; copyright Willy Tarreau) does: the form's fields are read from the
last one back (the backend, the action, then the servers), and the answer is a 303 to
``<uri>;st=DONE`` (all applied), ``PART``, ``NONE`` (nothing applied), ``ERRP`` (bad backend,
action or server) or ``DENY`` (no admin rights); the page then shows HAProxy's message.
"""
from __future__ import annotations

import base64
from urllib.parse import parse_qsl

from ..stats import collect
from ..statsfields import as_json
from .runtime import set_checks

PAGE_401 = (b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\n"
            b"content-type: text/html\r\nwww-authenticate: Basic realm=\"HAProxy Statistics\"\r\n\r\n"
            b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n"
            b"</body></html>\n")


def wants_stats(be, url: bytes) -> bool:
    st = be.cfg.stats
    return st.enabled and url.startswith(st.uri.encode())


def _authorized(auth: tuple[tuple[str, str], ...], header_lines: list[bytes]) -> bool:
    if not auth:
        return True
    for line in header_lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() != b"basic":
                return False
            try:
                user, _, password = base64.b64decode(token.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return (user, password) in auth
    return False


ACTIONS = ("ready", "drain", "maint", "dhlth", "ehlth", "hrunn", "hnolb", "hdown", "dagent", "eagent",
           "arunn", "adown", "shutdown")


def admin_post(engine, body: bytes) -> str:
    """Apply the admin form's action; HAProxy's status code (DONE, PART, NONE, ERRP)."""
    be = action = None
    total = altered = 0
    for key, value in reversed(parse_qsl(body.decode("latin-1"), keep_blank_values=True)):
        if be is None and key == "b":
            be = engine.backends.get(value) or next(
                (b for b in engine.backends.values() if value == f"#{b.iid}"), None)
            if be is None:
                return "ERRP"
        elif action is None and key == "action":
            if value not in ACTIONS:
                return "ERRP"
            action = value
        elif key == "s":
            if be is None or action is None:
                return "ERRP"
            srv = be.servers.get(value)
            if srv is None:  # unknown: counted, never altered
                total += 1
                continue
            spec = f"{be.name}/{srv.name}"
            if action in ("ready", "drain", "maint"):
                engine.set_state(spec, action)
            elif action in ("dhlth", "ehlth"):
                if not srv.cfg.check:
                    continue  # nothing to turn on or off: not counted
                set_checks(srv, action == "ehlth")
            elif action in ("hrunn", "hnolb", "hdown"):
                engine.set_health(spec, {"hrunn": "up", "hnolb": "stopping", "hdown": "down"}[action])
            elif action == "shutdown":  # kill the sessions on this server
                for conn in list(engine.conns):
                    if getattr(conn, "srv", None) is srv:
                        conn.transport.abort()
            else:
                continue  # agent actions: no agent check configured (the engine has none)
            total += 1
            altered += 1
    if not total:
        return "NONE"
    return "DONE" if altered == total else "PART" if altered else "ERRP"


def stats_response(engine, be, url: bytes, header_lines: list[bytes], close: bool, method: bytes = b"GET",
                   body: bytes = b"") -> tuple[int, bytes]:
    """(status, full response bytes) for a stats request on backend ``be``."""
    st = be.cfg.stats
    if not _authorized(st.auth, header_lines):
        if close:  # as on HAProxy's other pages: after the last header
            return 401, PAGE_401.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)
        return 401, PAGE_401
    if method == b"POST":
        code = admin_post(engine, body) if st.admin else "DENY"
        head = (b"HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n"
                b"content-length: 0\r\nlocation: %s;st=%s\r\n" % (st.uri.encode(), code.encode()))
        return 303, head + (b"connection: close\r\n" if close else b"") + b"\r\n"
    rest = url[len(st.uri):]
    snap = collect(engine)
    if b";csv" in rest:
        body, ctype = snap.csv().encode(), b"text/plain"
    elif b";json" in rest:
        body, ctype = as_json(snap.rows).encode(), b"application/json"
    else:
        status = rest.split(b";st=", 1)[1][:4].decode("latin-1") if b";st=" in rest else None
        body = snap.html(st.uri, st.refresh // 1000 if st.refresh else None, st.admin, status)
        body, ctype = body.encode("latin-1", "replace"), b"text/html"
    head = b"HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: " + ctype + b"\r\n"
    if st.refresh and b";norefresh" not in rest:
        head += b"refresh: %d\r\n" % (st.refresh // 1000)
    if close:
        head += b"connection: close\r\n"
    head += b"transfer-encoding: chunked\r\n\r\n"
    return 200, head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
