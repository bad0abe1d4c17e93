"""Lesson 07's routing widget: a typed request, who answered it on each balancer, in well under a second."""
from __future__ import annotations

import pytest

from labsupport.course.fleet import Fleet
from labsupport.errors import UsageError
from labsupport.lessons.edge.router import Router
from labsupport.lessons.edge.services import SERVICES, start_services


@pytest.fixture(scope="module")
def api():
    fleet = Fleet()
    try:
        start_services(fleet, ["api-v1", "api-v2"])
        yield {n: f"http://127.0.0.1:{SERVICES[n]}/" for n in ("api-v1", "api-v2")}
    finally:
        fleet.stop_all()


def test_route_asks_every_balancer_and_reports_what_each_saw(api):
    r = Router(one=api["api-v1"], two=api["api-v2"])
    t = r.route("DELETE api.lab /v1/users?id=2")
    assert t.title == "DELETE api.lab /v1/users?id=2"
    assert t.column("answered by") == ["api-v1", "api-v2"]
    assert t.column("path it saw") == ["/v1/users?id=2"] * 2 and t.column("Host it saw") == ["api.lab"] * 2


def test_the_widget_answers_each_typed_change(api):
    seen = []
    r = Router(explain=lambda m, h, p: seen.append((m, h, p)) or [("is_api", h == "api.lab")], one=api["api-v2"])
    r.widget  # built: it answers the request it starts with
    assert "api-v2" in r.out.value and "is_api" in r.out.value
    r.path.value = "/v2/orders"
    r.host.value = "www.lab"
    assert seen[-1] == ("GET", "www.lab", "/v2/orders") and r.seconds < 1.0
    assert "www.lab" in r.out.value and "answered in" in r.out.value
    r.path.value = "orders"  # a slip: one line in red, no traceback
    assert "the path starts with" in r.out.value


def test_without_balancers_or_explain_it_says_what_to_write(api):
    with pytest.raises(UsageError, match="at least one balancer"):
        Router()
    with pytest.raises(UsageError, match="at least one balancer"):
        Router(haproxy=None)  # where HAProxy is not installed
    assert list(Router(one=api["api-v1"], haproxy=None).urls) == ["one"]
    with pytest.raises(UsageError, match="has no explain function"):
        Router(one=api["api-v1"]).acls("GET a /")
    with pytest.raises(UsageError, match="give a balancer or its address"):
        Router(one=42)
