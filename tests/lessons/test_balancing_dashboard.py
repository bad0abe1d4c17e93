"""The live dashboard: what its chart shows (no display needed), and that its controls act on a
real running Balancer. Also the config-text edits it relies on, and the weighted-rr exercise check."""
from __future__ import annotations

import http.client

import pytest
from support.httpbackend import Backend, free_port, wait_for

from labsupport.balancer import Balancer
from labsupport.course.cfgedit import backends_in, edit_backend, rebind, servers_in
from labsupport.errors import UsageError
from labsupport.lessons.balancing.dashboard import CHOICES, Dashboard
from labsupport.lessons.balancing.exercises import check_half_traffic


def config(port: int, backends, balance: str = "roundrobin", weights: dict | None = None) -> str:
    weights = weights or {}
    servers = "\n".join(f"    server {b.name} 127.0.0.1:{b.port}" + (f" weight {weights[b.name]}"
                                                                     if b.name in weights else "")
                        for b in backends)
    return f"""global
    maxconn 500
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend http-in
    bind 127.0.0.1:{port}
    default_backend application_nodes
backend application_nodes
    balance {balance}          # how to choose
{servers}
"""


@pytest.fixture
def three():
    bs = [Backend(f"server0{i}") for i in (1, 2, 3)]
    yield bs
    for b in bs:
        b.stop()


@pytest.fixture
def lb(three):
    port = free_port()
    balancer = Balancer.from_text(config(port, three)).start()
    yield balancer
    balancer.stop()


@pytest.fixture
def dash(lb):
    d = Dashboard(lb, refresh=0.1, max_seconds=30)
    yield d
    d.close()


def picks(port: int, n: int, conn: http.client.HTTPConnection | None = None) -> list[str]:
    """Who answered ``n`` requests, one after another ('s1', 's2'... as in tests/vectors/algorithms.md)."""
    out = []
    for _ in range(n):
        c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/")
        out.append("s" + c.getresponse().read().decode()[-1])
        if conn is None:
            c.close()
    return out


def seq(text: str) -> list[str]:
    return text.split()


# ---------------------------------------------------------------------------- the model, without a display

def test_widgets_carry_stable_classes_and_show_the_running_config(dash):
    assert "lab-dashboard" in dash.widget._dom_classes
    assert "lab-chart" in dash.chart._dom_classes and bytes(dash.chart.value).startswith(b"\x89PNG")
    assert "lab-algorithm" in dash.algorithm._dom_classes and dash.algorithm.value == "roundrobin"
    assert list(dash.algorithm.options) == list(CHOICES) and "uri" not in CHOICES
    assert "lab-traffic-toggle" in dash.toggle._dom_classes and "lab-rate" in dash.rate._dom_classes
    assert {n: s.value for n, s in dash.sliders.items()} == {"server01": 1, "server02": 1, "server03": 1}
    assert "lab-weight-server02" in dash.sliders["server02"]._dom_classes
    assert repr(dash) == ("<Dashboard application_nodes roundrobin: server01 w1 0 req, server02 w1 0 req, "
                          "server03 w1 0 req>")


def test_model_counts_totals_and_the_last_seconds_from_the_request_log(dash, lb):
    picks(lb.ports[0], 5)
    snap = lb.snapshot()
    bars = dash.model(snap)
    assert [(b.server, b.total, b.recent, b.state, b.weight) for b in bars] == [
        ("server01", 2, 2, "UP", 1), ("server02", 2, 2, "UP", 1), ("server03", 1, 1, "UP", 1)]
    later = dict(snap, time=snap["time"] + 60)  # a minute later: still the totals, nothing recent
    assert [(b.total, b.recent) for b in dash.model(later)] == [(2, 0), (2, 0), (1, 0)]


def test_model_of_a_snapshot_without_request_log_compares_with_an_older_one(dash):
    # real haproxy's snapshot has no request log: the dashboard compares with the snapshot of
    # `window` seconds before (rows as HAProxy's `show stat` names them)
    def snap(t, counts, status="UP"):
        rows = [{"pxname": "application_nodes", "svname": f"server0{i}", "status": status, "weight": 1,
                 "lbtot": c, "stot": c} for i, c in enumerate(counts, 1)]
        rows.append({"pxname": "application_nodes", "svname": "BACKEND", "status": "UP", "algo": "roundrobin"})
        return {"time": t, "servers": rows[:-1], "backends": rows[-1:], "rows": rows}

    assert [b.recent for b in dash.model(snap(1000.0, [10, 10, 10]))] == [0, 0, 0]
    assert [b.recent for b in dash.model(snap(1002.0, [14, 12, 10]))] == [4, 2, 0]
    bars = dash.model(snap(1005.0, [20, 12, 11], status="DOWN"))
    assert [b.recent for b in bars] == [6, 0, 1]  # against t=1002, the newest snapshot >= 3 s old
    assert {b.state for b in bars} == {"DOWN"}


def test_chart_redraws_only_when_what_it_shows_changed(dash, lb):
    dash.loop.stop()
    frames = dash.frames
    dash.refresh()
    assert dash.frames == frames
    picks(lb.ports[0], 2)
    dash.refresh()
    assert dash.frames == frames + 1
    assert repr(dash).startswith("<Dashboard application_nodes roundrobin: server01 w1 1 req, server02 w1 1 req")


def test_summary_line_gives_the_last_seconds_counts_as_text(dash, lb):
    dash.loop.stop()
    picks(lb.ports[0], 3)
    dash.refresh()
    assert "lab-dashboard-summary" in dash.summary._dom_classes
    assert dash.summary.value == (
        '<span style="color:#666">last 3 s: server01 <span class="lab-last lab-last-server01">1</span> &middot; '
        'server02 <span class="lab-last lab-last-server02">1</span> &middot; '
        'server03 <span class="lab-last lab-last-server03">1</span></span>')


# ---------------------------------------------------------------------------- the controls act on the engine

def test_weight_slider_takes_effect_on_the_next_picks(dash, lb):
    port = lb.ports[0]
    assert picks(port, 5) == seq("s1 s2 s3 s1 s2")
    dash.sliders["server01"].value = 3  # what dragging the slider does
    assert lb.get_weight("application_nodes/server01") == "3 (initial 1)"
    # tests/vectors/algorithms.md section 0, runtime vector "rr 1,1,1 ... set server be/s1 weight 3"
    assert picks(port, 12) == seq("s3 s1 s2 s1 s1 s3 s1 s2 s1 s1 s3 s1")
    assert [b.weight for b in dash.model()] == [3, 1, 1]


def test_weight_zero_takes_a_server_out(dash, lb):
    dash.set_weight("server02", 0)
    assert "s2" not in picks(lb.ports[0], 9)


def test_algorithm_reload_keeps_the_port_and_changes_the_sequence(dash, lb):
    port = lb.ports[0]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    assert picks(port, 3, conn) == seq("s1 s2 s3")
    dash.algorithm.value = "first"
    assert "application_nodes first:" in repr(lb) and lb.ports == [port]
    assert picks(port, 4, conn) == seq("s1 s1 s1 s1")  # the kept-alive connection survived the reload
    conn.close()
    assert dash.message.value == ""


def test_algorithm_change_keeps_the_sliders_weights(dash, lb):
    dash.set_weight("server01", 4)
    dash.set_algorithm("static-rr")
    assert "balance static-rr" in lb.config.text and "weight 4" in lb.config.text
    # tests/vectors/algorithms.md section 0: static-rr 4,1,1 from a fresh start
    assert picks(lb.ports[0], 12) == seq("s1 s1 s1 s2 s1 s3 s1 s1 s1 s2 s1 s3")
    dash.set_algorithm("static-rr")  # picking it again reloads: a fresh rotation
    assert picks(lb.ports[0], 3) == seq("s1 s1 s1")


def test_refused_weight_shows_haproxys_message_and_the_slider_goes_back(dash, lb):
    dash.set_algorithm("static-rr")
    dash.loop.stop()
    dash.sliders["server02"].value = 2
    assert "only accepts weights '0%' and '100%'" in dash.message.value.replace("&#x27;", "'")
    dash.refresh()
    assert dash.sliders["server02"].value == 1


def test_sliders_and_picker_follow_changes_made_from_code(dash, lb, three):
    dash.loop.stop()
    dash.set_algorithm("roundrobin")  # a control's action just before must not hide the next change
    lb.set_weight("server01", 3)
    dash.refresh()
    assert dash.sliders["server01"].value == 3
    lb.set_weight("server02", 7)
    port = lb.ports[0]
    lb.reload(config(port, three, balance="leastconn", weights={"server02": 7}))
    dash.refresh()
    assert dash.sliders["server02"].value == 7 and dash.sliders["server02"].max >= 7
    assert dash.algorithm.value == "leastconn"
    assert lb.config.text.count("leastconn") == 1  # following a change does not reload again


def test_traffic_button_and_rate_drive_a_generator(dash, lb):
    dash.rate.value = 50
    dash.toggle.value = True
    assert dash.generator.running and dash.generator.rate == 50 and dash.toggle.description == "stop traffic"
    dash.rate.value = 80
    assert dash.generator.rate == 80
    wait_for(lambda: sum(b.total for b in dash.model()) >= 10)
    wait_for(lambda: dash.frames >= 3)
    dash.toggle.value = False
    assert not dash.generator.running and dash.toggle.description == "start traffic"


def test_loops_are_bounded_when_headless(monkeypatch, lb):
    monkeypatch.setattr("labsupport.course.display.live.HEADLESS", True)  # read once, at import
    d = Dashboard(lb, refresh=0.1, max_seconds=600).start_traffic(5)
    try:
        assert d.loop.max_seconds <= 3 and d.generator.duration <= 3
        wait_for(lambda: not d.loop.running and not d.generator.running, timeout=8)
        d.refresh()  # the generator ran its course: the button says so
        assert d.toggle.value is False and "paused" in d.status.value
        assert "run this cell again" in d.status.value  # the still picture invites the student
    finally:
        d.close()
    assert "stopped by a clean-up" in d.status.value and "start traffic" in d.status.value


def test_totals_count_from_the_dashboards_start_across_reloads(lb):
    picks(lb.ports[0], 6)  # earlier cells' requests
    d = Dashboard(lb, refresh=0.1, max_seconds=30)
    try:
        d.loop.stop()
        assert [b.total for b in d.model()] == [0, 0, 0]
        picks(lb.ports[0], 3)
        assert [b.total for b in d.model()] == [1, 1, 1]
        d.set_algorithm("roundrobin")  # a reload restarts the engine's counters
        picks(lb.ports[0], 3)
        assert [b.total for b in d.model()] == [2, 2, 2]
    finally:
        d.close()


def test_a_new_dashboard_on_the_same_balancer_replaces_the_old_one(dash, lb):
    dash.start_traffic(5)
    again = Dashboard(lb, refresh=0.1, max_seconds=30)  # what re-running the notebook cell does
    try:
        assert not dash.loop.running and not dash.generator.running and dash.toggle.value is False
        assert again.loop.running
    finally:
        again.close()


def test_dashboard_needs_servers_to_show():
    port = free_port()
    text = f"defaults\n    mode http\nfrontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\nbackend be\n"
    with Balancer.from_text(text) as empty:
        with pytest.raises(ValueError, match="no servers to show"):
            Dashboard(empty)


# ---------------------------------------------------------------------------- config edits

TEXT = """global
    maxconn 500
frontend http-in
    bind *:3000 # clients come here
    default_backend application_nodes
backend application_nodes
    balance roundrobin # take the servers in turn
    server server01 localhost:8080 weight 2 check  # the big one
    server server02 localhost:8081
#listen stats_page
#    bind *:8083
"""


def test_edit_backend_changes_only_the_balance_and_weight_lines():
    out = edit_backend(TEXT, balance="leastconn", weights={"server01": 5, "server02": 3})
    expected = (TEXT.replace("    balance roundrobin # take the servers in turn", "    balance leastconn")
                .replace("weight 2 check", "weight 5 check")
                .replace("server02 localhost:8081", "server02 localhost:8081 weight 3"))
    assert out == expected
    assert backends_in(TEXT) == ["application_nodes"]
    assert servers_in(TEXT, "application_nodes") == ["server01", "server02"]


def test_edit_backend_adds_a_missing_balance_line_and_names_unknown_servers():
    text = TEXT.replace("    balance roundrobin # take the servers in turn\n", "")
    assert "backend application_nodes\n    balance source\n    server server01" in edit_backend(text, balance="source")
    with pytest.raises(UsageError, match=r"no server named 'server9' \(its servers: server01, server02\)"):
        edit_backend(TEXT, weights={"server9": 1})
    with pytest.raises(UsageError, match=r"no backend named 'web' in this configuration \(backends: applicat"):
        edit_backend(TEXT, backend="web", balance="first")


def test_edit_backend_reads_words_as_haproxy_does_not_text():
    """A server named 'weight', 'weight' in a comment, a backend section header with a comment, and a
    listen section: only the weight value word changes."""
    text = ("listen web  # the only section\n    bind :80\n"
            "    server weight 127.0.0.1:1 check  # weight 9 in a comment\n"
            "    server b 127.0.0.1:2 weight\t7 check\n")
    out = edit_backend(text, weights={"weight": 4, "b": 1})
    assert out.splitlines()[2:] == ["    server weight 127.0.0.1:1 check weight 4  # weight 9 in a comment",
                                    "    server b 127.0.0.1:2 weight\t1 check"]
    assert backends_in(text) == ["web"] and servers_in(text, "web") == ["weight", "b"]
    assert rebind("frontend f\n    bind *:3000,127.0.0.1:3001 name x # c\n", 9) == \
        "frontend f\n    bind 127.0.0.1:9 name x # c\n"


def test_rebind_moves_every_bind_line():
    assert "    bind 127.0.0.1:3999 # clients come here" in rebind(TEXT, 3999)
    assert "#    bind *:8083" in rebind(TEXT, 3999)  # commented lines stay as they are


# ---------------------------------------------------------------------------- the exercise's check

def test_half_traffic_check_runs_real_traffic(tmp_path, three):
    # The check reads server names from the file and the answers' bodies ("server01" here).
    cfg = tmp_path / "lesson.cfg"
    cfg.write_text(config(3000, three))
    good = check_half_traffic({"server01": 2}, config=cfg, rounds=5)
    assert good.passed and good.counts == {"server01": 10, "server02": 5, "server03": 5}
    assert repr(good).splitlines()[0] == "PASS: server01 takes 50 % of the traffic (within 2 points: 48-52 %)"
    assert "server01 answered 50.0 % of the requests, within 48-52 %." in repr(good)
    assert "server01:   10 requests   50.0 %" in repr(good)
    bad = check_half_traffic({"server01": 4}, config=cfg, rounds=5)
    assert not bad.passed
    assert "server01 answered 66.7 % of the requests; aim for 50 % (between 48 and 52 %)." in repr(bad)


def test_half_traffic_check_explains_bad_answers(tmp_path, three):
    cfg = tmp_path / "lesson.cfg"
    cfg.write_text(config(3000, three))
    assert "there is no server named 'server1'" in repr(check_half_traffic({"server1": 2}, config=cfg))
    assert "whole number from 0 to 256, not 2.5" in repr(check_half_traffic({"server01": 2.5}, config=cfg))
    idle = check_half_traffic({"server01": 1, "server02": 1, "server03": 0}, config=cfg, rounds=5)
    assert not idle.passed and idle.shares["server01"] == 50.0
    assert "server03 got nothing: weight 0 takes a server out of the rotation" in repr(idle)
    zero = check_half_traffic({"server01": 0, "server02": 0, "server03": 0}, config=cfg)
    assert "every weight is 0" in repr(zero)
    three[2].stop()
    down = check_half_traffic({"server01": 2}, config=cfg)
    assert not down.passed and "server03 (127.0.0.1:" in repr(down) and "does not answer" in repr(down)
