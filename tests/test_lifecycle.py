"""lifecycle: one registry of everything a kernel started, stopped kind by kind in one order."""
from __future__ import annotations

import pytest

from labsupport import lifecycle


class Thing:
    def __init__(self, name: str, log: list[str], fail: bool = False):
        self.name, self.log, self.fail = name, log, fail

    def stop(self) -> None:
        self.log.append(self.name)
        if self.fail:
            raise RuntimeError("cannot stop")


@pytest.fixture
def log():
    lifecycle.stop_all()  # whatever an earlier test left
    yield []
    lifecycle.stop_all()


def test_stop_all_follows_the_order_and_newest_first_within_a_kind(log):
    lifecycle.register("live", Thing("dashboard", log))
    lifecycle.register("server", Thing("app-8080", log))
    lifecycle.register("balancer", Thing("engine", log))
    lifecycle.register("server", Thing("app-8081", log))
    lifecycle.register("traffic", Thing("generator", log))
    lifecycle.register("dns", Thing("dns", log))
    lifecycle.stop_all()
    assert log == ["engine", "dns", "app-8081", "app-8080", "generator", "dashboard"]
    lifecycle.stop_all()  # nothing left: a second call stops nothing twice
    assert len(log) == 6


def test_one_that_fails_to_stop_does_not_keep_the_others_running(log):
    lifecycle.register("server", Thing("first", log))
    lifecycle.register("server", Thing("broken", log, fail=True))
    lifecycle.register("live", Thing("panel", log))
    lifecycle.stop_all()
    assert log == ["broken", "first", "panel"]


def test_unregistered_things_are_not_stopped_and_running_lists_a_kind(log):
    a, b = Thing("a", log), Thing("b", log)
    lifecycle.register("balancer", a)
    lifecycle.register("balancer", b, stop=lambda: log.append("b by its own stop"))
    assert lifecycle.running("balancer") == [a, b]
    lifecycle.unregister(a)
    lifecycle.unregister(a)  # harmless twice
    assert lifecycle.running("balancer") == [b]
    lifecycle.stop_all(("dns",))  # only that kind: the balancer stays
    assert log == [] and lifecycle.running("balancer") == [b]
    lifecycle.stop_all()
    assert log == ["b by its own stop"]


def test_an_unknown_kind_is_refused_with_the_known_ones(log):
    with pytest.raises(ValueError, match=r"unknown kind 'servers' \(expected one of: balancer, dns, server"):
        lifecycle.register("servers", Thing("x", log))
