"""Lesson 08's table reader and live table widget on real HAProxy 2.6 and on the engine, with the lesson's
haproxy/ratelimit.cfg and the same requests from three clients: the same rows (expiry times aside), the same
429 rows and the same answers per status from each one's log."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from support.routing import NamedServer

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy
from labsupport.lessons.sessions.tables import show_table, table_names
from labsupport.lessons.sessions.tablewatch import TableWatch

from .test_stick_tables import ask

pytestmark = pytest.mark.haproxy
CONFIG = (Path(__file__).parents[2] / "haproxy" / "ratelimit.cfg").read_text()
TRAFFIC = [("127.0.0.2", 25), ("127.0.0.3", 3), ("127.0.0.4", 21), ("127.0.0.5", 20)]


@pytest.fixture
def both(haproxy_bin):
    server = NamedServer("s1")
    mine, theirs = free_ports(2)
    text = re.sub(r"127\.0\.0\.1:820\d", f"127.0.0.1:{server.port}", CONFIG).replace("127.0.0.1:8000",
                                                                                      f"127.0.0.1:{mine}")
    lb = Balancer.from_text(text).start()
    hx = HAProxy.from_text(text, "ratelimit.cfg", port_map={mine: theirs}, binary=haproxy_bin).start()
    try:
        yield {"engine": (lb, mine), "haproxy": (hx, theirs)}
    finally:
        lb.stop()
        hx.stop()
        server.close()


def test_the_same_table_and_the_same_watch_on_both(both):
    watches = {name: TableWatch(b, "shop", limit=20, max_seconds=0) for name, (b, _) in both.items()}
    try:
        answers = {}
        for name, (_, port) in both.items():
            answers[name] = [ask(port, src) for src, n in TRAFFIC for _ in range(n)]
        assert answers["engine"] == answers["haproxy"]
        rows = {}
        for name, (b, _) in both.items():
            assert table_names(b) == ["shop"]
            t = show_table(b, "shop")
            assert all(0 < r["exp"] <= 30 for r in t)
            rows[name] = [{k: v for k, v in r.items() if k != "exp"} for r in t]
        assert rows["engine"] == rows["haproxy"]
        assert [(r["key"], r["http_req_rate(10s)"], r["http_err_rate(10s)"]) for r in rows["haproxy"]] == \
            [("127.0.0.2", 25, 5), ("127.0.0.3", 3, 0), ("127.0.0.4", 21, 1), ("127.0.0.5", 20, 0)]
        for watch in watches.values():
            watch.tick()
        seen = {name: [(r["key"], r["rate"], r["status"]) for r in w.rows()] for name, w in watches.items()}
        assert seen["engine"] == seen["haproxy"]
        assert [s for _, _, s in seen["haproxy"]] == ["429", "ok", "429", "ok"]  # over 20: more than 20
        deadline = time.monotonic() + 5  # haproxy's log lines reach its file a moment after the answers
        while watches["haproxy"].answers() != {200: 63, 429: 6} and time.monotonic() < deadline:
            watches["haproxy"].tick()
        assert watches["engine"].answers() == watches["haproxy"].answers() == {200: 63, 429: 6}
    finally:
        for watch in watches.values():
            watch.close()
