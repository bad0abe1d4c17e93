"""Lesson 07's services and ``ask``: who answered, what it saw, and readable answers for the rest."""
from __future__ import annotations

import socket

import pytest

from labsupport.course.fleet import Fleet
from labsupport.errors import UsageError
from labsupport.lessons.edge.services import SERVICES, ask, parse_request, route_table, start_services


@pytest.fixture(scope="module")
def services():
    fleet = Fleet()
    try:
        table = start_services(fleet, ["web", "api-v2"], https_only=["web"])
        yield fleet, table
    finally:
        fleet.stop_all()


def test_services_start_on_their_ports_and_say_so(services):
    _, table = services
    assert table.column("service") == ["web", "api-v2"]
    assert table.column("address") == ["127.0.0.1:8101", "127.0.0.1:8112"]
    assert table.column("redirects plain http") == ["yes", ""]


def test_ask_says_who_answered_and_what_it_saw(services):
    a = ask(f"http://127.0.0.1:{SERVICES['api-v2']}", "/v2/users?id=4", host="api.lab", method="post",
            headers={"X-Forwarded-Proto": "https"})
    assert (a.status, a.who, a.path, a.query, a.host) == (200, "api-v2", "/v2/users", "id=4", "api.lab")
    assert a.header("x-forwarded-proto") == "https" and a.header("X-Forwarded-For") is None


def test_a_redirect_and_a_refused_connection_read_as_one_line(services):
    a = ask(f"http://127.0.0.1:{SERVICES['web']}", "/cart", host="www.lab")
    assert (a.status, a.who, a.location) == (302, "302 to https://www.lab/cart", "https://www.lab/cart")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = ask(f"http://127.0.0.1:{port}", "/")
    assert gone.status is None and gone.who == "no answer (ConnectionRefusedError)"


def test_route_table_sends_each_request_to_each_balancer(services):
    t = route_table(["GET api.lab /v2/x", "/"], direct=f"http://127.0.0.1:{SERVICES['api-v2']}")
    assert t.column("request") == ["GET api.lab /v2/x", "GET (no Host) /"]
    assert t.column("direct") == ["api-v2", "api-v2"]


@pytest.mark.parametrize("call, message", [
    (lambda: start_services(None, ["api"]), "no service named 'api'; the lesson's services are web, api-v1"),
    (lambda: ask("ftp://x", "/"), "ask() needs an address like http://127.0.0.1:8000 or https://"),
    (lambda: ask("http://127.0.0.1:1", "/", method="FETCH"), "method 'FETCH': use one of GET"),
    (lambda: ask("http://127.0.0.1:1", "api"), "the path must start with '/'"),
    (lambda: parse_request("GET"), "cannot read 'GET' as a request"),
    (lambda: route_table(["/"]), "give at least one balancer"),
])
def test_slips_get_one_line_that_says_what_to_write(call, message):
    with pytest.raises(UsageError) as e:
        call()
    assert str(e.value).startswith(message), str(e.value)


def test_a_service_can_speak_https_itself(tmp_path):
    from labsupport.course.certs import LabCA

    ca = LabCA(tmp_path)
    fleet = Fleet()
    try:
        table = start_services(fleet, ["vault"], tls={"vault": ca.cert_and_key("vault.lab")})
        assert table.column("speaks") == ["HTTPS only"]
        a = ask(f"https://127.0.0.1:{SERVICES['vault']}", "/", host="vault.lab", cafile=str(ca.ca_file))
        assert (a.status, a.who) == (200, "vault")
        plain = ask(f"http://127.0.0.1:{SERVICES['vault']}", "/", host="vault.lab")
        assert plain.status != 200
    finally:
        fleet.stop_all()
    with pytest.raises(UsageError, match="tls= names 'shop', which is not started here"):
        start_services(None, ["vault"], tls={"shop": ("a", "b")})
