"""labsupport.course.logtable: the httplog parser (syslog prefixes, event lines), the log table, and the dates
in HAProxy's logs (the engine's and real haproxy's lines alike are compared in tests/differential/test_logs.py)."""
from __future__ import annotations

import time

import pytest

from labsupport.course.logtable import log_table, log_time, parse_httplog


def test_the_parser_reads_a_syslog_prefixed_line_and_skips_events():
    line = ("<134>Nov 30 17:32:09 haproxy[123]: 10.0.0.7:5555 [30/Nov/2026:17:32:09.449] fe be/s1 "
            "1/0/2/3/6 200 73 - - ---- 2/1/0/0/+1 0/0 \"GET / HTTP/1.1\"")
    row = parse_httplog(line)
    assert (row["client"], row["server"], row["Ta"], row["retries"], row["redispatched"]) == \
        ("10.0.0.7", "s1", 6, 1, True)
    assert parse_httplog("Server be/s1 is DOWN, reason: Layer4 connection problem") is None
    table = log_table([line, "noise"])
    assert len(table) == 1 and table[0]["term"] == "----"


def test_log_time_reads_haproxys_date():
    t = time.mktime((2026, 11, 30, 17, 32, 9, 0, 0, -1)) + 0.449
    assert log_time("30/Nov/2026:17:32:09.449") == pytest.approx(t)
