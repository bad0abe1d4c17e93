"""backends/app.py in session mode (lesson 08): a login and a cart that only the server holding them knows."""
from __future__ import annotations

import pytest
import requests

from labsupport.course.fleet import Fleet


@pytest.fixture(scope="module")
def servers():
    fleet = Fleet()
    try:
        a, b = fleet.start(count=2, sessions=True)
        plain, = fleet.start(count=1)
        named, = fleet.start(count=1, name="shop")
        yield a, b, plain, named
    finally:
        fleet.stop_all()


def test_a_cart_lives_on_the_server_that_made_the_session(servers):
    a, b, _, _ = servers
    browser = requests.Session()
    r = browser.post(f"http://127.0.0.1:{a}/login", params={"user": "ada"}, timeout=5)
    assert r.status_code == 200 and r.json()["logged_in"] and r.json()["server"] == f"server {a}"
    assert "SESSIONID=" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    assert browser.post(f"http://127.0.0.1:{a}/cart", params={"item": "book"}, timeout=5).json()["items"] == ["book"]
    cart = browser.get(f"http://127.0.0.1:{a}/cart", timeout=5).json()
    assert (cart["user"], cart["items"]) == ("ada", ["book"]) and cart["cookie_seen"].startswith("SESSIONID=")
    # the other server has never heard of this session: the cart "forgets"
    elsewhere = browser.post(f"http://127.0.0.1:{b}/cart", params={"item": "pen"}, timeout=5)
    assert elsewhere.status_code == 401
    assert elsewhere.json()["logged_in"] is False and "does not know your session" in elsewhere.json()["error"]
    assert browser.get(f"http://127.0.0.1:{b}/cart", timeout=5).json()["items"] == []
    out = browser.post(f"http://127.0.0.1:{a}/logout", timeout=5)
    assert out.json()["logged_in"] is False and not browser.get(f"http://127.0.0.1:{a}/cart", timeout=5).json()["logged_in"]


@pytest.mark.parametrize("path, params", [("/login", {}), ("/login", {"user": "x" * 65}), ("/cart", {"item": ""})])
def test_bad_input_is_a_400_with_a_sentence(servers, path, params):
    a = servers[0]
    r = requests.post(f"http://127.0.0.1:{a}{path}", params=params, timeout=5)
    assert r.status_code == 400 and r.json()["error"].startswith("give ")


def test_without_session_mode_the_paths_are_what_they_were(servers):
    _, _, plain, named = servers
    assert requests.post(f"http://127.0.0.1:{plain}/login", params={"user": "a"}, timeout=5).status_code == 404
    assert requests.get(f"http://127.0.0.1:{plain}/cart", timeout=5).status_code == 404
    seen = requests.get(f"http://127.0.0.1:{named}/cart", timeout=5).json()  # lesson 07's service mode
    assert (seen["service"], seen["path"]) == ("shop", "/cart")
