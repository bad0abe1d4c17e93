"""Lesson 08's exercise check (check_login_limit): the unsolved start, a too-broad limit and the solution
get the right verdicts and specific feedback. The lesson's session servers on 8201-8203, the real engine."""
from __future__ import annotations

import pytest
from support.sessions_lab import LOGIN_SOLUTION, LOGIN_TOO_BROAD

from labsupport.course.fleet import Fleet
from labsupport.errors import UsageError
from labsupport.lessons.sessions.exercises import check_login_limit

START = """
frontend shop
    bind 127.0.0.1:8000
    default_backend carts
"""
TOO_BROAD, SOLUTION = LOGIN_TOO_BROAD, LOGIN_SOLUTION
TARPIT = SOLUTION.replace("http-request deny deny_status 429", "timeout tarpit 200ms\n    http-request tarpit "
                          "deny_status 429")


def test_servers_not_running_are_named():  # first: before the module's servers start
    r = check_login_limit(START)
    assert not r.passed and "not running" in r.details[0]


@pytest.fixture(scope="module")
def servers():
    fleet = Fleet()
    try:
        fleet.start([8201, 8202, 8203], sessions=True)
        yield fleet
    finally:
        fleet.stop_all()


def test_the_solution_passes(servers):
    r = check_login_limit(SOLUTION)
    assert r.passed, repr(r)
    assert r.details[0].startswith("the attacker (127.0.0.2) got 5 of 12 logins through (5 x 200, 7 x 429)")
    assert repr(r).startswith("PASS: ")


def test_a_tarpit_passes_too(servers):
    r = check_login_limit(TARPIT)
    assert r.passed, repr(r)


def test_the_unsolved_start_lets_the_attacker_through(servers):
    r = check_login_limit(START)
    assert not r.passed and repr(r).startswith("NOT YET: ")
    assert "the attacker got 12 logins through in 10 s: at most 5 may pass" in "\n".join(r.details)
    assert not any("ordinary users got" in d for d in r.details)


def test_a_limit_on_every_request_catches_the_office(servers):
    r = check_login_limit(TOO_BROAD)
    assert not r.passed
    text = "\n".join(r.details)
    assert "ordinary users got 25 429s (your limit counts every request of the office address" in text
    assert "the attacker got" not in text.split("\n", 1)[1]  # the attacker is held, the office pays


def test_a_frontend_that_does_not_load_gives_the_located_message(servers):
    r = check_login_limit(START.replace("default_backend carts", "http-request deny if { pathbeg /x }"))
    assert not r.passed and r.details[0] == "your frontend does not load:"
    assert "pathbeg" in r.details[1]


def test_slips_in_the_answer_variable():
    with pytest.raises(UsageError, match="text of a frontend section"):
        check_login_limit(None)
