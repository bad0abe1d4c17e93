"""Lesson 10's exercise (labsupport/lessons/beyond/exercises.py): the settings as given lose the service when
lb1's HAProxy dies; tracking the balancer process is a solution. Each check runs a pair of its own in a lab
of its own (namespaces and keepalived, or skip / fail under LAB_REQUIRE_NETNS=1 / LAB_REQUIRE_KEEPALIVED=1)."""
from __future__ import annotations

import pytest
from support.beyond_lab import require_keepalived, site

from labsupport.course.exercise import ExerciseResult
from labsupport.course.hosts import Lab
from labsupport.errors import UsageError
from labsupport.lessons.beyond import exercises
from labsupport.lessons.beyond.exercises import MAX_FAILED, UNSOLVED, check_survives


def test_the_settings_as_given_do_not_pass():
    require_keepalived()
    result = check_survives(dict(UNSOLVED))
    assert isinstance(result, ExerciseResult) and not result.passed, repr(result)
    text = repr(result)
    assert text.startswith("NOT YET: the service survives the loss of either balancer")
    assert "HAProxy on lb1 killed" in text and "the address stayed on lb1" in text
    assert "HAProxy on lb2 killed" not in text and "HAProxy on lb2 was not killed" in text  # one failed loss is enough
    assert "Make keepalived track the balancer process" in text


def test_tracking_the_balancer_passes_in_the_students_lab():
    require_keepalived()
    with Lab() as lab:
        client, servers = site(lab)  # the student's hosts: the check uses them (and makes lb1, lb2)
        result = check_survives({"track": True, "advert_int": 1}, lab=lab)
        assert set(lab.hosts) == {"client", "web1", "web2", "lb1", "lb2"}
    assert result.passed, repr(result)
    text = repr(result)
    assert text.startswith("PASS") and "HAProxy on lb1 killed" in text and "HAProxy on lb2 killed" in text
    failed = [int(line.split(": ")[1].split(" of ")[0]) for line in result.details if "killed" in line]
    assert len(failed) == 2 and all(f < MAX_FAILED for f in failed)


def test_unknown_settings_are_refused():
    with pytest.raises(UsageError, match="unknown setting 'advert' \\(expected some of: advert_int, priorities"):
        check_survives({"advert": 1})
    with pytest.raises(UsageError, match="settings: a dict"):
        check_survives([("track", True)])


def test_without_namespaces_it_says_why(monkeypatch):
    monkeypatch.setattr(Lab, "available", staticmethod(lambda: False))
    monkeypatch.setattr(Lab, "why_not", staticmethod(lambda: "demo: no user namespaces"))
    result = exercises.check_survives({"track": True})
    assert not result.passed and "cannot make the lab's hosts: demo: no user namespaces" in repr(result)
