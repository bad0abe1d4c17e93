"""Lesson 09's SteadyLoad: counts per version from X-Version, failures, marks on the timeline, its figure,
and compare(); real servers, bounded runs."""
from __future__ import annotations

import time

import pytest

from labsupport.course.fleet import Fleet, free_ports
from labsupport.errors import UsageError
from labsupport.lessons.live.load import SteadyLoad, _grouped
from labsupport.lessons.live.load import compare_runs as compare


def wait_for(cond, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_versions_marks_failures_and_the_figure():
    with Fleet() as fleet:
        (port,) = fleet.start(count=1, version=1)
        load = SteadyLoad(fleet.urls[0], rate=50, duration=30, name="restart").start()
        wait_for(lambda: len(load.results) >= 10)
        load.mark("restart")
        fleet.restart(port, version=2)
        load.mark("back")
        n = len(load.results)
        wait_for(lambda: len(load.results) >= n + 10)
        load.stop()
        s = load.summary()
        assert not load.running and s["sent"] == len(load.results) >= 20
        assert set(s["versions"]) == {"1", "2"} and sum(s["versions"].values()) == s["sent"] - s["failed"]
        assert s["slowest_ms"] == round(max(r.latency_ms for r in load.results), 1)
        assert [label for _, label in load.marks] == ["restart", "back"]
        assert 0 < load.marks[0][0] <= load.marks[1][0] <= load.elapsed
        starts, versions, failed = load.buckets()
        assert sum(map(sum, versions.values())) + sum(failed) == s["sent"]
        fig = load.figure()
        ax = fig.axes[0]
        assert len(ax.lines) == 2  # a vertical line per mark
        assert "restart" in " ".join(t.get_text() for t in ax.texts)
        assert repr(load).startswith(f"restart: {s['sent']} sent, {s['failed']} failed")


def test_failures_are_counted_and_shown_red():
    (port,) = free_ports(1)  # nothing listens there
    load = SteadyLoad(f"http://127.0.0.1:{port}/", rate=40, duration=0.5).start().wait(10)
    s = load.summary()
    assert s["sent"] >= 5 and s["failed"] == s["sent"] and s["versions"] == {}
    assert s["why"] == {"connection refused": s["sent"]}
    labels = [b.get_label() for b in load.figure().axes[0].containers]
    assert labels == [f"failed ({s['failed']})"]


def test_compare_is_a_row_per_run():
    with Fleet() as fleet:
        fleet.start(count=1, version=7)
        a = SteadyLoad(fleet.urls[0], rate=40, duration=0.4).start().wait(10)
        b = SteadyLoad(fleet.urls[0], rate=40, duration=0.4, name="second").start().wait(10)
    t = compare({"first": a, "second": b})
    assert t.column("method") == ["first", "second"]
    assert t.column("sent") == [a.summary()["sent"], b.summary()["sent"]] and t.column("failed") == [0, 0]
    assert t.column("versions") == [f"7: {a.summary()['sent']}", f"7: {b.summary()['sent']}"]
    assert compare([a, b]).column("method") == ["run 1", "second"]
    with pytest.raises(UsageError):
        compare([])


def test_close_marks_share_a_label():
    assert _grouped([(1.0, "s1 drain"), (1.01, "s1 maint"), (2.0, "s2 drain")], 0.05) == [
        (1.0, "s1 drain, maint"), (2.0, "s2 drain")]
    assert _grouped([(1.0, "reload"), (1.01, "s1 up")], 0.05) == [(1.0, "reload, s1 up")]
