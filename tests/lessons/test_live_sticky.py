"""Lesson 09's sticky browsers: each keeps the balancer's cookie, stays on its server while that server is in
DRAIN, and moves only once it is in MAINT. Real servers on 8301-8304, the engine on haproxy/live.cfg."""
from __future__ import annotations

import time

import pytest
from support.live_lab import live_lab

from labsupport.errors import UsageError
from labsupport.lessons.live.sticky import StickyClients


def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_browsers_stay_through_drain_and_move_at_maint():
    with live_lab() as (lb, _):
        browsers = StickyClients(lb.urls[0], n=8, every=0.05, duration=30).start()
        try:
            wait_for(lambda: len(browsers.cookies) == 8 and all(len(browsers.of(c)) >= 2 for c in range(8)))
            on_s1 = [c for c, v in browsers.cookies.items() if v == "s1"]
            assert len(on_s1) == 2  # round robin over four servers: two of eight browsers each
            assert sorted(browsers.cookies.values()) == ["s1", "s1", "s2", "s2", "s3", "s3", "s4", "s4"]
            lb.command("set server app/s1 state drain")
            drained = time.monotonic()
            wait_for(lambda: all(len([v for v in browsers.of(c) if v.at > drained]) >= 3 for c in on_s1))
            assert browsers.moves() == []  # in DRAIN, the cookie still wins
            lb.command("set server app/s1 state maint")
            maint = time.monotonic()
            wait_for(lambda: len(browsers.moves()) == 2)
        finally:
            browsers.stop()
        moves = browsers.moves()
        assert sorted(m.client for m in moves) == sorted(on_s1)
        assert all(m.before == "8301" and m.after != "8301" and m.at > maint for m in moves)
        assert browsers.failed() == [] and not browsers.running
        assert all(browsers.cookies[c] != "s1" for c in on_s1)
        assert repr(browsers).endswith(", 0 failed, 2 moves to another server")


def test_bounds():
    with pytest.raises(UsageError):
        StickyClients("http://127.0.0.1:8000/", n=0)
    with pytest.raises(UsageError):
        StickyClients("http://127.0.0.1:8000/", every=0)
