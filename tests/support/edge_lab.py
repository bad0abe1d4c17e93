"""Lesson 07's part B set-up for tests: its certificates in a LAB_RUN of their own, a Fleet for its services,
and a balancer on one of its configs, all undone at the end."""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from labsupport.course.fleet import Fleet
from labsupport.engine.balancer import Balancer
from support.paths import ROOT, lesson_certificates


@contextmanager
def edge_lab(tmp_path_factory, config: str, start):
    """``start(fleet, ca)`` starts the services; yields (ca, the engine running haproxy/``config``)."""
    run = tmp_path_factory.mktemp("run")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_RUN", str(run))
    ca = lesson_certificates(run)
    fleet = Fleet()
    try:
        start(fleet, ca)
        lb = Balancer.from_file(ROOT / "haproxy" / config).start()
        try:
            yield ca, lb
        finally:
            lb.stop()
    finally:
        fleet.stop_all()
        mp.undo()
