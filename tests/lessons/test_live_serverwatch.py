"""Lesson 09's ServerWatch: every change of a backend's servers, timed, with the student's marks; waits with a
deadline that names the servers' states when it runs out. Real servers (8301-8304), the in-thread engine."""
from __future__ import annotations

import pytest
from support.live_lab import live_lab

from labsupport.errors import NotFoundError, UsageError
from labsupport.lessons.live.serverwatch import ServerWatch


def test_a_server_taken_out_and_back_is_seen_in_order():
    with live_lab() as (lb, _fleet):
        watch = ServerWatch(lb, "app", every=0.05).start()
        try:
            watch.mark("s2 to maint")
            lb.command("set server app/s2 state maint")
            watch.wait_until(lambda now: now["s2"].status == "MAINT", timeout=10)
            lb.command("set server app/s2 state ready")
            watch.wait_until(lambda now: now["s2"].status.startswith("UP"), timeout=10)
        finally:
            watch.stop()
        rows = watch.changes().rows
        assert [r["server"] for r in rows[:4]] == ["s1", "s2", "s3", "s4"] and rows[0]["seconds"] == 0.0
        s2 = [(r["server"], r["status"]) for r in rows[4:] if r["server"] in ("s2", "--")]
        assert s2[0] == ("--", "") and ("s2", "MAINT") in s2, rows
        assert s2.index(("s2", "MAINT")) < max(i for i, (_, st) in enumerate(s2) if st.startswith("UP"))
        assert all(a["seconds"] <= b["seconds"] for a, b in zip(rows, rows[1:]))
        assert rows[4]["address"] == "s2 to maint"
        assert not watch._thread.is_alive()


def test_a_wait_that_runs_out_names_the_states():
    with live_lab() as (lb, _fleet):
        watch = ServerWatch(lb, "app").start()
        try:
            with pytest.raises(TimeoutError, match=r"not within 0.3 s; the servers now: s1 UP"):
                watch.wait_until(lambda now: now["s1"].status == "MAINT", timeout=0.3)
        finally:
            watch.stop()


def test_wrong_arguments_are_one_line_errors():
    with live_lab() as (lb, _fleet):
        with pytest.raises(NotFoundError, match="no backend 'nope'"):
            ServerWatch(lb, "nope")
        with pytest.raises(UsageError, match="every is a number of seconds"):
            ServerWatch(lb, "app", every=0)
