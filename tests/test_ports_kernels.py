"""Another notebook's kernel holds the port (a tab closed without shutting its kernel down): the message
names that notebook, and each way out it gives works. Real JupyterLab, real kernels started through its
REST API (as opening a notebook does), real servers; the hints followed as a student would."""
from __future__ import annotations

import json
import os
import re
import signal
import urllib.request

import pytest
from browser.labserver import LabServer
from jupyter_client import BlockingKernelClient
from jupyter_client.manager import start_new_kernel
from support.ports import ok, shown_error, wait_free

from labsupport.ports import RUNNING_PANEL, free_ports

HOLDER, ASKER = "03-load-balancer.ipynb", "02-application-servers.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = LabServer(tmp_path_factory.mktemp("ports-lab")).start()
    yield server
    survivors = server.stop()
    assert not survivors, f"still running after JupyterLab stopped (killed now): {survivors}"


def open_notebook(lab: LabServer, name: str) -> tuple[str, BlockingKernelClient]:
    """What opening a notebook in JupyterLab does: a session with a new kernel; returns (session id, a client)."""
    body = json.dumps({"path": name, "type": "notebook", "name": name, "kernel": {"name": "python3"}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{lab.port}/api/sessions", data=body, method="POST",
                                 headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        session = json.loads(r.read())
    kc = BlockingKernelClient(connection_file=str(next(lab.workdir.rglob(f"kernel-{session['kernel']['id']}.json"))))
    kc.load_connection_file()
    kc.start_channels(hb=False)  # (a heartbeat just connected may not beat yet: kernel_info decides)
    kc.wait_for_ready(timeout=60)
    ok(kc, "import os\nfrom labsupport import Balancer, Fleet, stop_all")
    return session["id"], kc


@pytest.fixture(scope="module")
def asker(lab):
    _, kc = open_notebook(lab, ASKER)
    yield kc
    kc.stop_channels()


def pid_in(kc, expression: str) -> int:
    return int(ok(kc, f"print({expression})"))


def test_servers_of_another_notebook_and_stop_all_there(lab, asker):
    session, holder = open_notebook(lab, HOLDER)
    port = free_ports(1)[0]
    ok(holder, f"fleet = Fleet()\nfleet.start([{port}])")
    pid = pid_in(holder, f"fleet.pid({port})")
    message = shown_error(asker, f"Fleet().start([{port}])")
    assert message == (f"PortInUseError: port {port} on 127.0.0.1 is already in use by an application server that "
                       f"the kernel of notebook {HOLDER} started (pid {pid}). Shut that kernel down: {RUNNING_PANEL} "
                       f"→ shut down {HOLDER}, or run stop_all() in that notebook, or choose another port.")
    ok(holder, "stop_all()")  # the second way out: in that notebook
    wait_free(port)
    ok(asker, f"Fleet().start([{port}])\nstop_all()")
    holder.stop_channels()
    lab.api("DELETE", f"api/sessions/{session}")


def test_the_kernel_of_another_notebook_and_its_running_panel(lab, asker):
    session, holder = open_notebook(lab, HOLDER)
    ports = free_ports(2)
    ok(holder, f"fleet = Fleet()\nfleet.start([{ports[0]}])\n"
               f'lb = Balancer.from_text("frontend f\\n bind 127.0.0.1:{ports[1]}\\n default_backend b\\n'
               f'backend b\\n server s1 127.0.0.1:{ports[0]}\\n").start()')
    kernel_pid = pid_in(holder, "os.getpid()")
    message = shown_error(asker, f"Fleet().start([{ports[1]}])")  # the balancer runs inside that kernel
    assert message == (f"PortInUseError: port {ports[1]} on 127.0.0.1 is already in use by the kernel of notebook "
                       f"{HOLDER} (pid {kernel_pid}). Shut that kernel down: {RUNNING_PANEL} → shut down {HOLDER}, "
                       "or run stop_all() in that notebook, or choose another port.")
    holder.stop_channels()
    lab.api("DELETE", f"api/sessions/{session}")  # what the Running panel's shut-down button asks the server
    for port in ports:  # the kernel is gone, and the servers it started with it
        wait_free(port, timeout=20)
    assert HOLDER not in [s["path"] for s in lab.api("GET", "api/sessions")]
    ok(asker, f"Fleet().start({ports})\nstop_all()")


def test_a_kernel_no_jupyter_server_lists(asker):
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)  # as an IDE or a script starts one
    try:
        port = free_ports(1)[0]
        ok(kc, f"from labsupport import Fleet\nfleet = Fleet()\nfleet.start([{port}])")
        pid, kernel_pid = pid_in(kc, f"fleet.pid({port})"), km.provisioner.pid
        message = shown_error(asker, f"Fleet().start([{port}])")
        assert message == (f"PortInUseError: port {port} on 127.0.0.1 is already in use by an application server "
                           f"(pid {pid}) of another Jupyter kernel (pid {kernel_pid}) that no running Jupyter server "
                           "lists. Shut that kernel down (Kernel → Shut Down Kernel in its notebook), or stop it from "
                           f"a terminal: kill {pid}, or choose another port.")
        os.kill(int(re.search(r"kill (\d+)", message).group(1)), signal.SIGTERM)  # 'kill PID' in a terminal
        wait_free(port)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
