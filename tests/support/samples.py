"""Requests for the sample fetches without a network: a parsed ``Req`` as the engine's reader builds it,
and the ``Ctx`` (engine.sample.fetches) the rules read."""
from __future__ import annotations

from labsupport.engine.proxy.request import Req
from labsupport.engine.sample import Ctx


def request(url: str = "/", host: str | None = "lab", method: str = "GET", version: str = "1.1",
            headers: list[tuple[str, str]] | None = None) -> Req:
    """A request head as the reader stores it (header lines 'name: value\\r\\n', Host among them)."""
    req = Req(0.0)
    req.method, req.url, req.version = method.encode(), url.encode("latin-1"), version.encode()
    lines = [("Host", host)] if host is not None else []
    lines += headers or []
    req.headers = [f"{name}: {value}\r\n".encode("latin-1") for name, value in lines]
    req.host = host.encode() if host is not None else None
    return req


def context(url: str = "/", host: str | None = "lab", src: str = "127.0.0.1", sport: int = 40000,
            dst: str = "127.0.0.1", dport: int = 8080, **kw) -> Ctx:
    """The context of one request from ``src:sport`` to ``dst:dport``."""
    return Ctx(request(url, host, **kw), src, sport, dst, dport)
