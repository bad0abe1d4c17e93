"""What a student reads of an exercise's verdict: counts agree in number with their noun."""
from __future__ import annotations

from labsupport.course.exercise import ExerciseResult


def test_counts_read_as_english():
    result = ExerciseResult(False, "s1 takes half", {"s1": 100 / 3, "s2": 200 / 3}, {"s1": 1, "s2": 2})
    assert repr(result).splitlines() == ["NOT YET: s1 takes half", "  measured on 3 requests:",
                                         "          s1:    1 request    33.3 %",
                                         "          s2:    2 requests   66.7 %"]
    assert "measured on 1 request:" in repr(ExerciseResult(True, "one", {"s1": 100.0}, {"s1": 1}))
