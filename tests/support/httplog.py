"""``LOGGED``: the head (global and defaults) of a config whose every request goes to stdout as an httplog
line, on the engine and on real haproxy alike; the tests that compare log lines build on it. ``logged_rows``
reads those lines back from either, once enough have been written."""
from __future__ import annotations

LOGGED = """global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
"""


def logged_rows(proc, count: int, tail: int = 400, timeout: float = 5.0) -> list[dict]:
    """The parsed log lines (``parse_logs``) of real haproxy (the tail of its stdout) or of the engine, once
    at least ``count`` have been written or ``timeout`` seconds have passed."""
    import time

    from labsupport.course.haproxy import HAProxy
    from labsupport.course.logtable import parse_logs

    def read() -> list[str]:
        return proc.log_tail(tail).splitlines() if isinstance(proc, HAProxy) else proc.logs()[0]

    deadline = time.monotonic() + timeout
    rows = parse_logs(read())
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = parse_logs(read())
    return rows
