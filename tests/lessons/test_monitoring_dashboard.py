"""The monitoring dashboard: its numbers (MonitorHistory) from a real engine with real Flask servers, its
chart, its widget classes, and that its loop stops by itself headless."""
from __future__ import annotations

import math
import time

import pytest

from labsupport.balancer import Balancer
from labsupport.course.display.charts import figure_to_png
from labsupport.course.fleet import Fleet, free_ports
from labsupport.course.traffic.sender import send
from labsupport.lessons.monitoring.dashboard import MonitorDashboard
from labsupport.lessons.monitoring.plots import MonitorHistory, monitor_figure

CONFIG = """global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server fast 127.0.0.1:{fast}
    server slow 127.0.0.1:{slow}
"""


@pytest.fixture(scope="module")
def lab():
    fleet = Fleet()
    fast = fleet.start(count=1)[0]
    slow = fleet.start(count=1, delay_ms=300)[0]  # far above what a busy machine adds to the fast one
    port = free_ports(1)[0]
    lb = Balancer.from_text(CONFIG.format(port=port, fast=fast, slow=slow)).start()
    try:
        yield lb, f"http://127.0.0.1:{port}/"
    finally:
        lb.stop()
        fleet.stop_all()


def test_history_rates_p99_states_and_queue(lab):
    lb, url = lab
    h = MonitorHistory()
    seen = 0
    h.update(lb.snapshot())
    send(url, 10, progress=False)
    lb.set_state("be/slow", "drain")
    lines, seen = lb.logs(seen)
    h.update(lb.snapshot(), lines)
    last = h.last()
    assert h.backend == "be" and set(last) == {"fast", "slow"}
    assert last["fast"]["rate"] > 0 and last["fast"]["errors"] == 0
    assert last["slow"]["p99"] >= 300 > last["fast"]["p99"]
    assert (last["fast"]["state"], last["slow"]["state"]) == ("UP", "DRAIN")
    assert list(h.queue) == [0, 0]
    assert math.isnan(h.series["fast"]["rate"][0])  # no rate before two snapshots
    lb.set_state("be/slow", "ready")
    fig = monitor_figure(h)
    assert len(fig.axes) == 4 and figure_to_png(fig).startswith(b"\x89PNG")
    # 10 requests over two servers: each p99 comes from 5 answers, so it is the slowest, and the panel says so
    assert h.counts == {"fast": 5, "slow": 5}
    assert fig.axes[2].get_title(loc="left") == ("p99 of each server's answers in the last 10 s, from 5 answers; "
                                                 "under 100 answers, that is the slowest one")


def test_widget_has_its_classes_and_stops_headless(headless, lab, monkeypatch):
    lb, url = lab
    dash = MonitorDashboard(lb, refresh=0.2)
    try:
        assert {"lab-monitor"} <= set(dash.widget._dom_classes)
        assert "lab-monitor-chart" in dash.chart._dom_classes
        assert "lab-monitor-summary" in dash.summary._dom_classes
        assert "lab-monitor-stop" in dash.stop_button._dom_classes
        send(url, 4, progress=False)
        deadline = time.monotonic() + 10
        while dash.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not dash.running and dash.frames >= 2
        assert "fast" in dash.summary.value and bytes(dash.chart.value).startswith(b"\x89PNG")
    finally:
        dash.close()
