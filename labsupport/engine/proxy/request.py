"""One client request in mode http, and the checks HAProxy 2.6 makes on its head before relaying it.

Follows HAProxy's HTTP/1 request parsing (src/h1.c, src/h1_htx.c, src/http_htx.c; HAProxy is
Copyright Willy Tarreau and contributors, GPL-2.0-or-later); every rule below was observed on
HAProxy 2.6.12 with a backend that records what it receives (tests/vectors/requests.json):

- the head must fit HAProxy's buffer (tune.bufsize 16384 - tune.maxrewrite 1024). HAProxy counts
  it in its internal (HTX) form: method, target, version, each header's name and value, plus 8
  bytes per block (start line, each header, end of headers); over ``HEAD_ROOM`` -> 400;
- at most 100 header fields (tune.http.maxhdr 101 counts the start line), names of at most 255
  bytes -> else 400;
- ``Transfer-Encoding``: exactly one ``chunked``, last -> ok; chunked last after other codings
  -> 422; no chunked, or chunked not last -> 400;
- two ``Host`` headers that differ -> 400 (identical ones are merged); an absolute-form target
  whose authority differs from ``Host`` -> 400 (scheme default ports ignored, and dropped from
  the target as HAProxy's scheme-based normalisation does); ``#`` in the target -> 400;
- ``Upgrade: websocket`` (with ``Connection: upgrade``) needs a 24-byte ``Sec-WebSocket-Key``
  -> else 400; an upgrade request that carries a body loses its ``Upgrade`` header and is relayed
  as a plain request with its body;
- CONNECT: a target that is not host:port, or differs from ``Host`` -> 400. HAProxy would then
  tunnel it; the engine cannot, so it answers 501 and relays nothing.
"""
from __future__ import annotations

HEAD_ROOM = 15291  # largest HTX size of a request head HAProxy 2.6 accepted (measured; see docstring)
MAX_FIELDS = 100
MAX_NAME = 255
_DEFAULT_PORT = {b"http": b":80", b"https": b":443"}


class Rare:
    """What only unusual requests carry (created on the first such header: most requests have none)."""

    __slots__ = ("clen", "dropped", "hold", "te", "upgrade", "upgrade_at", "ws_key")

    def __init__(self) -> None:
        self.hold = False  # an upgrade with a body: llhttp ends the message at its head; the body follows
        self.upgrade = False  # relayed as an upgrade: a 101 answer cannot be tunnelled, close after
        self.te: list[bytes] | None = None  # transfer codings, in order, over every TE header
        self.upgrade_at = -1  # index of the Upgrade header line in ``headers``
        self.ws_key = -1  # length of Sec-WebSocket-Key (-1: absent)
        self.clen = 0
        self.dropped = 0  # bytes (name + value) of header lines not kept (hop-by-hop, merged)


class Req:
    """One request, buffered whole (retries may have to send it again)."""

    __slots__ = ("body", "chunked", "data", "fields", "headers", "host", "keep_alive", "method", "orig", "rare",
                 "size", "t0", "url", "version")

    def __init__(self, t0: float) -> None:
        self.url = b""
        self.headers: list[bytes] = []
        self.body = b""
        self.host: bytes | None = None
        self.chunked = False
        self.keep_alive = True
        self.t0 = t0  # the engine's clock; the log's [%tr] is derived from it (accesslog.py)
        self.data: bytes | None = None
        self.fields = self.size = 0  # header fields seen, and their names and values in bytes
        self.rare: Rare | None = None
        self.orig: tuple[bytes, bytes] | None = None  # (method, target) as received, when rules rewrite them

    def head_size(self) -> int:
        """The head as HAProxy's HTX counts it (see the module docstring)."""
        return len(self.method) + len(self.url) + 24 + 8 * self.fields + self.size

    def build(self, xff: str | None) -> bytes:
        """The bytes sent to the server (with ``x-forwarded-for`` appended for option forwardfor)."""
        if self.data is None:
            parts = [self.method, b" ", self.url, b" HTTP/", self.version, b"\r\n"]  # (no formatting: one join)
            parts += self.headers
            if xff:
                parts.append(b"x-forwarded-for: %s\r\n" % xff.encode())
            if self.version == b"1.0":  # HTTP/1.0 closes by default: ask the server to keep it open
                parts.append(b"connection: keep-alive\r\n\r\n")
            else:
                parts.append(b"\r\n")
            if self.chunked:  # httptools gave us the body de-chunked: send it as one chunk
                if self.body:
                    parts.append(b"%x\r\n%s\r\n" % (len(self.body), self.body))
                parts.append(b"0\r\n\r\n")
            elif self.body:
                parts.append(self.body)
            self.data = b"".join(parts)
        return self.data


def _te_verdict(codings: list[bytes]) -> int | None:
    if codings == [b"chunked"]:
        return None
    if codings and codings[-1] == b"chunked" and b"chunked" not in codings[:-1]:
        return 422
    return 400


def _strip_port(authority: bytes, scheme: bytes) -> bytes:
    port = _DEFAULT_PORT.get(scheme)
    authority = authority.lower()
    return authority[:-len(port)] if port and authority.endswith(port) else authority


def _absolute(req: Req) -> int | None:
    """An absolute-form target: its authority must match Host; its default port goes."""
    url = req.url
    i = url.find(b"://")
    if i <= 0:
        return None
    scheme = url[:i].lower()
    rest = url[i + 3:]
    end = min((j for j in (rest.find(b"/"), rest.find(b"?")) if j >= 0), default=len(rest))
    authority = rest[:end]
    if req.host is not None and _strip_port(authority, scheme) != _strip_port(req.host, scheme):
        return 400
    port = _DEFAULT_PORT.get(scheme)
    if port and authority.endswith(port):
        req.url = url[:i + 3] + authority[:-len(port)] + rest[end:]
    return None


def check_head(req: Req, upgrade: bool) -> int | None:
    """HAProxy's verdict on a complete head (None: relay it); may edit ``req`` as HAProxy does.

    ``upgrade`` is llhttp's own reading (Connection: upgrade plus an Upgrade header, or CONNECT):
    the engine must agree with its parser on where the message ends.
    """
    if req.head_size() > HEAD_ROOM or req.fields > MAX_FIELDS:
        return 400
    if req.rare is None:
        req.rare = Rare()
    rare = req.rare
    if rare.te is not None:
        code = _te_verdict(rare.te)
        if code:
            return code
    if b"#" in req.url:
        return 400
    if req.method == b"CONNECT":
        target = req.url
        if target[:1] == b"/" or b":" not in target or (
                req.host is not None and _strip_port(target, b"https") != _strip_port(req.host, b"https")):
            return 400
        return 501
    if req.url[:1] != b"/" and _absolute(req):
        return 400
    if upgrade:
        if req.chunked or rare.clen > 0:  # HAProxy drops the upgrade and relays the body
            if rare.upgrade_at >= 0:
                del req.headers[rare.upgrade_at]
            rare.hold = True
        else:
            line = req.headers[rare.upgrade_at] if rare.upgrade_at >= 0 else b""
            tokens = [t.strip().lower() for t in line.partition(b":")[2].split(b",")]
            if b"websocket" in tokens and rare.ws_key != 24:
                return 400
            rare.upgrade = True
    return None
