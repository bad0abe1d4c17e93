"""The stats page a backend with ``stats enable`` serves, as HAProxy 2.6 answers it.

``stats uri`` (default ``/haproxy?stats``) is a prefix match on the request target, so ``stats uri
/`` answers on every path. ``;csv`` anywhere after it gives the CSV (text/plain), otherwise the
HTML page; ``stats refresh`` adds a ``refresh`` header unless ``;norefresh`` is given; ``stats
auth`` asks for Basic credentials with HAProxy's exact 401 page. Bodies are sent chunked, like
HAProxy does.
"""
from __future__ import annotations

import base64

from ..stats import collect

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


def stats_response(engine, be, url: bytes, header_lines: list[bytes], close: bool) -> tuple[int, bytes]:
    """(status, full response bytes) for a stats request on backend ``be``."""
    st = be.cfg.stats
    if not _authorized(st.auth, header_lines):
        return 401, PAGE_401
    rest = url[len(st.uri):]
    snap = collect(engine)
    if b";csv" in rest:
        body, ctype = snap.csv().encode(), b"text/plain"
    else:
        body, ctype = snap.html(st.uri, st.refresh // 1000 if st.refresh else None).encode("latin-1", "replace"), \
            b"text/html"
    head = b"HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: " + ctype + b"\r\n"
    if st.refresh and b";norefresh" not in rest:
        head += b"refresh: %d\r\n" % (st.refresh // 1000)
    if close:
        head += b"connection: close\r\n"
    head += b"transfer-encoding: chunked\r\n\r\n"
    return 200, head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
