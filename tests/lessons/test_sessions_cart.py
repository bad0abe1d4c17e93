"""Lesson 08, sections 1-4: a shopper's cart behind roundrobin, cookies and a stick table, and who moves when a
server leaves and comes back (the engine; real HAProxy's side is the lesson's own cells)."""
from __future__ import annotations

import pytest
from support.paths import ROOT

from labsupport.course.fleet import Fleet
from labsupport.engine.balancer import Balancer
from labsupport.errors import UsageError
from labsupport.lessons.sessions.cart import Shopper
from labsupport.lessons.sessions.stickiness import follow, moves, shares

CLIENTS = [f"127.0.0.{i}" for i in range(10, 30)]


def config(name: str) -> str:
    return (ROOT / "haproxy" / name).read_text()


@pytest.fixture(scope="module")
def lab():
    fleet = Fleet()
    try:
        fleet.start([8201, 8202, 8203], sessions=True)
        lb = Balancer.from_text(config("sessions.cfg")).start()
        yield fleet, lb
        lb.stop()
    finally:
        fleet.stop_all()


def test_roundrobin_forgets_the_cart_and_a_cookie_keeps_it(lab):
    _, lb = lab
    lb.reload(config("sessions.cfg"))
    t = Shopper(lb.url, "ada").walk(["login", "add book", "add pen", "cart"])
    assert t.column("answered by") == ["server 8201", "server 8202", "server 8203", "server 8201"]
    assert t.column("status") == [200, 401, 401, 200] and t.column("cart")[-1] == "(empty)"
    assert t.column("answer set")[0] == "SESSIONID=#1; HttpOnly; Path=/"
    lb.reload(config("sessions-cookie.cfg"))
    shop = Shopper(lb.url, "bob")
    t = shop.walk(["login", "add book", "add pen", "cart"])
    assert set(t.column("answered by")) == {"server 8201"} and t.column("cart")[-1] == "book, pen"
    assert t.column("browser sent")[1] == "SESSIONID=#1; SERVERID=s1" and t.column("server saw")[1] == "SESSIONID=#1"
    assert shop.cookies() == "SESSIONID=#1; SERVERID=s1"
    lb.reload(config("sessions-cookie.cfg").replace("cookie SERVERID insert indirect nocache", "cookie SESSIONID prefix"))
    t = Shopper(lb.url, "eve").walk(["login", "add book", "cart", "logout", "cart"])
    assert t.column("answer set")[0] == "SESSIONID=s1~#1; HttpOnly; Path=/"
    assert t.column("browser sent")[1] == "SESSIONID=s1~#1" and t.column("server saw")[1] == "SESSIONID=#1"
    assert t.column("knows you") == ["yes", "yes", "yes", "no", "no"]


def test_stick_on_src_moves_only_the_clients_of_the_server_that_left(lab):
    _, lb = lab
    lb.reload(config("sessions-stick.cfg"))
    t = follow(lb, "carts/s2", CLIENTS)
    assert moves(t) == {"moved when it left": 7, "moved when it came back": 0}
    source = config("sessions-stick.cfg").replace("    stick-table type ip size 100k expire 30m\n    stick on src\n", "")
    lb.reload(source.replace("balance roundrobin", "balance source"))
    t = follow(lb, "carts/s2", CLIENTS)
    assert moves(t)["moved when it left"] == moves(t)["moved when it came back"] > 7  # map-based hashing
    one_office = shares(lb.url, ["127.0.0.2"], 30)
    assert len(one_office.rows) == 1 and one_office.rows[0]["requests"] == 30
    assert len(shares(lb.url, CLIENTS, 60).rows) == 3


@pytest.mark.parametrize("call, message", [
    (lambda: Shopper("ftp://x"), "Shopper needs an address like http://127.0.0.1:8000"),
    (lambda: Shopper("http://127.0.0.1:1").step("buy"), "cannot read the step 'buy'"),
    (lambda: Shopper("http://127.0.0.1:1").walk([]), "give some steps"),
    (lambda: shares("http://127.0.0.1:1/", ["10.0.0.1"]), "client addresses of the loopback"),
    (lambda: shares("http://127.0.0.1:1/", ["127.0.0.2"], 0), "count must be a whole number from 1 to 1000"),
    (lambda: follow(None, "s2", CLIENTS), "name the server as backend/server"),
])
def test_mistakes_read_as_sentences(call, message):
    with pytest.raises(UsageError, match=message):
        call()


def test_a_balancer_that_is_not_there_is_a_row_not_a_traceback():
    row = Shopper("http://127.0.0.1:1").step("cart")
    assert row["answered by"] == "no answer (ConnectionError)"
