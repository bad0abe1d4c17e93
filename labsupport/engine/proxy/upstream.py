"""The server side of mode http: one kept-alive connection to a server, one request at a time.

The answer is relayed to the client as it arrives, bytes untouched but for its ``connection``
header (and for what http-response rules rewrite in its head: ``HttpClient.rewrite_response``), which speaks for the client side as HAProxy 2.6 writes it: the server's close/keep-alive
tokens go (they were about this connection), then ``close`` when the client asked to close or the
answer ends at EOF (HTTP/1.1 answers only), ``keep-alive`` for a kept-alive HTTP/1.0 client or
answer. httptools only watches the answer: where the head ends (bytes before that are held back,
so garbage becomes a clean 502), the status, where the message ends, and whether the server keeps
the connection open. Between requests the connection waits in its server's ``idle`` list.
"""
from __future__ import annotations

import asyncio
import re

import httptools

from .interfaces import ResponseSink
from .stick import store_response

MAX_IDLE = 64  # idle kept-alive connections kept per server
_CONN_LINE = re.compile(rb"\r\nconnection:([^\r\n]*)", re.I)
_PERSISTENCE = (b"close", b"keep-alive")


def other_tokens(value: bytes) -> bytes:
    """A ``connection`` header's value without close/keep-alive, which each side sets for itself."""
    if b"," not in value:  # one token, the usual case (Flask's "close"): no splitting
        value = value.strip()
        return b"" if value.lower() in _PERSISTENCE else value
    return b", ".join(t for t in (x.strip() for x in value.split(b",")) if t and t.lower() not in _PERSISTENCE)


def _conn_line(m: re.Match) -> bytes:
    rest = other_tokens(m.group(1))
    return b"\r\nconnection: " + rest if rest else b""


class ServerConn(asyncio.Protocol):
    """A connection to one server; serves one request at a time, then may wait in ``srv.idle``."""

    def __init__(self, srv) -> None:
        self.srv = srv
        self.transport: asyncio.Transport | None = None
        self.client: ResponseSink | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.held: list[bytes] = []
        self.fwd = self.complete = self.head = self.got_data = self.has_conn = self.framed = False
        self.keep = self.client_keep = self.client_10 = False
        self.conn_hdr = b""  # the connection header the client gets ("" for none)
        self.status = 0
        self.last = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def start(self, client: ResponseSink, data: bytes, head: bool, client_keep: bool, client_10: bool) -> None:
        self.client, self.head, self.client_keep, self.client_10 = client, head, client_keep, client_10
        self.fwd = self.complete = self.got_data = self.has_conn = self.framed = False
        self.status = 0
        self.last = client.loop.time()
        self.transport.write(data)

    def park(self) -> None:
        """Keep this (unused) connection for the server's next request."""
        if self.transport is not None and len(self.srv.idle) < MAX_IDLE:
            self.srv.idle.append(self)
        else:
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # ----- bytes from the server
    def data_received(self, data: bytes) -> None:
        c = self.client
        if c is None:  # nobody asked: a server talking out of turn is not reusable
            self.close()
            return
        self.got_data = True
        self.last = c.loop.time()
        self.srv.bout += len(data)
        c.be.bout += len(data)
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):  # upgrades are not tunnelled
            if self.fwd:
                self.client = None
                self.close()
                c.response_eof(self)
            else:
                c.response_failed(self)
            return
        if not self.fwd:
            if not self.status:  # head not complete yet
                self.held.append(data)
                return
            if self.held:
                self.held.append(data)
                data = b"".join(self.held)
                self.held = []
            stk = c.stk
            on_res = stk is not None and stk.on_res
            if self.has_conn or self.conn_hdr or c.res_rules or c.ck is not None or on_res:
                i = data.find(b"\r\n\r\n")
                head = data[:i]
                if on_res:  # stick store-response (stick.py), on the server's own head
                    store_response(c, head, self.status)
                if c.res_rules:  # http-response rules (actions.py): the head rewritten, or replaced
                    head = c.rewrite_response(self, head)
                    if head is None:
                        return
                if c.ck is not None:  # cookie persistence (cookies.py), after the http-response rules
                    head = c.ck.response(head, c.srv, self.status, c.cur.method)
                if self.has_conn:
                    head = _CONN_LINE.sub(_conn_line, head)
                data = head + self.conn_hdr + data[i:]
            self.fwd = True
        c.transport.write(data)
        c.fe.bout += len(data)
        if self.complete:
            keep = self.keep
            if self.head:  # the parser, not knowing it was HEAD, waits for a body: start a new one
                self.parser = httptools.HttpResponseParser(self)
            c.response_done(self, keep)

    def connection_lost(self, exc) -> None:
        self.transport = None
        self.parser = None  # it holds our callbacks: without that cycle the connection is freed now, not by the gc
        c, self.client = self.client, None
        if c is None:
            idle = self.srv.idle
            if self in idle:  # (a test, not a ValueError: most connections that end are not idle ones)
                idle.remove(self)
            return
        if self.fwd:
            c.response_eof(self)
        else:
            c.response_failed(self)

    # ----- httptools callbacks (responses)
    def on_header(self, name: bytes, value: bytes) -> None:
        n = len(name)
        if n == 10 and name.lower() == b"connection":
            self.has_conn = True
        elif (n == 14 and name.lower() == b"content-length") or (n == 17 and name.lower() == b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        p = self.parser
        self.status = status = p.get_status_code()
        ends_at_eof = not (self.framed or self.head or status < 200 or status in (204, 304))
        http11 = p.get_http_version() == "1.1"
        if status == 101:  # a protocol switch: its own "connection: upgrade" says it all
            self.conn_hdr = b""
        elif not self.client_keep or ends_at_eof:
            self.conn_hdr = b"\r\nconnection: close" if http11 else b""
        else:
            self.conn_hdr = b"\r\nconnection: keep-alive" if self.client_10 or not http11 else b""
        self.client.response_head(status)
        if self.head:
            self.complete = True
            self.keep = self.parser.should_keep_alive()

    def on_message_complete(self) -> None:
        if self.status >= 200 or self.status == 101:
            self.complete = True
            self.keep = self.parser.should_keep_alive()  # read now: llhttp resets it for the next message
