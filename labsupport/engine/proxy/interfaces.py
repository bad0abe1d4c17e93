"""What the proxy's parts need from one another, as ``typing.Protocol`` interfaces (no behaviour).

The client protocols (httpclient.py, tcp.py), the server side (upstream.py), the runtime objects
(state.py) and the engine (engine.py) call one another in both directions at run time. Each
names the other side through one of these interfaces instead of importing its class, so the
modules' imports form no circle: this module sits below all of them and imports none of them.

- ``EngineHooks``: what a client session asks of the engine (engine.py ``Engine``).
- ``ResponseSink``: what a client connection offers the server connection relaying its answer
  (httpclient.py ``HttpClient``, as upstream.py ``ServerConn`` calls it).
- ``PooledConn``: a kept-alive server connection waiting in its server's ``idle`` list (upstream.py
  ``ServerConn``, as state.py ``ServerRT`` holds it).
"""
from __future__ import annotations

import asyncio
from typing import Any, Protocol

from ..logs import Logs


class EngineHooks(Protocol):
    """The engine, as a client session sees it."""

    loop: asyncio.AbstractEventLoop
    httplog: set[str]  # frontends that log each request
    logs: Logs

    def accepted(self, conn) -> None: ...

    def left(self, conn) -> None: ...

    def observed(self, srv, result: str) -> None: ...

    def log_request(self, client: str | None, backend: str, server: str | None, status: int | None,
                    ms: int) -> None: ...


class ByteCounts(Protocol):
    """A frontend's or backend's counters, as the server side adds the bytes it relays."""

    bout: int


class ResponseSink(Protocol):
    """A client connection, as the server connection relaying its answer sees it."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport | None
    fe: ByteCounts
    be: ByteCounts | None
    res_rules: tuple  # http-response rule lists to run on the answer's head (empty: none)
    ck: Any  # cookies.CookieTxn of the request (None: its backend has no 'cookie')
    stk: Any  # stick.StkTxn of the request (None: no stick rule or counter); its on_res: store-response rules
    srv: Any  # the server answering
    cur: Any  # the request being answered (its method)

    def response_head(self, status: int) -> None: ...

    def sample_ctx(self, req) -> Any: ...

    def rewrite_response(self, conn, head: bytes) -> bytes | None: ...

    def response_done(self, conn, keep: bool) -> None: ...

    def response_eof(self, conn) -> None: ...

    def response_failed(self, conn) -> None: ...


class PooledConn(Protocol):
    """A kept-alive server connection, idle between requests."""

    transport: asyncio.BaseTransport | None

    def close(self) -> None: ...
