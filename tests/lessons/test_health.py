"""Activity 4's pieces on the engine alone: check syntax, check results, sick servers, the recorder,
the plots, the live timeline and the exercises (the comparison with real HAProxy is in
tests/differential/test_health.py)."""
from __future__ import annotations

import time

import pytest

from labsupport.course.display.charts import STATS_PAGE_COLORS, state_class
from labsupport.course.fleet import Fleet, free_ports
from labsupport.engine.balancer import Balancer
from labsupport.engine.config import ConfigError, parse
from labsupport.engine.config.checks import status_matches
from labsupport.engine.config.model import CheckExpect
from labsupport.engine.proxy.checker import check_request, judge
from labsupport.errors import ServerNotRunningError
from labsupport.lessons.health.exercises import (
    check_costs,
    check_fast_detection,
    check_invisible_kill,
    detection_times,
    private_config,
)
from labsupport.lessons.health.plots import health_timeline_figure, health_timeline_model, request_timeline_model
from labsupport.lessons.health.recorder import StateRecorder
from labsupport.lessons.health.timeline import HealthTimeline

HEAD = ("global\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n")


def backend(lines: str, server: str = "    server s1 127.0.0.1:1 check\n"):
    return parse(HEAD + "backend b\n" + lines + server).proxy("b")


# ----- syntax
def test_http_check_send_sets_method_uri_version_and_headers():
    be = backend("    option httpchk\n    http-check send meth GET uri /health ver HTTP/1.1 hdr Host x hdr X-A 1\n")
    assert (be.httpchk, be.httpchk_version, be.http_check_headers) == (("GET", "/health"), "HTTP/1.1",
                                                                       (("Host", "x"), ("X-A", "1")))
    assert check_request(be) == b"GET /health HTTP/1.1\r\nhost: x\r\nx-a: 1\r\nconnection: close\r\n\r\n"
    assert check_request(backend("    option httpchk GET /h\n")) == b"GET /h HTTP/1.0\r\n\r\n"


@pytest.mark.parametrize("line, expect", [
    ("status 200", CheckExpect("status", "200")),
    ("! status 503", CheckExpect("status", "503", True)),
    ("!status 200-299,304", CheckExpect("status", "200-299,304", True)),
    ("rstatus ^2", CheckExpect("rstatus", "^2")),
    ("string OK", CheckExpect("string", "OK")),
    ("! rstring sick", CheckExpect("rstring", "sick", True)),
])
def test_http_check_expect_forms(line, expect):
    be = backend(f"    option httpchk GET /health\n    http-check expect {line}\n")
    assert be.http_check_expect == expect
    assert not parse(HEAD + f"backend b\n    http-check expect {line}\n").warnings


@pytest.mark.parametrize("line, warning", [
    ("http-check expect min-recv 10", "'http-check expect min-recv 10' is accepted by HAProxy but ignored"),
    ("http-check expect hdr name x", "'http-check expect hdr name x' is accepted by HAProxy but ignored"),
    ("http-check send body abc", "'http-check send body abc' is accepted by HAProxy but ignored"),
    ("http-check connect", "'http-check connect' is accepted by HAProxy but ignored"),
    ("http-check disable-on-404", "'http-check disable-on-404' is accepted by HAProxy but ignored"),
])
def test_what_the_engine_does_not_do_is_a_located_warning(line, warning):
    cfg = parse(HEAD + f"backend b\n    option httpchk\n    {line}\n")
    assert [w.line for w in cfg.warnings] == [9]
    assert warning in cfg.warnings[0].text


@pytest.mark.parametrize("line, alert", [
    ("http-check expect", "expects at least a matching pattern"),
    ("http-check expect status", "'status' expects a <pattern>"),
    ("http-check expect bogus 1", "but got 'bogus' as argument"),
    ("http-check expect rstring (", "regex '(' is invalid"),
    ("http-check send meth", "'meth' expects an argument"),
    ("http-check send color red", "but got 'color'"),
])
def test_bad_check_lines_are_located_errors(line, alert):
    with pytest.raises(ConfigError) as e:
        parse(HEAD + f"backend b\n    {line}\n")
    assert "[haproxy.cfg:8]" in str(e.value) and alert in str(e.value)


def test_status_patterns_and_judging():
    assert status_matches("200", 200) and not status_matches("200", 204)
    assert status_matches("200-299,304", 304) and not status_matches("200-299,304", 301)
    be = backend("    option httpchk GET /\n    http-check expect string OK\n")
    assert judge(be, 200, "OK", b"all OK") == (True, "L7OK", "OK")
    assert judge(be, 200, "OK", b"nope") == (False, "L7RSP", "HTTP content check did not match")
    be = backend("    option httpchk GET /\n    http-check expect ! rstring ^sick\n")
    assert judge(be, 200, "OK", b"sick now") == (False, "L7RSP", "HTTP check matched unwanted content")
    assert judge(backend("    option httpchk GET /\n"), 302, "Found", b"") == (True, "L7OK", "Found")
    assert judge(backend("    option httpchk GET /\n"), 503, "Nope", b"") == (False, "L7STS", "Nope")


def test_log_health_checks_is_parsed():
    assert backend("    option log-health-checks\n").log_health_checks
    assert not backend("    option log-health-checks\n    no option log-health-checks\n").log_health_checks


# ----- sick servers, the recorder, the engine's event hook
@pytest.fixture(scope="module")
def fleet():
    with Fleet() as f:
        f.start(free_ports(2))
        yield f


def test_make_sick_hang_heal_and_crash_next(fleet):
    port = fleet.ports[0]
    fleet.make_sick(port)
    assert fleet.health_mode(port) == "fail"
    assert "sick" in fleet.ask(port, "/health") and "Hi!! from server" in fleet.ask(port, "/")
    fleet.make_sick(port, "hang")
    t0 = time.monotonic()
    assert "timed out" in fleet.ask(port, "/health")  # fleet.ask waits 3 s
    assert time.monotonic() - t0 >= 2.9
    fleet.make_healthy(port)
    assert fleet.ask(port, "/health") == "OK\n"
    with pytest.raises(ValueError, match="mode must be one of ok, fail, hang"):
        fleet.make_sick(port, "grumpy")
    fleet.crash_next(port)
    assert "closed connection without response" in fleet.ask(port, "/")
    deadline = time.monotonic() + 5
    while fleet.servers[0].alive and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(ServerNotRunningError, match=r"fleet.restart\(%d\)" % port):
        fleet.make_sick(port)
    assert fleet.health_mode(port) == "-"
    fleet.restart(port)
    assert fleet.health_mode(port) == "ok"


def test_recorder_sees_sick_server_go_down_under_httpchk_and_hooks_get_the_lines(fleet):
    sick = fleet.ports[1]
    text = (HEAD + f"frontend f\n    bind 127.0.0.1:{free_ports(1)[0]}\n    default_backend b\nbackend b\n"
            "    option httpchk GET /health\n    option log-health-checks\n"
            + "".join(f"    server s{i} 127.0.0.1:{p} check inter 100ms\n" for i, p in enumerate(fleet.ports, 1)))
    heard = []
    with Balancer.from_text(text) as lb, StateRecorder(lb, interval=0.02) as rec:
        lb.on_event(lambda when, level, line: heard.append((level, line)))
        rec.wait_for("s2", "UP", timeout=10)
        fleet.make_sick(sick)
        rec.mark("sick")
        try:
            rec.wait_for("s2", "DOWN", "sick", timeout=10)
        finally:
            fleet.make_healthy(sick)
        assert rec.sequence("s2", "sick") == ["UP", "UP 2/3", "UP 1/3", "DOWN"]
        row = next(r for r in rec.last_checks() if r["server"] == "b/s2")
        assert (row["check_status"], row["check_code"], row["last_chk"]) == ("L7STS", 503, "SERVICE UNAVAILABLE")
        assert 0.1 < rec.seconds_between("sick", "s2", "DOWN") < 1.0
        rec.wait_for("s2", "UP", "sick", timeout=10)
    lines = [line for _, line in heard]
    assert "Health check for server b/s2 failed, reason: Layer7 wrong status, code: 503, " \
           'info: "SERVICE UNAVAILABLE", check duration: ' in next(x for x in lines if "failed" in x)
    assert any(x.endswith("status: 2/3 UP.") for x in lines)
    assert "Server b/s2 is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, " \
           "0 remaining in queue." in lines  # the reason is on the check line, as HAProxy does
    assert ("ALERT", "backend 'b' has no server available!") not in heard


def test_recorder_raises_with_what_it_saw():
    with Balancer.from_text(HEAD + "backend b\n    server s1 127.0.0.1:1\n") as lb:
        rec = StateRecorder(lb)
        rec.poll()
        with pytest.raises(TimeoutError, match="s1 did not show 'DOWN' within 0.1 s .it went through no check"):
            rec.wait_for("s1", "DOWN", timeout=0.1)


# ----- plots and the widget
def test_stats_page_classes_and_bands():
    assert [state_class(s) for s in ("UP", "UP 2/3", "DOWN 1/2", "DOWN", "MAINT", "DRAIN", "no check")] == [
        "active_up", "active_going_down", "active_going_up", "active_down", "maintain", "active_draining",
        "active_no_check"]
    assert state_class("UP", backup=True) == "backup_up"
    bands = health_timeline_model({"b/s1": [(0, "UP"), (2, "UP 2/3"), (3, "DOWN")]}, end=5, start=1)
    assert [(b.start, b.end, b.status, b.color) for b in bands] == [
        (1, 2, "UP", STATS_PAGE_COLORS["active_up"]), (2, 3, "UP 2/3", STATS_PAGE_COLORS["active_going_down"]),
        (3, 5, "DOWN", STATS_PAGE_COLORS["active_down"])]
    assert health_timeline_figure({"b/s1": [(0, "UP")]}, end=5, marks={"kill": 2}).axes


def test_request_timeline_model_marks_failures():
    from labsupport import Result
    dots = request_timeline_model([Result(0, 0.1, 200, "8080", 3.0), Result(1, 0.2, 503, None, 3000.0)])
    assert [(d.label, d.failed) for d in dots] == [("8080", False), ("HTTP 503", True)]


def test_timeline_widget_buttons_act_and_the_loop_stops_headless(headless, fleet, monkeypatch):
    text = (HEAD + "backend b\n" + "".join(f"    server s{i} 127.0.0.1:{p} check inter 100ms\n"
                                           for i, p in enumerate(fleet.ports, 1)))
    with Balancer.from_text(text) as lb:
        tl = HealthTimeline(lb, fleet, refresh=0.1, max_seconds=600)
        try:
            assert "lab-health-timeline" in tl.widget._dom_classes
            assert "lab-health-chart" in tl.image._dom_classes
            for action in ("kill", "sick", "revive"):
                assert f"lab-health-{action}-s1" in tl.buttons["s1"][action]._dom_classes
            tl.recorder.wait_for("s1", "UP", timeout=10)
            tl.buttons["s1"]["sick"].click()
            assert fleet.health_mode(fleet.ports[0]) == "fail"
            tl.buttons["s1"]["revive"].click()
            assert fleet.health_mode(fleet.ports[0]) == "ok"
            tl.buttons["s1"]["kill"].click()
            tl.recorder.wait_for("s1", "DOWN", "kill %d" % fleet.ports[0], timeout=10)
            tl.refresh()
            state = tl.states["b/s1"]
            assert "lab-health-state-s1" in state._dom_classes
            assert ">DOWN<" in state.value and "#ff9090" in state.value  # the stats page's active_down colour
            tl.buttons["s1"]["revive"].click()
            tl.recorder.wait_for("s1", "UP", "revive %d" % fleet.ports[0], timeout=10)
            assert bytes(tl.image.value).startswith(b"\x89PNG")
            deadline = time.monotonic() + 6
            while tl.loop.running and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not tl.loop.running  # headless: a few seconds at most
        finally:
            tl.close()


# ----- exercises
def test_check_costs_and_fast_detection_exercise():
    assert check_costs("check inter 1s fastinter 200ms fall 2 downinter 5s") == {
        "checks/s while UP": 1.0, "checks/s while DOWN": 0.2, "timers to DOWN (s)": 1.2}
    assert not check_fast_detection("check inter 2s fall 3 rise 2")
    assert not check_fast_detection("check inter 500ms fall 1")  # fast, but two checks a second
    assert "without 'check'" in repr(check_fast_detection("inter 1s"))
    assert "refused" in repr(check_fast_detection("check inter 1x"))
    at_the_limit = check_fast_detection("check inter 1s fastinter 250ms fall 3")  # timers: exactly 1.5 s
    assert not at_the_limit and "1.55 s is more than 1.5 s" in repr(at_the_limit), repr(at_the_limit)
    assert "measured" not in repr(at_the_limit)  # judged before any kill: never PASS or FAIL by a few ms
    result = check_fast_detection("check inter 1s fastinter 200ms fall 2")
    assert result, repr(result)
    assert "measured, a kill just after a good check: DOWN in" in repr(result)
    assert "within 1.5 s; no allowance" in repr(result)


def test_detection_times_measures_several_settings_at_once():
    """Each setting on its own server and balancer, all at the same time: each result is that
    setting's own detection (within one inter of its worst case)."""
    settings = ["check inter 500ms fall 3", "check inter 250ms fall 1", "check inter 1s fastinter 200ms fall 2"]
    measured = detection_times(settings)
    assert list(measured) == settings
    for options, seconds in measured.items():
        worst = check_costs(options)["timers to DOWN (s)"]
        inter = parse(private_config(options, [1])).proxy("be").servers[0].inter / 1000
        assert worst - inter - 0.1 <= seconds <= worst + 0.5, (options, seconds)


def test_invisible_kill_exercise_fails_without_redispatch_and_passes_with_it():
    assert not check_invisible_kill([])
    assert check_invisible_kill(["option redispatch"])


# ----- passive checks: syntax (behaviour: tests/differential/test_health.py)
@pytest.mark.parametrize("words, alert", [
    ("observe bogus", "'observe' expects one of 'none', 'layer4', 'layer7' but got 'bogus'."),
    ("observe", "'observe' expects <mode> as argument.."),
    ("error-limit 0", "error-limit has to be > 0.."),
    ("on-error bogus", "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' "
                       "but got 'bogus'."),
    ("on-marked-down bogus", "'on-marked-down' expects 'shutdown-sessions' but got 'bogus'."),
])
def test_passive_check_keywords_fail_in_haproxys_words(words, alert):
    with pytest.raises(ConfigError) as e:
        parse(HEAD + f"backend b\n    server s1 127.0.0.1:1 check {words}\n")
    assert str(e.value).splitlines()[0] == f"[ALERT] [haproxy.cfg:8] : 'server b/s1' : {alert}"


def test_passive_check_keywords_parse_and_observe_needs_check():
    s = backend("", "    server s1 127.0.0.1:1 check observe layer7 error-limit 3 on-error sudden-death "
                    "on-marked-down shutdown-sessions\n").servers[0]
    assert (s.observe, s.error_limit, s.on_error, s.shutdown_sessions) == ("layer7", 3, "sudden-death", True)
    cfg = parse(HEAD + "backend b\n    server s1 127.0.0.1:1 observe layer7\n")
    assert "'observe layer7' without 'check' is ignored by the course engine" in cfg.warnings[0].text


def test_slowstart_share_grows_second_by_second(fleet):
    """ramp() follows server_recalc_eweight; on the engine a returning server's share grows."""
    from labsupport import send
    from labsupport.engine.proxy.warmup import ramp

    assert [ramp(1, 16, 4, e) for e in range(5)] == [1, 5, 9, 13, None]
    assert [ramp(3, 16, 10, e) for e in (0, 5, 9)] == [3, 27, 45]
    port = free_ports(1)[0]
    text = (HEAD + f"frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\nbackend b\n"
            f"    server s1 127.0.0.1:{fleet.ports[0]} check inter 100ms slowstart 3s\n"
            f"    server s2 127.0.0.1:{fleet.ports[1]} check inter 100ms\n")
    with Balancer.from_text(text) as lb, StateRecorder(lb, interval=0.02) as rec:
        rec.wait_for("s1", "UP", timeout=10)
        lb.set_health("b/s1", "down")
        lb.set_health("b/s1", "up")  # UP again: the ramp starts
        shares = []
        for _ in range(3):
            run = send(f"http://127.0.0.1:{port}/", 34, progress=False)
            shares.append(run.counts().get(str(fleet.ports[0]), 0))
            time.sleep(1)
        deadline = time.monotonic() + 5  # the ramp's last step (a busy machine may run it late)
        while lb.snapshot().row("b", "s1").get("throttle") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        after = send(f"http://127.0.0.1:{port}/", 34, progress=False).counts().get(str(fleet.ports[0]), 0)
    assert shares[0] <= 3 and shares == sorted(shares) and after == 17, (shares, after)
