"""mode http: the answers a frontend gives by itself, without a server: the stats page (``stats uri``)
and the Prometheus exporter (``http-request use-service prometheus-exporter``). A mixin of ``HttpClient``
(httpclient.py), which decides when a request asks for one of them.
"""
from __future__ import annotations

from .accesslog import metrics_response
from .request import Req
from .statspage import stats_response


class LocalPages:
    """The stats page and the exporter, written to the client connection as HAProxy 2.6 answers them."""

    __slots__ = ()

    def _serve_stats(self, req: Req) -> None:
        code, data = stats_response(self.engine, self.be, req.url, req.headers, not req.keep_alive, req.method,
                                    req.body)
        self.transport.write(data)
        self.fe.bout += len(data)
        self.fe.count_status(code)
        self.be.count_status(code)
        self.outcome.termination = "LR"  # answered locally by the proxy
        self._finish(code, not req.keep_alive)

    def _serve_metrics(self, req: Req) -> None:
        """``http-request use-service prometheus-exporter``: the frontend answers by itself."""
        close = not req.keep_alive
        data = metrics_response(self.engine, close)
        self.transport.write(data)
        self.fe.bout += len(data)
        self.fe.count_status(200)
        self.outcome.termination = "LR"
        self._finish(200, close)


def wants_metrics(rule: tuple[str, str], url: bytes) -> bool:
    kind, value = rule
    if kind == "always":
        return True
    path = url.split(b"?", 1)[0].decode("latin-1")
    return path == value if kind == "path" else path.startswith(value)
