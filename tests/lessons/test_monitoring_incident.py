"""The incident exercise: a hidden script drains, slows and kills three real servers during real traffic;
the check judges an answer against what happened; restore() undoes it all."""
from __future__ import annotations

import pytest

from labsupport.balancer import Balancer
from labsupport.course.fleet import Fleet, free_ports
from labsupport.lessons.monitoring.incident import Incident

CONFIG = """defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
{servers}"""


def test_the_script_acts_the_check_judges_and_restore_undoes(headless, monkeypatch):
    fleet = Fleet()
    ports = fleet.start(count=3)
    names = {f"s{i}": p for i, p in enumerate(ports, 1)}
    lb = Balancer.from_text(CONFIG.format(port=free_ports(1)[0], servers="".join(
        f"    server {n} 127.0.0.1:{p}\n" for n, p in names.items()))).start()
    try:
        inc = Incident(lb, fleet, names, duration=60, rate=20, slow_ms=200, seed=7)
        assert inc.duration == 3.0 and "running" not in repr(inc)
        inc.start()
        assert inc.wait(30)
        assert len(inc.traffic.records) > 25  # real traffic ran meanwhile (20/s for 3 s; some wait on the killed server)
        truth = {action: server for _, action, server in inc.happened}
        assert sorted(truth) == ["drained", "killed", "slowed"] and len(set(truth.values())) == 3
        status = {r["svname"]: r["status"] for r in lb.snapshot()["servers"]}
        assert status[truth["drained"]] == "DRAIN"
        killed = next(s for s in fleet.servers if s.port == names[truth["killed"]])
        assert not killed.alive
        assert inc.check(truth).passed and "PASS" in repr(inc.check(truth))
        wrong = dict(truth, killed=truth["slowed"])
        assert not inc.check(wrong).passed and "2 of 3" in repr(inc.check(wrong))
        assert not inc.check({"drained": "s1"}).passed
        assert len(inc.reveal()) == 3
        inc.restore()
        assert {r["svname"]: r["status"] for r in lb.snapshot()["servers"]}[truth["drained"]] == "no check"
        assert all(s.alive for s in fleet.servers)
    finally:
        lb.stop()
        fleet.stop_all()


def test_needs_three_servers():
    with pytest.raises(ValueError, match="3 servers"):
        Incident(None, None, {"a": 1, "b": 2}, url="http://x/")


def test_its_cell_run_again_undoes_the_earlier_incident_before_the_new_one(headless, monkeypatch, capsys):
    import threading

    from labsupport import lifecycle

    def as_cell(run: str):  # what ipykernel says: the cell on the kernel's main thread, nothing elsewhere
        return lambda: ("incident-cell", run) if threading.current_thread() is threading.main_thread() else None

    fleet = Fleet()
    ports = fleet.start(count=3)
    names = {f"s{i}": p for i, p in enumerate(ports, 1)}
    lb = Balancer.from_text(CONFIG.format(port=free_ports(1)[0], servers="".join(
        f"    server {n} 127.0.0.1:{p}\n" for n, p in names.items()))).start()
    try:
        monkeypatch.setattr(lifecycle, "current_run", as_cell("run-1"))
        first = Incident(lb, fleet, names, duration=60, rate=20, slow_ms=200, seed=7).start()
        assert first.wait(30) and len(first.happened) == 3
        first.traffic.wait(30)  # its last requests (to the killed server) end: only the incident is left
        monkeypatch.setattr(lifecycle, "current_run", as_cell("run-2"))
        second = Incident(lb, fleet, names, duration=60, rate=20, slow_ms=200, seed=8)
        second._plan = []  # the new run acts later: what we look at is what the earlier one left
        second.start()
        monkeypatch.setattr(lifecycle, "current_run", lambda: None)
        assert capsys.readouterr().out == ("restarted the incident: an earlier run of this cell had started it\n")
        assert all(s.alive for s in fleet.servers)  # the killed one restarted, the slowed one at normal speed
        assert all(r["status"] != "DRAIN" for r in lb.snapshot()["servers"])
        assert not first.traffic.running and second.traffic.running
        second.stop()
    finally:
        lb.stop()
        fleet.stop_all()
