"""backends/app.py in service mode (lesson 07): it says who it is and what the request carried."""
from __future__ import annotations

import http.client
import json

import pytest

from labsupport.course.fleet import Fleet
from tests.backends.test_app import run_app


def ask(port: int, method: str, target: str, headers: dict) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, target, headers=headers)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def services():
    fleet = Fleet()
    try:
        api, = fleet.start(count=1, name="api-v2")
        web, = fleet.start(count=1, name="web", https_only=True)
        yield fleet, api, web
    finally:
        fleet.stop_all()


def test_any_path_and_method_answers_with_the_name_and_what_arrived(services):
    fleet, api, _ = services
    status, _, body = ask(api, "DELETE", "/v2/users/7?x=1&y", {"Host": "api.lab", "X-Forwarded-For": "10.0.0.9"})
    seen = json.loads(body)
    assert status == 200
    assert (seen["service"], seen["port"], seen["method"], seen["path"], seen["query"], seen["host"]) == (
        "api-v2", api, "DELETE", "/v2/users/7", "x=1&y", "api.lab")
    assert ["X-Forwarded-For", "10.0.0.9"] in seen["headers"]
    for path in ("/admin/users", "/static/site.css"):  # not endpoints of its own (nor Flask's static files)
        assert json.loads(ask(api, "GET", path, {})[2])["path"] == path


def test_own_endpoints_stay_and_the_name_survives_a_restart(services):
    fleet, api, _ = services
    assert ask(api, "GET", "/health", {})[2] == b"OK\n"
    assert json.loads(ask(api, "GET", "/info", {})[2])["port"] == api
    fleet.restart(api)
    assert json.loads(ask(api, "GET", "/", {"Host": "x"})[2])["service"] == "api-v2"


def test_https_only_redirects_until_the_balancer_says_https(services):
    _, _, web = services
    status, headers, _ = ask(web, "GET", "/cart?id=3", {"Host": "www.lab"})
    assert status == 302 and headers["Location"] == "https://www.lab/cart?id=3"
    status, _, body = ask(web, "GET", "/cart", {"Host": "www.lab", "X-Forwarded-Proto": "https"})
    assert status == 200 and json.loads(body)["service"] == "web"


@pytest.mark.parametrize("args, expected", [
    (("8080", "--https-only"), "app.py: error: --https-only needs --name NAME (service mode)"),
    (("8080", "--name", " "), "app.py: error: --name needs a name, e.g. --name api-v1"),
])
def test_service_options_misused_are_one_line(args, expected):
    r = run_app(*args)
    assert r.returncode == 2 and r.stderr.strip().startswith(expected), r.stderr
