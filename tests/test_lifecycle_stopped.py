"""Every method of a stopped or replaced object answers with a one-line course error, never a socket
traceback, and a registry re-run replaces only what an earlier run of the same cell started.

Real processes and sockets; the cell a thing belongs to is set as JupyterLab's request would set it."""
from __future__ import annotations

import contextlib
import threading

import pytest

from labsupport import lifecycle
from labsupport.course.dnsserver import DNSServer
from labsupport.course.fleet import Fleet
from labsupport.course.traffic.generator import TrafficGenerator
from labsupport.engine.balancer import Balancer
from labsupport.errors import LabError, NotRunningError, ServerNotRunningError
from labsupport.lessons.balancing.dashboard import Dashboard
from labsupport.lessons.dnslab.client import dig
from labsupport.ports import free_ports


@pytest.fixture(autouse=True)
def clean():
    lifecycle.stop_all()
    yield
    lifecycle.stop_all()


@contextlib.contextmanager
def in_cell(monkeypatch, cell: str, run: str):
    """Code run as the cell ``cell`` in its run ``run`` (what ipykernel's parent header says in a notebook, on the
    kernel's main thread; background threads belong to no cell)."""
    monkeypatch.setattr(lifecycle, "current_run",
                        lambda: (cell, run) if threading.current_thread() is threading.main_thread() else None)
    yield
    monkeypatch.setattr(lifecycle, "current_run", lambda: None)


def config(port: int, backend_port: int) -> str:
    return (f"frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n"
            f"backend b\n    server s1 127.0.0.1:{backend_port}\n")


# ---------------------------------------------------------------------------- stopped things
def test_a_fleet_after_its_clean_up_says_not_running_in_one_line():
    """Lesson 06 cell 19 after the clean-up cell: fleet.slow_down gave an 84-line ConnectionRefusedError."""
    fleet = Fleet()
    (port,) = fleet.start(count=1, workers=1, service_ms=5)
    assert fleet.capacity(port)["workers"] == 1
    fleet.stop_all()
    message = f"server 127.0.0.1:{port} is not running: start it again first (fleet.restart({port}))."
    for call in (lambda: fleet.slow_down(port, 1), lambda: fleet.capacity(port), lambda: fleet.make_sick(port),
                 lambda: fleet.set_fail_rate(port, 0.5), lambda: fleet.crash_next(port)):
        with pytest.raises(ServerNotRunningError) as e:
            call()
        assert str(e.value) == message
    assert fleet.ask(port) == f"no answer from 127.0.0.1:{port}: Connection refused"  # a page, or why not
    assert fleet.health_mode(port) == "-"
    fleet.restart(port)  # the hint works
    assert fleet.capacity(port)["workers"] == 1


def test_a_killed_server_is_not_running_too():
    fleet = Fleet()
    (port,) = fleet.start(count=1, workers=1, service_ms=5)
    fleet.kill(port)
    with pytest.raises(ServerNotRunningError, match=r"is not running: start it again first"):
        fleet.slow_down(port, 2)


def test_a_stopped_balancer_refuses_actions_in_one_line_and_still_shows_its_stats():
    port, backend = free_ports(2)
    lb = Balancer.from_text(config(port, backend))
    lb.set_weight("b/s1", 3)  # before the first start: prepares the balancer, as before
    lb.start()
    lb.stop()
    message = (f"this balancer on http://127.0.0.1:{port}/ is stopped (stop() or stop_all()), so nothing would "
               "change: start it again (.start()) or run the cell that starts it")
    for call in (lambda: lb.set_weight("b/s1", 2), lambda: lb.set_state("b/s1", "drain"),
                 lambda: lb.enable("b/s1"), lambda: lb.disable("b/s1"), lambda: lb.set_health("b/s1", "up"),
                 lambda: lb.command("show info")):
        with pytest.raises(NotRunningError) as e:
            call()
        assert str(e.value) == message
    with pytest.raises(NotRunningError, match="this balancer is not running"):
        lb.url
    assert "b,s1," in lb.stats_csv() and lb.get_weight("b/s1") == "3 (initial 1)"  # a last look still works
    lb.start()  # started again: it acts again
    lb.set_weight("b/s1", 2)
    assert lb.get_weight("b/s1") == "2 (initial 1)"
    lb.stop()


def test_a_stopped_traffic_generator_and_dns_server_answer_without_a_traceback():
    (port,) = free_ports(1)
    gen = TrafficGenerator(f"http://127.0.0.1:{port}/", rate=50, duration=5).start()
    gen.stop()
    assert not gen.running and "stopped" in repr(gen) and gen.sent == len(gen.records)
    assert set(gen.counts()) <= {"connection refused"}
    dns = DNSServer().start()
    dns.stop()
    with pytest.raises(LabError) as e:
        dig("shop.lab", dns)
    assert str(e.value) == "this DNS server is stopped: start it with .start() (or `with DNSServer() as ...`)"
    assert "shop.lab." in str(dns.zone())  # its zone is still there to read


def test_a_closed_dashboard_starts_no_traffic():
    port, backend = free_ports(2)
    fleet = Fleet()
    fleet.start([backend])
    lb = Balancer.from_text(config(port, backend)).start()
    dash = Dashboard(lb, refresh=0.1, max_seconds=30)
    dash.close()
    with pytest.raises(NotRunningError) as e:
        dash.start_traffic(10)
    assert str(e.value) == "this dashboard is closed (close() or stop_all()): run the cell that makes it again"
    assert dash.generator is None and lifecycle.running("traffic") == []
    dash.toggle.value = True  # the button: the message shows under the chart, the button goes back
    assert "this dashboard is closed" in dash.message.value and dash.toggle.value is False
    assert lifecycle.running("traffic") == []


# ---------------------------------------------------------------------------- re-runs in the registry
def test_a_rerun_replaces_only_what_the_same_cell_started_before(monkeypatch, capsys):
    port, other = free_ports(2)
    with in_cell(monkeypatch, "cell-A", "run-1"):
        a = Fleet()
        a.start([port])
        assert capsys.readouterr().out == ""  # a first run prints nothing new
    with in_cell(monkeypatch, "cell-B", "run-1"):
        b = Fleet()
        b.start([other])
    with in_cell(monkeypatch, "cell-A", "run-2"):
        again = Fleet()
        again.start([port])
    assert capsys.readouterr().out == (f"restarted the server on 127.0.0.1:{port}: an earlier run of this cell "
                                       "had started it\n")
    assert [s.state for s in a.servers] == ["replaced"] and repr(a) == f"<Fleet 1 servers: {port} replaced>"
    assert [s.state for s in b.servers] == ["running"]  # another cell's server: untouched
    assert [s.state for s in again.servers] == ["running"]
    with pytest.raises(NotRunningError, match="was replaced when the cell that started it ran again"):
        a.restart(port)  # the old fleet never fights the new one for the port
    with in_cell(monkeypatch, "cell-A", "run-2"):
        again.start(count=1)  # the same run starting more: nothing replaced
    assert capsys.readouterr().out == ""
    assert len(lifecycle.running("server")) == 3


def test_outside_a_cell_nothing_is_replaced(capsys):
    """Scripts, nbval (no cell id in its requests), a widget's button: the first-run path, always."""
    fleet = Fleet()
    fleet.start(count=1)
    fleet.start(count=1)
    assert lifecycle.rerun_replaces() == [] and capsys.readouterr().out == ""
    assert sum(s.alive for s in fleet.servers) == 2


def test_a_rerun_stops_traffic_and_widgets_of_the_earlier_run_in_one_line(monkeypatch, capsys):
    port, backend = free_ports(2)
    fleet = Fleet()
    fleet.start([backend])
    lb = Balancer.from_text(config(port, backend)).start()
    runs = []
    for run in ("run-1", "run-2"):
        with in_cell(monkeypatch, "dash-cell", run):
            gen = TrafficGenerator(lb.url, rate=5, duration=30).start()
            runs.append((gen, Dashboard(lb, refresh=0.1, max_seconds=30)))
    (old_gen, old_dash), (gen, dash) = runs
    assert capsys.readouterr().out == (f"restarted the traffic to http://127.0.0.1:{port}/, the dashboard: "
                                       "an earlier run of this cell had started them\n")
    assert not old_gen.running and old_dash._closed and gen.running
    assert lifecycle.running("traffic") == [gen]
    dash.close()
    gen.stop()


def test_labels_of_one_kind_are_joined():
    joined = lifecycle._joined
    assert joined(["the server on 127.0.0.4:8080", "the server on 127.0.0.2:8080"]) == \
        "the servers on 127.0.0.2:8080 and 127.0.0.4:8080"
    assert joined(["the DNS server on 127.0.0.1:5300", "the DNS server on 127.0.0.1:5301", "the dashboard"]) == \
        "the DNS servers on 127.0.0.1:5300 and 127.0.0.1:5301, the dashboard"
