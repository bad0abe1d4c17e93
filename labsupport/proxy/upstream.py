"""The server side of mode http: one kept-alive connection to a server, one request at a time.

The answer is relayed to the client as it arrives, bytes untouched, except that ``connection:
close`` is added to its head when the client asked to close (as HAProxy does). httptools only
watches it: where the head ends (bytes before that are held back, so garbage becomes a clean 502),
the status, where the message ends, and whether the server keeps the connection open. Between
requests the connection waits in its server's ``idle`` list.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httptools

if TYPE_CHECKING:  # pragma: no cover
    from .http import HttpClient

MAX_IDLE = 64  # idle kept-alive connections kept per server
_CLOSE_HDR = b"\r\nconnection: close"


class ServerConn(asyncio.Protocol):
    """A connection to one server; serves one request at a time, then may wait in ``srv.idle``."""

    def __init__(self, srv) -> None:
        self.srv = srv
        self.transport: asyncio.Transport | None = None
        self.client: "HttpClient | None" = None
        self.parser = httptools.HttpResponseParser(self)
        self.held: list[bytes] = []
        self.fwd = self.complete = self.head = self.got_data = self.add_close = self.has_conn = False
        self.keep = False
        self.status = 0
        self.last = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def start(self, client: "HttpClient", data: bytes, head: bool, add_close: bool) -> None:
        self.client, self.head, self.add_close = client, head, add_close
        self.fwd = self.complete = self.got_data = self.has_conn = False
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
        except httptools.HttpParserError:
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
            if self.add_close and not self.has_conn:
                i = data.find(b"\r\n\r\n")
                data = data[:i] + _CLOSE_HDR + data[i:]
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
        c, self.client = self.client, None
        if c is None:
            try:
                self.srv.idle.remove(self)
            except ValueError:
                pass
            return
        if self.fwd:
            c.response_eof(self)
        else:
            c.response_failed(self)

    # ----- httptools callbacks (responses)
    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 10 and name.lower() == b"connection":
            self.has_conn = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.client.response_head(self.status)
        if self.head:
            self.complete = True
            self.keep = self.parser.should_keep_alive()

    def on_message_complete(self) -> None:
        if self.status >= 200 or self.status == 101:
            self.complete = True
            self.keep = self.parser.should_keep_alive()  # read now: llhttp resets it for the next message
