"""HAProxy 2.6's Prometheus exporter (``http-request use-service prometheus-exporter``) over the engine's stats.

Follows HAProxy 2.6's addons/promex/service-prometheus.c (copyright Christopher Faulet, Willy
Tarreau): the same metric families, in the same order, with the same HELP and TYPE lines and
labels (``proxy``, ``server``, ``state`` for status families, ``code`` for HTTP responses),
each family listing every frontend, backend or server in config order. Values come from the
stats rows (stats.py): times in seconds, empty fields as NaN, status families as one sample
per state (1 for the current one). HAProxy's ``haproxy_process_*`` families describe its own
process (memory pools, SSL, threads) and are left out, but for a few the engine can fill.
"""
from __future__ import annotations

import math
from typing import Any

from .stats import server_state

# kind suffix type help -- as HAProxy 2.6.12 prints them, in its order
FAMILIES = """\
frontend current_sessions gauge Number of current sessions on the frontend, backend or server
frontend max_sessions gauge Highest value of current sessions encountered since process started
frontend limit_sessions gauge Frontend/listener/server's maxconn, backend's fullconn
frontend sessions_total counter Total number of sessions since process started
frontend bytes_in_total counter Total number of request bytes since process started
frontend bytes_out_total counter Total number of response bytes since process started
frontend requests_denied_total counter Total number of denied requests since process started
frontend responses_denied_total counter Total number of denied responses since process started
frontend request_errors_total counter Total number of invalid requests since process started
frontend status gauge Current status of the service, per state label value.
frontend limit_session_rate gauge Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)
frontend max_session_rate gauge Highest value of sessions per second observed since the worker process started
frontend http_responses_total counter Total number of HTTP responses with status 100-199 returned by this object since the worker process started
frontend http_requests_rate_max gauge Highest value of http requests observed since the worker process started
frontend http_requests_total counter Total number of HTTP requests processed by this object since the worker process started
frontend http_comp_bytes_in_total counter Total number of bytes submitted to the HTTP compressor for this object since the worker process started
frontend http_comp_bytes_out_total counter Total number of bytes emitted by the HTTP compressor for this object since the worker process started
frontend http_comp_bytes_bypassed_total counter Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)
frontend http_comp_responses_total counter Total number of HTTP responses that were compressed for this object since the worker process started
frontend connections_rate_max gauge Highest value of connections per second observed since the worker process started
frontend connections_total counter Total number of new connections accepted on this frontend since the worker process started
frontend intercepted_requests_total counter Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started
frontend denied_connections_total counter Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started
frontend denied_sessions_total counter Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started
frontend failed_header_rewriting_total counter Total number of failed HTTP header rewrites since the worker process started
frontend http_cache_lookups_total counter Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started
frontend http_cache_hits_total counter Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started
frontend internal_errors_total counter Total number of internal errors since process started
backend current_queue gauge Number of current queued connections
backend max_queue gauge Highest value of queued connections encountered since process started
backend current_sessions gauge Number of current sessions on the frontend, backend or server
backend max_sessions gauge Highest value of current sessions encountered since process started
backend limit_sessions gauge Frontend/listener/server's maxconn, backend's fullconn
backend sessions_total counter Total number of sessions since process started
backend bytes_in_total counter Total number of request bytes since process started
backend bytes_out_total counter Total number of response bytes since process started
backend requests_denied_total counter Total number of denied requests since process started
backend responses_denied_total counter Total number of denied responses since process started
backend connection_errors_total counter Total number of failed connections to server since the worker process started
backend response_errors_total counter Total number of invalid responses since the worker process started
backend retry_warnings_total counter Total number of server connection retries since the worker process started
backend redispatch_warnings_total counter Total number of server redispatches due to connection failures since the worker process started
backend status gauge Current status of the service, per state label value.
backend weight gauge Server's effective weight, or sum of active servers' effective weights for a backend
backend active_servers gauge Total number of active UP servers with a non-zero weight
backend backup_servers gauge Total number of backup UP servers with a non-zero weight
backend check_up_down_total counter Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started
backend check_last_change_seconds gauge How long ago the last server state changed, in seconds
backend downtime_seconds_total counter Total time spent in DOWN state, for server or backend
backend loadbalanced_total counter Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)
backend max_session_rate gauge Highest value of sessions per second observed since the worker process started
backend http_responses_total counter Total number of HTTP responses with status 100-199 returned by this object since the worker process started
backend http_requests_total counter Total number of HTTP requests processed by this object since the worker process started
backend client_aborts_total counter Total number of requests or connections aborted by the client since the worker process started
backend server_aborts_total counter Total number of requests or connections aborted by the server since the worker process started
backend http_comp_bytes_in_total counter Total number of bytes submitted to the HTTP compressor for this object since the worker process started
backend http_comp_bytes_out_total counter Total number of bytes emitted by the HTTP compressor for this object since the worker process started
backend http_comp_bytes_bypassed_total counter Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)
backend http_comp_responses_total counter Total number of HTTP responses that were compressed for this object since the worker process started
backend last_session_seconds gauge How long ago some traffic was seen on this object on this worker process, in seconds
backend queue_time_average_seconds gauge Avg. queue time for last 1024 successful connections.
backend connect_time_average_seconds gauge Avg. connect time for last 1024 successful connections.
backend response_time_average_seconds gauge Avg. response time for last 1024 successful connections.
backend total_time_average_seconds gauge Avg. total time for last 1024 successful connections.
backend failed_header_rewriting_total counter Total number of failed HTTP header rewrites since the worker process started
backend connection_attempts_total counter Total number of outgoing connection attempts on this backend/server since the worker process started
backend connection_reuses_total counter Total number of reused connection on this backend/server since the worker process started
backend http_cache_lookups_total counter Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started
backend http_cache_hits_total counter Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started
backend max_queue_time_seconds gauge Maximum observed time spent in the queue
backend max_connect_time_seconds gauge Maximum observed time spent waiting for a connection to complete
backend max_response_time_seconds gauge Maximum observed time spent waiting for a server response
backend max_total_time_seconds gauge Maximum observed total request+response time (request+queue+connect+response+processing)
backend internal_errors_total counter Total number of internal errors since process started
backend uweight gauge Server's user weight, or sum of active servers' user weights for a backend
backend agg_server_status gauge Backend's aggregated gauge of servers' status
backend agg_server_check_status gauge Backend's aggregated gauge of servers' state check status
backend agg_check_status gauge Backend's aggregated gauge of servers' state check status
server current_queue gauge Number of current queued connections
server max_queue gauge Highest value of queued connections encountered since process started
server current_sessions gauge Number of current sessions on the frontend, backend or server
server max_sessions gauge Highest value of current sessions encountered since process started
server limit_sessions gauge Frontend/listener/server's maxconn, backend's fullconn
server sessions_total counter Total number of sessions since process started
server bytes_in_total counter Total number of request bytes since process started
server bytes_out_total counter Total number of response bytes since process started
server responses_denied_total counter Total number of denied responses since process started
server connection_errors_total counter Total number of failed connections to server since the worker process started
server response_errors_total counter Total number of invalid responses since the worker process started
server retry_warnings_total counter Total number of server connection retries since the worker process started
server redispatch_warnings_total counter Total number of server redispatches due to connection failures since the worker process started
server status gauge Current status of the service, per state label value.
server weight gauge Server's effective weight, or sum of active servers' effective weights for a backend
server check_failures_total counter Total number of failed individual health checks per server/backend, since the worker process started
server check_up_down_total counter Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started
server check_last_change_seconds gauge How long ago the last server state changed, in seconds
server downtime_seconds_total counter Total time spent in DOWN state, for server or backend
server queue_limit gauge Limit on the number of connections in queue, for servers only (maxqueue argument)
server current_throttle gauge Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)
server loadbalanced_total counter Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)
server max_session_rate gauge Highest value of sessions per second observed since the worker process started
server check_status gauge Status of last health check, per state label value.
server check_code gauge layer5-7 code, if available of the last health check.
server check_duration_seconds gauge Total duration of the latest server health check, in seconds.
server http_responses_total counter Total number of HTTP responses with status 100-199 returned by this object since the worker process started
server client_aborts_total counter Total number of requests or connections aborted by the client since the worker process started
server server_aborts_total counter Total number of requests or connections aborted by the server since the worker process started
server last_session_seconds gauge How long ago some traffic was seen on this object on this worker process, in seconds
server queue_time_average_seconds gauge Avg. queue time for last 1024 successful connections.
server connect_time_average_seconds gauge Avg. connect time for last 1024 successful connections.
server response_time_average_seconds gauge Avg. response time for last 1024 successful connections.
server total_time_average_seconds gauge Avg. total time for last 1024 successful connections.
server failed_header_rewriting_total counter Total number of failed HTTP header rewrites since the worker process started
server connection_attempts_total counter Total number of outgoing connection attempts on this backend/server since the worker process started
server connection_reuses_total counter Total number of reused connection on this backend/server since the worker process started
server idle_connections_current gauge Current number of idle connections available for reuse on this server
server idle_connections_limit gauge Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)
server max_queue_time_seconds gauge Maximum observed time spent in the queue
server max_connect_time_seconds gauge Maximum observed time spent waiting for a connection to complete
server max_response_time_seconds gauge Maximum observed time spent waiting for a server response
server max_total_time_seconds gauge Maximum observed total request+response time (request+queue+connect+response+processing)
server internal_errors_total counter Total number of internal errors since process started
server unsafe_idle_connections_current gauge Current number of unsafe idle connections
server safe_idle_connections_current gauge Current number of safe idle connections
server used_connections_current gauge Current number of connections in use
server need_connections_current gauge Estimated needed number of connections
server uweight gauge Server's user weight, or sum of active servers' user weights for a backend
"""
SERVER_STATES = ("DOWN", "UP", "MAINT", "DRAIN", "NOLB")
CHECK_STATES = ("HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
                "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK")
CODES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")
# family suffix -> stats column (a number, or ms when the family is in seconds)
COLUMN = {
    "current_sessions": "scur", "max_sessions": "smax", "limit_sessions": "slim", "sessions_total": "stot",
    "bytes_in_total": "bin", "bytes_out_total": "bout", "requests_denied_total": "dreq",
    "responses_denied_total": "dresp", "request_errors_total": "ereq", "limit_session_rate": "rate_lim",
    "max_session_rate": "rate_max", "http_requests_rate_max": "req_rate_max", "http_requests_total": "req_tot",
    "http_comp_bytes_in_total": "comp_in", "http_comp_bytes_out_total": "comp_out",
    "http_comp_bytes_bypassed_total": "comp_byp", "http_comp_responses_total": "comp_rsp",
    "connections_rate_max": "conn_rate_max", "connections_total": "conn_tot",
    "intercepted_requests_total": "intercepted", "denied_connections_total": "dcon",
    "denied_sessions_total": "dses", "failed_header_rewriting_total": "wrew", "http_cache_lookups_total":
    "cache_lookups", "http_cache_hits_total": "cache_hits", "internal_errors_total": "eint",
    "current_queue": "qcur", "max_queue": "qmax", "connection_errors_total": "econ",
    "response_errors_total": "eresp", "retry_warnings_total": "wretr", "redispatch_warnings_total": "wredis",
    "weight": "weight", "active_servers": "act", "backup_servers": "bck", "check_up_down_total": "chkdown",
    "check_last_change_seconds": "lastchg", "downtime_seconds_total": "downtime", "loadbalanced_total": "lbtot",
    "client_aborts_total": "cli_abrt", "server_aborts_total": "srv_abrt", "last_session_seconds": "lastsess",
    "connection_attempts_total": "connect", "connection_reuses_total": "reuse", "uweight": "uweight",
    "check_failures_total": "chkfail", "queue_limit": "qlimit", "current_throttle": "throttle",
    "check_code": "check_code", "idle_connections_current": "srv_icur", "idle_connections_limit": "src_ilim",
    "unsafe_idle_connections_current": "idle_conn_cur", "safe_idle_connections_current": "safe_conn_cur",
    "used_connections_current": "used_conn_cur", "need_connections_current": "need_conn_est",
}
MILLIS = {"queue_time_average_seconds": "qtime", "connect_time_average_seconds": "ctime",
          "response_time_average_seconds": "rtime", "total_time_average_seconds": "ttime",
          "max_queue_time_seconds": "qtime_max", "max_connect_time_seconds": "ctime_max",
          "max_response_time_seconds": "rtime_max", "max_total_time_seconds": "ttime_max",
          "check_duration_seconds": "check_duration"}
CHECK_ONLY = ("check_status", "check_code", "check_duration_seconds")  # servers with a check only
ZERO_IF_EMPTY = ("check_failures_total", "check_up_down_total", "downtime_seconds_total", "check_code")
PROCESS = (("nbthread", "gauge", "Number of started threads (global.nbthread)"),
           ("nbproc", "gauge", "Number of started worker processes (historical, always 1)"),
           ("relative_process_id", "gauge", "Relative worker process number (1)"),
           ("uptime_seconds", "gauge", "How long ago this worker process was started (seconds)"),
           ("max_connections", "gauge", "Maximum number of concurrent connections (global.maxconn)"),
           ("current_connections", "gauge", "Number of active sessions"),
           ("connections_total", "counter", "Total number of terminated sessions"),
           ("requests_total", "counter", "Total number of requests (TCP or HTTP)"))


def _num(v: Any) -> str:
    if v is None or v == "":
        return "NaN"
    x = float(v)
    if math.isnan(x):
        return "NaN"
    return str(int(x)) if x == int(x) else repr(x)


def _samples(kind: str, suffix: str, row: dict[str, Any]) -> list[tuple[str, Any]]:
    """(extra labels, value) pairs of one family for one row."""
    if suffix == "status":
        if kind == "frontend":
            return [(f'state="{s}"', int((row["status"] == "OPEN") == (s == "UP"))) for s in ("DOWN", "UP")]
        if kind == "backend":
            return [(f'state="{s}"', int(server_state(row["status"]) == s)) for s in ("DOWN", "UP")]
        return [(f'state="{s}"', int(server_state(row["status"]) == s)) for s in SERVER_STATES]
    if suffix == "check_status":
        return [(f'state="{s}"', int(str(row.get("check_status")) == s)) for s in CHECK_STATES]
    if suffix == "http_responses_total":
        return [(f'code="{c}"', row.get(f"hrsp_{c}", 0)) for c in CODES]
    if suffix in MILLIS:
        v = row.get(MILLIS[suffix])
        return [("", None if v in (None, "") else int(v) / 1000)]
    v = row.get(COLUMN[suffix])
    if v in (None, "") and suffix in ZERO_IF_EMPTY:
        v = 0
    return [("", v)]


def _aggregates(suffix: str, be: str, rows: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    servers = [r for r in rows if r["type"] == 2 and r["pxname"] == be]
    if suffix == "agg_check_status":
        return [(f'state="{s}"', sum(1 for r in servers if r.get("check_status") == s)) for s in CHECK_STATES]
    return [(f'state="{s}"', sum(1 for r in servers if server_state(r["status"]) == s)) for s in SERVER_STATES]


def exposition(rows: list[dict[str, Any]], info: dict[str, Any] | None = None) -> str:
    """The exporter's text (Prometheus format 0.0.4) for these stats rows."""
    out: list[str] = []
    info = info or {}
    for name, typ, help_ in PROCESS:
        if name in info:
            out += [f"# HELP haproxy_process_{name} {help_}", f"# TYPE haproxy_process_{name} {typ}",
                    f"haproxy_process_{name} {_num(info[name])}"]
    kinds = {"frontend": 0, "backend": 1, "server": 2}
    for line in FAMILIES.splitlines():
        kind, suffix, typ, help_ = line.split(" ", 3)
        samples = []
        for r in rows:
            if r["type"] != kinds[kind] or (suffix in CHECK_ONLY and r.get("check_status") in (None, "")):
                continue
            labels = f'proxy="{r["pxname"]}"' + (f',server="{r["svname"]}"' if kind == "server" else "")
            pairs = _aggregates(suffix, r["pxname"], rows) if suffix.startswith("agg_") else _samples(kind, suffix, r)
            samples += [f"haproxy_{kind}_{suffix}{{{labels}{',' + extra if extra else ''}}} {_num(v)}"
                        for extra, v in pairs]
        if samples:
            out += [f"# HELP haproxy_{kind}_{suffix} {help_}", f"# TYPE haproxy_{kind}_{suffix} {typ}", *samples]
    return "\n".join(out) + "\n"
