"""Read HAProxy's ``option httplog`` lines (real haproxy's or the engine's) into rows and a Table.

A line reads ``127.0.0.1:38860 [30/Nov/2026:17:32:09.449] fe be/s1 0/0/0/0/0 200 73 - - ----
2/1/0/0/0 0/0 "GET / HTTP/1.1"``: client, accept date, frontend, backend/server, the timers
TR/Tw/Tc/Tr/Ta in ms (-1: that stage was never reached), status, bytes to the client, captured
cookies, termination flags, connection counts (actconn/feconn/beconn/srv_conn/retries), queue
positions (server/backend) and the request line. Anything else on the stream (health events,
warnings) is not a request line and is left out.
"""
from __future__ import annotations

import re
import time
from typing import Any, Iterable

from ..engine.logs import MONTHS
from .display.table import Table

_HTTPLOG = re.compile(
    r"^(?P<client>\S+):(?P<port>\d+) \[(?P<date>[^\]]+)\] (?P<frontend>\S+) (?P<backend>[^/\s]+)/(?P<server>\S+) "
    r"(?P<TR>-?\d+)/(?P<Tw>-?\d+)/(?P<Tc>-?\d+)/(?P<Tr>-?\d+)/(?P<Ta>\+?-?\d+) (?P<status>-?\d+) "
    r"(?P<bytes>\+?\d+) (?P<cookie_req>\S+) (?P<cookie_resp>\S+) (?P<term>\S{4}) "
    r"(?P<actconn>\d+)/(?P<feconn>\d+)/(?P<beconn>\d+)/(?P<srv_conn>\d+)/(?P<retries>\+?\d+) "
    r"(?P<srv_queue>\d+)/(?P<backend_queue>\d+)(?: \{[^}]*\})*(?: \"(?P<request>.*)\")?$")
NUMBERS = ("port", "TR", "Tw", "Tc", "Tr", "Ta", "status", "bytes", "actconn", "feconn", "beconn", "srv_conn",
           "srv_queue", "backend_queue")
MONTHS_NUM = {m: i for i, m in enumerate(MONTHS, 1)}  # the engine's month names, the ones HAProxy writes
COLUMNS = ("date", "client", "frontend", "backend", "server", "TR", "Tw", "Tc", "Tr", "Ta", "status", "bytes",
           "term", "retries", "backend_queue", "request")


def parse_httplog(line: str) -> dict[str, Any] | None:
    """One httplog line -> a dict (numbers as ints; the log prefix, if any, skipped); None otherwise."""
    text = line.strip()
    start = re.search(r"\d{1,3}(?:\.\d{1,3}){3}:\d+ \[", text)  # a syslog header may come first
    if start is None:
        return None
    m = _HTTPLOG.match(text[start.start():])
    if m is None:
        return None
    row: dict[str, Any] = m.groupdict()
    for k in NUMBERS:
        row[k] = int(str(row[k]).lstrip("+"))
    row["retries"] = int(row["retries"].lstrip("+"))
    row["redispatched"] = m.group("retries").startswith("+")
    return row


def parse_logs(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Every httplog line of ``lines`` parsed; other lines skipped."""
    return [r for r in (parse_httplog(line) for line in lines) if r is not None]


def log_table(lines: Iterable[str], columns: tuple[str, ...] = COLUMNS, title: str = "") -> Table:
    """The request lines of a log as a Table (a notebook shows it as HTML)."""
    return Table([{c: r[c] for c in columns} for r in parse_logs(lines)], list(columns), title=title)


def log_time(date: str) -> float:
    """``30/Nov/2026:17:32:09.449`` (local time) -> seconds since the epoch."""
    day, mon, rest = date.split("/", 2)
    year, hh, mm, ss = rest.split(":")
    sec, _, ms = ss.partition(".")
    t = time.mktime((int(year), MONTHS_NUM[mon], int(day), int(hh), int(mm), int(sec), 0, 0, -1))
    return t + int(ms or 0) / 1000
