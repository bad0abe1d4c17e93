"""The exercise framework: every check returns an ``ExerciseResult``, whose ``repr`` is what the
student reads (PASS or NOT YET, what was measured, what to try next).

A check never trusts arithmetic alone: it runs the student's answer on real traffic (a private
engine on a free port, the lesson's real servers) and judges what it measured. The checks
themselves live with their lessons.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field

__all__ = ["ExerciseResult", "answers"]


@dataclass(frozen=True)
class ExerciseResult:
    """What a check measured and its verdict; ``repr`` is the message a student reads."""

    passed: bool
    title: str
    shares: dict[str, float] = field(default_factory=dict)  # server label -> percent of the requests
    counts: dict[str, int] = field(default_factory=dict)
    details: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        head = ("PASS: " if self.passed else "NOT YET: ") + self.title
        total = sum(self.counts.values())
        lines = [head] + ([f"  measured on {total} request{'' if total == 1 else 's'}:"] if total else [])
        lines += [f"    {k:>8}: {self.counts[k]:4d} request{' ' if self.counts[k] == 1 else 's'}  {self.shares[k]:5.1f} %"
                  for k in self.counts]
        return "\n".join(lines + [f"  {d}" for d in self.details])


def answers(host: str, port: int) -> bool:
    """Does something accept a connection at host:port (within a second)?"""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
