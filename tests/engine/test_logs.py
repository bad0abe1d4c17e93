"""The engine's log: a request's ``Record`` is written as HAProxy's httplog line only when read."""
from __future__ import annotations

import time

from labsupport.engine.balance import make_algorithm
from labsupport.engine.config import Proxy, ServerConfig
from labsupport.engine.logs import MONTHS, Logs, Record, log_date, texts


def record(**changes) -> Record:
    r = Record("127.0.0.1", 40000, 1764524529.449, "fe", "be", "s1", 0, 0, 1, 2, 3, 200, 86, "----",
               1, 1, 0, 0, "0", 0, 0, (b"GET", b"/a?b=\xe9", b"1.1"))
    return r._replace(**changes)


def test_a_record_reads_as_haproxys_httplog_line():
    date = log_date(1764524529.449)
    assert record().httplog() == (f'127.0.0.1:40000 [{date}] fe be/s1 0/0/1/2/3 200 86 - - ---- 1/1/0/0/0 0/0 '
                                  '"GET /a?b=\xe9 HTTP/1.1"')
    assert record(request=None, rc="+1", server="<NOSRV>").httplog().endswith(
        ' be/<NOSRV> 0/0/1/2/3 200 86 - - ---- 1/1/0/0/+1 0/0 "<BADREQ>"')


def test_log_date_is_haproxys_tr_in_local_time_across_seconds():
    base = int(time.time())
    for t in (base + 0.999, base + 1.0, base + 1.0005, base - 86400 + 0.25, base + 1.5):  # the cache moves on
        lt = time.localtime(t)
        assert log_date(t) == (f"{lt.tm_mday:02d}/{MONTHS[lt.tm_mon - 1]}/{lt.tm_year}:{lt.tm_hour:02d}:"
                               f"{lt.tm_min:02d}:{lt.tm_sec:02d}.{int(t * 1000) % 1000:03d}")


def test_logs_keep_lines_and_records_in_order_bounded_with_a_global_index():
    logs = Logs(3)
    logs.emit("event one")
    for port in (1, 2, 3):
        logs.emit(record(port=port))
    lines, nxt = logs.since(0)  # the first line fell out
    assert nxt == 4 and [line.split()[0] for line in lines] == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    assert logs.since(3) == (lines[2:], 4)
    assert logs.since(4) == ([], 4)
    entries, nxt = logs.entries(2)
    assert nxt == 4 and texts(entries) == lines[1:]


def test_writers_get_the_written_line_at_once():
    logs, got = Logs(), []
    logs.writers.append(got.append)
    logs.emit(record())
    logs.emit("backend be has no server available!")
    assert got == [record().httplog(), "backend be has no server available!"]


def test_the_group_in_use_follows_every_change_of_state_or_weight():
    servers = (ServerConfig("s1", "127.0.0.1", 8001, id=1), ServerConfig("b1", "127.0.0.1", 8002, backup=True, id=2))
    for balance in ("roundrobin", "static-rr", "leastconn", "first", "source"):
        alg = make_algorithm(Proxy(kind="backend", name="be", balance=balance, servers=servers))
        assert alg.choose("10.0.0.1") == "s1" and alg.has_usable()
        alg.set_usable("s1", False)
        assert alg.choose("10.0.0.1") == "b1"
        alg.set_weight("b1", 0)
        assert alg.choose("10.0.0.1") is None and not alg.has_usable()
        alg.set_weight("b1", 1)
        assert alg.choose("10.0.0.1") == "b1"
        alg.set_usable("s1", True)
        assert alg.choose("10.0.0.1") == "s1", balance
