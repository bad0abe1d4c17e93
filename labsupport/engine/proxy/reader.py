"""mode http, the client side's reading: bytes -> requests, with httptools, as HAProxy's H1 mux reads them.

``RequestReader`` is the part of ``HttpClient`` (httpclient.py) that feeds the client's bytes to
httptools and takes its callbacks: each request's head is gathered into a ``Req`` (request.py),
checked as HAProxy checks it (``check_head``: a refused request raises ``_Refused`` in the
callback, httptools turns it into an error, ``_feed`` into the error page's code), and a complete
request is started at once or waits in ``pending`` behind the one being served.

No desync: llhttp ends an upgrade request at its head. HAProxy relays such a request with its
body as a plain request, so the reader reads that body with a fresh parser fed a synthetic head
(``_read_held_body``) before relaying the whole; the bytes after it are parsed as the next request.

The state it works on lives in ``HttpClient``'s slots: ``parser``, ``req`` (being parsed),
``head_done``, ``partial``, ``held`` (and reads ``cur``, ``pending``, ``eof``, ``closed``); it calls
back ``HttpClient._start``, ``_reject``, ``_end_of_input`` and the session's timer (``_arm``).
"""
from __future__ import annotations

import httptools

from .request import HEAD_ROOM, MAX_FIELDS, MAX_NAME, Rare, Req, check_head
from .state import now
from .upstream import other_tokens

MAX_PARTIAL = 16384  # tune.bufsize: an unfinished head bigger than HAProxy's buffer is a 400 already
HEAD_LIMIT = HEAD_ROOM - 24 - 7  # a head that may be near HAProxy's limit (methods are up to 7 bytes)
_SYNTH_CL = b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n"
_SYNTH_CHUNKED = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"


class _Refused(Exception):
    """Raised in a parser callback: HAProxy refuses this request with ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class RequestReader:
    """Parsing the client's requests (a mixin of ``HttpClient``, which holds the state)."""

    __slots__ = ()

    def _feed(self, data: bytes) -> None:
        self.fe.bin += len(data)
        before = self.req
        mid_head = before is not None and not self.head_done
        while True:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade as up:  # llhttp stops after an upgrade or CONNECT head
                data = data[up.args[0]:]
                if self.held is not None:
                    self._read_held_body()
                if data and not self.closed:
                    continue  # the held request's body, or the next request (HAProxy parses on)
            except httptools.HttpParserError as e:
                cause = e.__context__
                self._refuse(cause.code if isinstance(cause, _Refused) else 400)
                return
            break
        req = self.req
        if req is not None and req is not before and self.cur is None and not self.pending and not self.closed:
            # a request began in this read and is not complete: timeout http-request from its first
            # byte (armed here, not in on_message_begin: a request whole in one read never needs it)
            self._arm(self.req_ms, self._request_timeout)
        if req is not None and not self.head_done:
            self.partial = self.partial + len(data) if mid_head else 0
            if self.partial > MAX_PARTIAL or len(req.url) > MAX_PARTIAL:
                self._refuse(400)
        elif self.eof and self.cur is None and not self.pending and not self.closed:
            self._end_of_input()

    def _refuse(self, code: int) -> None:
        if self.cur is not None:
            self.pending.append(code)  # answered when its turn comes
        elif not self.closed:
            self._reject(code)

    def _read_held_body(self) -> None:
        """The body of an upgrade request, read by a fresh parser fed a synthetic head first (into
        a throwaway request: the callbacks need no flag), then the held request takes its place."""
        req = self.held
        self.parser = httptools.HttpRequestParser(self)
        self.parser.feed_data(_SYNTH_CHUNKED if req.chunked else _SYNTH_CL % req.rare.clen)
        self.req = req

    # ----- httptools callbacks (requests)
    def on_message_begin(self) -> None:
        self.req = Req(now())  # (its timeout is armed by _feed, if it does not end in this read)

    def on_url(self, url: bytes) -> None:
        self.req.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self.req
        n = len(name)
        req.fields += 1  # at most MAX_FIELDS: checked with the complete head (a read holds few anyway)
        req.size += n + len(value)
        if n > MAX_NAME:
            raise _Refused(400)  # httptools turns it into HttpParserCallbackError
        if n == 4 and name.lower() == b"host":
            if req.host is not None:
                if value != req.host:
                    raise _Refused(400)
                return  # the same twice: HAProxy merges them
            req.host = value
        elif n == 17:
            low = name.lower()
            if low == b"transfer-encoding":
                rare = self._rare()
                rare.te = (rare.te or []) + [t.strip().lower() for t in value.split(b",")]
                req.chunked = True  # llhttp relays only a chunked body (check_head refuses others)
            elif low == b"sec-websocket-key":
                self._rare().ws_key = len(value)
        elif n == 14 and name.lower() == b"content-length":
            self._rare().clen = int(value) if value.strip().isdigit() else 0
        elif n == 7 and name.lower() == b"upgrade":
            self._rare().upgrade_at = len(req.headers)
        elif n == 10 and name.lower() == b"connection":  # hop-by-hop: keep only other tokens (upgrade...)
            value = other_tokens(value)
            if not value:
                return
        req.headers.append(b"%s: %s\r\n" % (name, value))

    def _rare(self) -> Rare:
        req = self.req
        if req.rare is None:
            req.rare = Rare()
        return req.rare

    def on_headers_complete(self) -> None:
        p, req = self.parser, self.req
        req.method = p.get_method()
        req.version = b"1.0" if p.get_http_version() == "1.0" else b"1.1"  # HAProxy relays HTTP/2.0 as 1.1
        req.keep_alive = p.should_keep_alive()
        self.head_done = True
        url = req.url
        # the usual request needs no more checks; check_head sees the rest (and the big ones)
        # (int tests: ``35 in url`` is a memchr, ``b"#" in url`` costs ~20 times more; 47 is "/")
        if (req.rare is not None or url[0] != 47 or 35 in url or req.method == b"CONNECT"
                or len(url) + 8 * req.fields + req.size > HEAD_LIMIT or req.fields > MAX_FIELDS):
            code = check_head(req, p.should_upgrade())
            if code:
                raise _Refused(code)

    def on_body(self, body: bytes) -> None:
        self.req.body += body

    def on_message_complete(self) -> None:
        req = self.req
        if req.rare is not None and req.rare.hold:  # llhttp ends an upgrade at its head: its body comes next
            req.rare.hold = False
            self.held = req
            return
        self.req = self.held = None
        self.head_done = False
        if self.closed:
            return
        if self.cur is None and not self.pending:
            self._start(req)
        else:
            self.pending.append(req)
