"""The course's monitoring helpers: stats CSV/JSON over HTTP (engine and real HAProxy alike), rates from
two snapshots, and percentiles from the log over a sliding window (with real Flask servers, one slow)."""
from __future__ import annotations

import math
import time

import pytest

from labsupport.balancer import Balancer
from labsupport.fleet import Fleet, free_ports
from labsupport.haproxy import HAProxy
from labsupport.monitor import LatencyWindow, fetch_stats, log_time, percentile, rates
from labsupport.traffic import send

STATS = """global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be
backend be
    server fast 127.0.0.1:{fast}
    server slow 127.0.0.1:{slow}
listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /
    stats auth admin:secret
"""


def line(date: str, server: str, ta: int, backend: str = "be") -> str:
    return (f'127.0.0.1:5000 [{date}] fe {backend}/{server} 0/0/0/{ta}/{ta} 200 73 - - ---- 1/1/0/0/0 0/0 '
            '"GET / HTTP/1.1"')


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert [percentile(values, p) for p in (50, 90, 99, 100)] == [50, 90, 99, 100]
    assert percentile([7], 99) == 7 and math.isnan(percentile([], 50))


def test_window_gives_percentiles_per_server_and_backend_and_forgets_old_lines():
    now = time.time()
    stamp = lambda t: time.strftime("%d/%b/%Y:%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"  # noqa
    lines = [line(stamp(now - 1), "fast", 10)] * 98 + [line(stamp(now - 1), "slow", 1000)] * 2
    lines += [line(stamp(now - 100), "slow", 5000)] * 50  # outside a 30 s window
    lines += ["Server be/slow is DOWN, reason: Layer4 connection problem", line(stamp(now), "<NOSRV>", 0)]
    w = LatencyWindow(window=30)
    assert w.add(lines) == 150
    rows = {(r["backend"], r["server"]): r for r in w.stats(now)}
    assert rows[("be", "fast")]["p99"] == 10 and rows[("be", "slow")]["p50"] == 1000
    whole = rows[("be", "(all)")]
    assert (whole["count"], whole["p50"], whole["p90"], whole["p99"]) == (100, 10, 10, 1000)
    assert whole["mean"] == pytest.approx(29.8)  # the average hides the tail the p99 shows
    assert "p99" in repr(w.table(now))


def test_log_time_reads_haproxys_date():
    t = time.mktime((2026, 11, 30, 17, 32, 9, 0, 0, -1)) + 0.449
    assert log_time("30/Nov/2026:17:32:09.449") == pytest.approx(t)


def test_rates_from_two_snapshots():
    rows0 = [{"pxname": "be", "svname": "s1", "stot": 10, "req_tot": 10, "hrsp_2xx": 9, "hrsp_5xx": 1, "bout": 0}]
    rows1 = [{"pxname": "be", "svname": "s1", "stot": 30, "req_tot": 30, "hrsp_2xx": 27, "hrsp_5xx": 3, "bout": 0}]
    r = rates((100.0, rows0), (102.0, rows1))
    assert (r[0]["stot/s"], r[0]["hrsp_5xx/s"]) == (10.0, 1.0)
    assert rates((100.0, rows1), (101.0, rows0))[0]["stot/s"] == ""  # counters were cleared
    with pytest.raises(ValueError):
        rates((2.0, rows0), (1.0, rows1))


@pytest.fixture(scope="module")
def lab(haproxy_bin):
    fleet = Fleet()
    fast = fleet.start(count=1)[0]
    slow = fleet.start(count=1, delay_ms=150)[0]
    ports = free_ports(4)
    texts = [STATS.format(fe=ports[2 * i], stats=ports[2 * i + 1], fast=fast, slow=slow) for i in range(2)]
    hx = HAProxy.from_text(texts[0], "m.cfg", binary=haproxy_bin).start()
    lb = Balancer.from_text(texts[1]).start()
    try:
        yield hx, lb, ports
    finally:
        lb.stop()
        hx.stop()
        fleet.stop_all()


def test_fetch_stats_reads_csv_and_json_from_both(lab):
    hx, lb, ports = lab
    for port in (ports[1], ports[3]):
        csv_rows = fetch_stats(f"http://127.0.0.1:{port}/", user="admin", password="secret")
        json_rows = fetch_stats(f"http://127.0.0.1:{port}/", "json", user="admin", password="secret")
        assert [(r["pxname"], r["svname"]) for r in csv_rows] == [(r["pxname"], r["svname"]) for r in json_rows]
        assert ("be", "slow") in [(r["pxname"], r["svname"]) for r in csv_rows]
    with pytest.raises(Exception, match="401"):
        fetch_stats(f"http://127.0.0.1:{ports[3]}/")


def test_rates_and_percentiles_on_live_traffic(lab):
    hx, lb, ports = lab
    before = lb.snapshot()
    send(f"http://127.0.0.1:{ports[2]}/", 20, progress=False)
    after = lb.snapshot()
    table = rates(before, after)
    row = {(r["pxname"], r["svname"]): r for r in table}
    assert row[("be", "fast")]["stot/s"] > 0 and row[("be", "slow")]["stot/s"] > 0
    send(f"http://127.0.0.1:{ports[0]}/", 20, progress=False)
    deadline = time.monotonic() + 5
    hx_rows = []
    while len(hx_rows) < 20 and time.monotonic() < deadline:
        hx_rows = [ln for ln in hx.log_tail(200).splitlines() if " fe be/" in ln]
        time.sleep(0.05)
    for lines in (lb.logs()[0], hx_rows):
        w = LatencyWindow(window=60)
        assert w.add(lines) == 20
        stats = {r["server"]: r for r in w.stats()}
        assert stats["slow"]["p50"] >= 150 > stats["fast"]["p99"]
