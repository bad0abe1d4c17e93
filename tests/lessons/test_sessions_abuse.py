"""Lesson 08's brute-force run (abuse.py) on the engine: the users pass, the attacker is held to the limit,
an office behind one address is caught by a limit on every request, and the balancer's CPU is counted.
Real session servers, the real engine; HAProxy's side in tests/differential/test_sessions_haproxy.py."""
from __future__ import annotations

import pytest
from support.sessions_lab import ratelimit_config

from labsupport.balancer import Balancer
from labsupport.course.fleet import Fleet, free_ports
from labsupport.errors import UsageError
from labsupport.lessons.sessions.abuse import brute_force, user_addresses


@pytest.fixture(scope="module")
def servers():
    ports = free_ports(3)
    fleet = Fleet()
    fleet.start(ports, sessions=True)
    try:
        yield ports
    finally:
        fleet.stop_all()


def _balancer(servers, extra: str = "") -> Balancer:
    return Balancer.from_text(ratelimit_config(free_ports(1)[0], servers, extra=extra)).start()


def test_the_attacker_is_held_to_the_limit_and_the_users_pass(servers):
    lb = _balancer(servers)
    try:
        t = brute_force(lb, seconds=2, attacker_rate=40)
    finally:
        lb.stop()
    browse, login, attack = t.rows
    assert browse["sent"] >= 4 and browse["200"] == browse["sent"] and browse["blocked"] == 0
    assert login["blocked"] == 0
    assert attack["200"] == 20 and attack["blocked"] == attack["sent"] - 20 and attack["sent"] >= 60
    assert t.cpu_seconds > 0 and "balancer (engine) CPU" in t.title
    assert t.columns == ["traffic", "sent", "200", "401", "blocked", "other"]


def test_an_office_behind_one_address_is_caught_by_a_limit_on_every_request(servers):
    lb = _balancer(servers)
    try:
        t = brute_force(lb, seconds=6, attacker_rate=0, office=True)
    finally:
        lb.stop()
    browse, login, attack = t.rows
    assert browse["traffic"] == "users: GET /cart (one office address)"
    assert browse["blocked"] + login["blocked"] > 0  # about 27 requests in 6 s from one address: over 20
    assert attack["sent"] == 0


def test_a_tarpit_slows_the_attacker_down(servers):
    text = ratelimit_config(free_ports(1)[0], servers).replace(
        "http-request deny deny_status 429", "timeout tarpit 500ms\n    http-request tarpit deny_status 429")
    lb = Balancer.from_text(text).start()
    try:
        t = brute_force(lb, seconds=2, attacker_rate=100, attacker_workers=4)
    finally:
        lb.stop()
    attack = t.rows[2]
    # after its first 20, four connections held half a second each: about 8 answers a second, and the
    # attacker's script, waiting on them, sends far fewer than its 100 a second
    assert attack["200"] == 20 and attack["sent"] < 60


def test_addresses_and_bounds():
    assert user_addresses(3) == ["127.0.0.10", "127.0.0.11", "127.0.0.12"]
    assert user_addresses(20, office=True) == ["127.0.0.10"]
    with pytest.raises(UsageError, match="users must be between 1 and 40"):
        brute_force(None, users=41)
    with pytest.raises(UsageError, match="attacker_rate must be between"):
        brute_force(None, attacker_rate=1000)
