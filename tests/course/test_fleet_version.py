"""Fleet.start(version=...) and Fleet.restart(port, version=...): servers at a version (lesson 09), and the
traffic sender's records say which version answered."""
from __future__ import annotations

from labsupport.course.fleet import Fleet
from labsupport.course.traffic.sender import send


def test_start_at_a_version_restart_at_another_and_the_sender_sees_it():
    with Fleet() as fleet:
        a, b = fleet.start(count=2, version=1)
        assert [fleet.version(a), fleet.version(b)] == ["1", "1"]
        pid = fleet.pid(b)
        assert fleet.restart(b, version=3) == b
        assert fleet.pid(b) != pid
        assert [fleet.version(a), fleet.version(b)] == ["1", "3"]
        run = send(fleet.urls[1], 3)
        assert [(r.server, r.version) for r in run] == [(str(b), "3")] * 3
        fleet.restart(b)  # no version given: it keeps the one it had
        assert fleet.version(b) == "3"
        assert send(fleet.urls[0], 1)[0].version == "1"
