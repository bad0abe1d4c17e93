"""Lesson 07's exercise check: the solution passes, the unsolved start and common slips get specific feedback."""
from __future__ import annotations

import pytest
from support.paths import ROOT

from labsupport.course.fleet import Fleet
from labsupport.errors import UsageError
from labsupport.lessons.edge.exercises import CASES, check_edge_routing
from labsupport.lessons.edge.services import start_services

SOLUTION = """
frontend exercise
    bind 127.0.0.1:8002
    use_backend %[path,map_beg(paths.map,api_v2)] if { hdr(host) -i api.lab }
    use_backend %[req.hdr(host),lower,map(hosts.map,web)]
"""
START = """
frontend exercise
    bind 127.0.0.1:8002
    default_backend web
"""


def test_services_not_running_are_named():  # first: before the module's services start
    r = check_edge_routing(START)
    assert not r.passed and "not running" in r.details[0]


@pytest.fixture(scope="module")
def services():
    fleet = Fleet()
    try:
        start_services(fleet)
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture(autouse=True)
def in_the_lessons_folder(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")  # where the maps are, as in the lesson


def test_the_solution_passes(services):
    r = check_edge_routing(SOLUTION, ["set map paths.map /v1/ api_v2"])
    assert r.passed, repr(r)
    assert r.details[0] == f"{2 * len(CASES)} of {2 * len(CASES)} requests went where they should"


def test_without_the_command_v1_stays_where_it_was(services):
    r = check_edge_routing(SOLUTION, [])
    assert not r.passed
    assert "after your commands: api.lab /v1/users went to api-v1, expected api-v2" in r.details


def test_the_unsolved_start_says_which_requests_went_wrong(services):
    r = check_edge_routing(START, [])
    assert not r.passed and repr(r).startswith("NOT YET: ")
    assert "before your commands: api.lab /v1/users went to web, expected api-v1" in r.details


def test_a_command_the_balancer_refuses_is_shown(services):
    r = check_edge_routing(SOLUTION, ["set map nosuch.map /v1/ api_v2"])
    assert not r.passed
    assert any(d.startswith("'set map nosuch.map /v1/ api_v2' answered: ") for d in r.details), r.details


def test_a_frontend_that_does_not_load_gives_the_located_message(services):
    r = check_edge_routing(START.replace("default_backend web", "use_backend api if { pathbeg /api }"))
    assert not r.passed and r.details[0] == "your frontend does not load:"
    assert "pathbeg" in r.details[1] and ":" in r.details[1]


def test_slips_in_the_answer_variables(services):
    with pytest.raises(UsageError, match="text of a frontend section"):
        check_edge_routing(None)
    with pytest.raises(UsageError, match="a list of runtime API commands"):
        check_edge_routing(START, "set map paths.map /v1/ api_v2")
