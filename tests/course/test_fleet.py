"""The fleet of application servers: real processes, real sockets."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import psutil
import pytest

from labsupport.course.fleet import APP, Fleet, stop_all
from labsupport.errors import PortInUseError, ServerStartError


def get(url: str, timeout: float = 3.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def refused(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return False
    except OSError:
        return True


def wait_until(cond, timeout: float = 3.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_start_four_kill_restart_stop_all():
    with Fleet() as fleet:
        ports = fleet.start(count=4)
        assert len(set(ports)) == 4
        for p in ports:
            assert get(f"http://127.0.0.1:{p}/") == f"Hi!! from server {p}"
        pids = [s.pid for s in fleet.servers]

        victim = ports[1]
        fleet.kill(victim)
        assert refused(victim)
        states = {r["address"]: r["state"] for r in fleet.status()}
        assert states[f"127.0.0.1:{victim}"] == "killed"

        fleet.restart(victim)
        assert get(f"http://127.0.0.1:{victim}/") == f"Hi!! from server {victim}"
        pids += [s.pid for s in fleet.servers]
        fleet.stop_all()
        assert fleet.status().column("state") == ["stopped"] * 4
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert all(refused(p) for p in ports)


def test_unknown_servers_get_a_message_naming_the_fleets_servers():
    from labsupport.errors import NotFoundError

    with Fleet() as fleet:
        with pytest.raises(NotFoundError, match="none yet: start some"):
            fleet.kill(8080)
        (port,) = fleet.start(count=1)
        for odd in (9, "9", "127.0.0.1:9", ("127.0.0.1", 9), "eighty", "host:port", None, ("x",), 1.5e300, float("inf")):
            with pytest.raises(NotFoundError, match=f"servers: 127.0.0.1:{port}"):
                fleet.restart(odd)
        with pytest.raises(KeyError):  # still a KeyError for callers that catch one
            fleet.stop(9)
        fleet.kill(f"127.0.0.1:{port}")


def test_status_counts_requests_and_sees_a_kill_from_a_terminal():
    with Fleet() as fleet:
        (port,) = fleet.start(count=1)
        for _ in range(3):
            get(f"http://127.0.0.1:{port}/")
        row = fleet.status()[0]
        assert row["state"] == "running" and row["requests"] == 3
        os.kill(fleet.servers[0].pid, signal.SIGKILL)  # as `kill -9 PID` from a terminal
        assert wait_until(lambda: fleet.status()[0]["state"] == "killed (SIGKILL)", 1.0)


def test_stop_is_ctrl_c():
    with Fleet() as fleet:
        (port,) = fleet.start(count=1)
        fleet.stop(port)
        assert fleet.servers[0].proc.returncode is not None
        assert fleet.status()[0]["state"] == "stopped"


def test_stop_is_ctrl_c_even_where_the_parent_ignores_it():
    """A shell runs a background command (`make test &`) with SIGINT ignored, and a child inherits that: the
    server must still end by its Ctrl+C, not by the SIGKILL that follows after Fleet's wait."""
    script = textwrap.dedent(f"""
        import signal, sys
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.path.insert(0, {str(APP.parent.parent)!r})
        from labsupport.course.fleet import Fleet
        with Fleet() as f:
            (port,) = f.start(count=1)
            f.stop(port)
            print(f.servers[0].proc.returncode, flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"], f"the server's exit status: {done.stdout.strip()} (-9: SIGKILL)"


def test_port_in_use_names_port_and_holder():
    holder = socket.create_server(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        with pytest.raises(PortInUseError) as e:
            Fleet().start([port])
        msg = str(e.value)
        assert f"port {port} on 127.0.0.1 is already in use" in msg
        assert f"(pid {os.getpid()})" in msg
    finally:
        holder.close()


def test_own_server_on_the_port_is_named_and_stop_all_frees_it():
    first = Fleet()
    (port,) = first.start(count=1)
    with pytest.raises(PortInUseError) as e:
        Fleet().start([port])
    assert (f"by an application server this notebook started (python3 app.py {port}, pid {first.pid(port)}). "
            "Stop it: stop_all() stops everything this notebook started") in str(e.value)
    stop_all()  # what a notebook's first cell does on a re-run
    second = Fleet()
    assert second.start([port]) == [port]
    assert get(f"http://127.0.0.1:{port}/") == f"Hi!! from server {port}"
    assert first.servers[0].state == "killed"
    second.stop_all()


def test_server_dying_at_startup_reports_its_log(tmp_path):
    bad = tmp_path / "bad_app.py"
    bad.write_text("import sys\nprint('cannot start: database missing')\nsys.exit(3)\n")
    with pytest.raises(ServerStartError) as e:
        Fleet(app=bad).start(count=1)
    assert "exited during start-up (exit code 3)" in str(e.value)
    assert "cannot start: database missing" in str(e.value)


def test_servers_die_when_the_parent_is_killed(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(APP.parent.parent)!r})
        from labsupport.course.fleet import Fleet
        f = Fleet()
        f.start(count=3)
        print(" ".join(str(s.pid) for s in f.servers), flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 3 and all(psutil.pid_exists(p) for p in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()

    def alive() -> list[int]:
        living = []
        for p in pids:
            try:
                if psutil.Process(p).status() != psutil.STATUS_ZOMBIE:
                    living.append(p)
            except psutil.NoSuchProcess:
                pass
        return living

    deadline = time.monotonic() + 10  # each server notices its parent's death (a signal, or its watchdog)
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive() == [], f"servers outlived their parent: {alive()}"


def test_host_option_binds_another_loopback_address():
    with Fleet() as fleet:
        (port,) = fleet.start(count=1, host="127.0.0.2")
        assert get(f"http://127.0.0.2:{port}/info").find('"host":"127.0.0.2"') >= 0
        fleet.kill(f"127.0.0.2:{port}")


def test_logs_of_this_run_under_latest_and_ended_runs_removed(tmp_path, monkeypatch):
    """One stable path (log_root()/latest) for the newest run's logs; folders of ended runs go away."""
    from labsupport.course import fleet as fleet_module

    monkeypatch.setattr(fleet_module, "LOG_ROOT", tmp_path)
    monkeypatch.setattr(fleet_module, "_run_dir", None)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    (tmp_path / str(ended.pid)).mkdir()
    (tmp_path / str(ended.pid) / "server-127.0.0.1-8080.log").write_text("old run")
    (tmp_path / str(os.getppid())).mkdir()  # a live process's folder stays
    with Fleet() as fleet:
        (port,) = fleet.start(count=1)
        assert fleet.log_dir == tmp_path / str(os.getpid())
        assert Fleet().log_dir == fleet.log_dir  # every fleet of one kernel logs in one folder
    assert not (tmp_path / str(ended.pid)).exists()
    assert (tmp_path / str(os.getppid())).is_dir()
    assert (tmp_path / "latest").resolve() == fleet.log_dir
    assert "Running on" in (tmp_path / "latest" / f"server-127.0.0.1-{port}.log").read_text()
