"""What the HTTP client protocol hands to the log and to Prometheus, kept out of httpclient.py.

``httplog_record`` reads a client connection's ``timers`` and ``outcome`` (progress.py; set by
httpclient.py and session.py as the request goes) and its ``failures`` into a ``logs.Record``;
``metrics_response`` is the exporter's whole answer, as HAProxy 2.6 sends it (chunked, its
``text/plain; version=0.0.4`` type).
"""
from __future__ import annotations

import time

from ..logs import Record, term_flags
from ..prometheus import exposition
from ..stats import collect
from .cookies import log_flags
from .state import now


def httplog_record(c, req, be, srv, status: int, ms: int, bad: bool = False) -> Record:
    """The httplog fields of the request ``req`` that client connection ``c`` just ended."""
    fe, eng, timers, o = c.fe, c.engine, c.timers, c.outcome
    if o.termination == "LR" and not o.by_rule:  # answered by the proxy itself
        name = "<STATS>" if be is not None else "<PROMEX>"
    else:
        name = srv.name if srv is not None else "<NOSRV>"
    # the retries HAProxy made: after the last allowed one fails it gives up without counting it
    rc = min(c.failures, be.cfg.retries) if be is not None and not bad else 0
    return Record(
        # %ft: the frontend's name, with a '~' after it when the connection is TLS
        c.src, c.sport, time.time() - (now() - req.t0), fe.name if c.ssl_object is None else fe.name + "~",
        be.name if be is not None else fe.name, name,
        -1 if bad or o.termination == "PT" else int((timers.started - req.t0) * 1000), max(timers.queue_ms, -1),
        max(timers.connect_ms, -1), max(timers.response_ms, -1), ms, status,
        fe.bout - o.fe_bout_before if o.logged_bytes is None else o.logged_bytes,
        term_flags(o.termination[0], o.termination[1], log_flags(c, be)),
        eng.cur_conns, fe.scur, be.scur if be is not None else 0, srv.scur if srv is not None else 0,
        f"+{rc}" if o.redispatched else str(rc), o.srv_queue_pos, o.be_queue_pos,
        None if bad else (req.orig or (req.method, req.url)) + (req.version,))  # the line as received


def metrics_response(eng, close: bool) -> bytes:
    """``http-request use-service prometheus-exporter``'s answer for engine ``eng``."""
    info = {"nbthread": 1, "nbproc": 1, "relative_process_id": 1,
            "uptime_seconds": int(time.time() - eng.runtime.started), "max_connections": eng.maxconn,
            "current_connections": eng.cur_conns, "connections_total": sum(f.stot for f in eng.frontends.values()),
            "requests_total": sum(f.req_tot for f in eng.frontends.values())}
    body = exposition(collect(eng).rows, info).encode()
    return (b"HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain; version=0.0.4\r\n"
            + b"transfer-encoding: chunked\r\n" + (b"connection: close\r\n" if close else b"") + b"\r\n"
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
