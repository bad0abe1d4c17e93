"""labsupport.lessons.balancing.plots (with course.display.charts and course.snapshot, which it draws on): the
numbers each chart shows, and that figures render to PNG without a display."""
from __future__ import annotations

import inspect

from matplotlib.figure import Figure

from labsupport import Result, Run
from labsupport.course.display import charts
from labsupport.course.display.charts import (
    FAILURE_COLOR,
    NO_ANSWER_COLOR,
    PALETTE,
    STATE_COLORS,
    figure_to_png,
    state_of,
)
from labsupport.course.snapshot import server_rows
from labsupport.lessons.balancing import plots
from labsupport.lessons.balancing.plots import (
    ServerBar,
    dashboard_model,
    latency_figure,
    latency_model,
    recent_counts,
    requests_figure,
    sequence_figure,
    sequence_model,
)

PNG = b"\x89PNG\r\n\x1a\n"

# Rows shaped like `show stat` / Balancer.snapshot(): HAProxy's column names, FE/BE rows included.
SNAP = {
    "servers": [
        {"pxname": "fe", "svname": "FRONTEND", "status": "OPEN", "stot": 40},
        {"pxname": "be", "svname": "s1", "status": "UP", "weight": 3, "lbtot": 20, "stot": 20, "hrsp_5xx": 0},
        {"pxname": "be", "svname": "s2", "status": "DOWN 1/2", "weight": 1, "lbtot": 8, "stot": 11, "hrsp_5xx": 3},
        {"pxname": "be", "svname": "s3", "status": "MAINT", "weight": 1, "lbtot": 6, "stot": 6},
        {"pxname": "be", "svname": "s4", "status": "DRAIN", "weight": "1", "lbtot": None, "stot": 2},
        {"pxname": "be", "svname": "BACKEND", "status": "UP", "lbtot": 34},
    ],
    "log": [],
}
PREV = [
    {"pxname": "be", "svname": "s1", "status": "UP", "lbtot": 14},
    {"pxname": "be", "svname": "s2", "status": "UP", "lbtot": 8},
    {"pxname": "be", "svname": "s3", "status": "UP", "lbtot": 9},  # went down: a restart, count from zero
]


def test_state_of_reads_haproxy_statuses():
    assert [state_of(s) for s in ("UP", "UP 1/3", "no check", "DOWN", "DOWN 1/2", "MAINT", "MAINT (via be/s1)",
                                  "DRAIN", "NOLB", None)] == \
        ["UP", "UP", "UP", "DOWN", "DOWN", "MAINT", "MAINT", "DRAIN", "NOLB", "OTHER"]


def test_server_rows_skip_frontend_and_backend():
    assert [r["svname"] for r in server_rows(SNAP)] == ["s1", "s2", "s3", "s4"]
    assert [r["svname"] for r in server_rows(SNAP["servers"], backend="be")] == ["s1", "s2", "s3", "s4"]
    assert server_rows(SNAP, backend="other") == []
    assert [r["svname"] for r in server_rows({"rows": SNAP["servers"]})] == ["s1", "s2", "s3", "s4"]


def test_dashboard_model_numbers():
    bars = dashboard_model(SNAP, PREV)
    assert [(b.server, b.state, b.total, b.recent, b.weight, b.errors) for b in bars] == [
        ("s1", "UP", 20, 6, 3, 0),
        ("s2", "DOWN", 8, 0, 1, 3),
        ("s3", "MAINT", 6, 6, 1, 0),
        ("s4", "DRAIN", 2, 2, 1, 0),  # no lbtot: falls back to stot; new since previous
    ]
    assert [b.color for b in bars] == [STATE_COLORS[s] for s in ("UP", "DOWN", "MAINT", "DRAIN")]
    # without a previous snapshot nothing is "recent"; stot can be chosen instead of lbtot
    assert [b.recent for b in dashboard_model(SNAP)] == [0, 0, 0, 0]
    assert [b.total for b in dashboard_model(SNAP, counter="stot")] == [20, 11, 6, 2]


def test_sequence_model_codes_and_colors():
    run = Run("http://x/", [Result(0, 0, 200, "8081", 1), Result(1, 0, 200, "8080", 1),
                            Result(2, 0, 503, None, 1), Result(3, 0, None, None, 1, "connection refused"),
                            Result(4, 0, 200, "8081", 1)], 1.0)
    model = sequence_model(run)
    assert model.names == ("8080", "8081", "HTTP 503", "connection refused")
    assert model.codes == (1, 0, 2, 3, 1)
    assert model.colors == (PALETTE[0], PALETTE[1], FAILURE_COLOR, NO_ANSWER_COLOR)
    assert sequence_model(["s2", "s1", "s2"]).codes == (1, 0, 1)


def test_latency_model_numbers():
    model = latency_model([1.0, 2.0, 3.0, 4.0, 100.0], bins=4)
    assert model.counts == (4, 0, 0, 1)
    assert model.edges == (1.0, 25.75, 50.5, 75.25, 100.0)
    assert (model.p50, model.p95) == (3.0, 100.0)
    assert latency_model([]).counts == ()


def test_figures_render_to_png_without_a_display():
    figs = [
        requests_figure(SNAP),
        requests_figure(SNAP, PREV),
        requests_figure(dashboard_model(SNAP)),  # a model is accepted too
        sequence_figure(["8080", "8081", "HTTP 503", "8080"] * 30),  # 120 cells: no text in cells
        sequence_figure(["8080", "8081", "connection refused"]),
        sequence_figure([]),
        latency_figure([0.5, 1.2, 1.3, 2.5, 9.0]),
        latency_figure([]),
    ]
    for fig in figs:
        assert isinstance(fig, Figure)
        png = figure_to_png(fig, dpi=50)
        assert png.startswith(PNG) and len(png) > 1000
    for module in (plots, charts):  # object API only: no global state
        assert "import matplotlib.pyplot" not in inspect.getsource(module), module.__name__


def test_requests_figure_shows_both_panels_with_the_model_numbers():
    fig = requests_figure(SNAP, PREV)
    total, recent = fig.axes[:2]
    assert [round(p.get_height()) for p in total.patches] == [20, 8, 6, 2]
    assert [round(p.get_height()) for p in recent.patches] == [6, 0, 6, 2]
    assert [t.get_text() for t in total.get_xticklabels()] == ["s1", "s2", "s3", "s4"]


def test_server_bar_is_plain_data():
    bar = dashboard_model(SNAP)[0]
    assert isinstance(bar, ServerBar) and bar.backend == "be" and bar.status == "UP"


def test_recent_from_the_snapshots_request_log():
    snap = dict(SNAP, time=100.0, requests=[
        (90.0, "127.0.0.1", "be", "s1", 200, 1),  # too old for a 5 s window
        (96.0, "127.0.0.1", "be", "s1", 200, 1),
        {"time": 99.0, "backend": "be", "server": "s2", "status": 200},
        (99.5, "127.0.0.1", "be", None, 503, 0),  # no server: a 503 from the balancer
        "[WARNING]  (1) : Server be/s2 is DOWN",  # event lines are not requests
    ])
    assert recent_counts(snap, 5) == {("be", "s1"): 1, ("be", "s2"): 1}
    assert [b.recent for b in dashboard_model(snap, window=5)] == [1, 1, 0, 0]
    fig = requests_figure(snap, window=5)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["total", "last 5 s"]
