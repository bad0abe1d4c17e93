"""Who holds a port, and hints that work: each case made for real (real processes, sockets, a real
kernel), the message checked for the right holder, then the hint followed and the port shown free.

Another notebook's kernel: tests/test_ports_kernels.py; real HAProxy: tests/differential/test_ports_haproxy.py.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from jupyter_client.manager import start_new_kernel
from support.ports import hint_frees, is_free, ok, shown_error, suggested_call, wait_free

from labsupport.ports import free_ports, in_use, listener

HOLD = ("import socket, sys, time\n"
        "s = socket.socket(); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(); print('ok', flush=True)\n"
        "time.sleep(300)\n")
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def hold(host: str, port: int, **kw) -> subprocess.Popen:
    """A process that listens on host:port (returns once it does)."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, host, str(port)], stdout=subprocess.PIPE, text=True, **kw)
    assert p.stdout.readline().strip() == "ok"
    return p


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    ok(kc, "from labsupport import Balancer, DNSServer, Fleet, stop_all")
    yield kc
    ok(kc, "stop_all()")
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_the_holder_is_found_by_address_then_on_every_address():
    port = free_ports(1)[0]
    procs = [hold(h, port) for h in ADDRESSES]  # lesson 01: one port on three addresses
    try:
        for host, p in zip(ADDRESSES, procs):
            assert listener(port, host).pid == p.pid, host
        assert listener(port, "127.0.0.4") is None  # nothing holds it there: binding it would work
    finally:
        for p in procs:
            p.kill()
            p.wait()
    wild = hold("0.0.0.0", port)
    try:
        found = listener(port, "127.0.0.4")
        assert (found.host, found.pid) == ("0.0.0.0", wild.pid)  # every address includes 127.0.0.4
    finally:
        wild.kill()
        wild.wait()


def test_a_server_of_this_notebook_on_one_of_three_addresses(kernel):
    port = free_ports(1)[0]
    ok(kernel, f"fleet = Fleet()\nfor h in {ADDRESSES!r}: fleet.start([{port}], host=h)")
    pid = int(ok(kernel, f'print(fleet.pid("127.0.0.3:{port}"))'))
    message = shown_error(kernel, f'Fleet().start([{port}], host="127.0.0.3")')
    assert message == (f"PortInUseError: port {port} on 127.0.0.3 is already in use by an application server this "
                       f"notebook started (python3 app.py {port}, pid {pid}). Stop it with "
                       f'fleet.stop("127.0.0.3:{port}"), or stop_all() stops everything this notebook started, '
                       "or choose another port.")
    ok(kernel, suggested_call(message))  # what the student does next
    wait_free(port, "127.0.0.3")
    assert not is_free(port, "127.0.0.2"), "the hint stopped more than the one server"
    ok(kernel, f'Fleet().start([{port}], host="127.0.0.3")')  # and the cell that failed works now

    ok(kernel, "del fleet")  # no variable holds the fleet any more (a re-bound name, a deleted one)
    message = shown_error(kernel, f'Fleet().start([{port}], host="127.0.0.2")')
    assert re.search(rf"in use by an application server this notebook started \(python3 app\.py {port}, pid \d+\)\. "
                     r"Stop it: stop_all\(\) stops everything", message), message
    ok(kernel, suggested_call(message))
    for host in ADDRESSES:
        wait_free(port, host)


OWN = {  # what this notebook started -> (the cell that starts it, the cell refused, the message, as a pattern)
    "a Balancer": (
        'lb = Balancer.from_text("frontend f\\n bind 127.0.0.1:{port}\\n default_backend b\\n'
        'backend b\\n server s1 127.0.0.1:9\\n").start()',
        "Fleet().start([{port}])",
        r"PortInUseError: port {port} on 127\.0\.0\.1 is already in use by a Balancer this notebook started \(it runs "
        r"inside this kernel\)\. Stop it with lb\.stop\(\), or stop_all\(\) stops everything this notebook started, "
        r"or choose another port\."),
    "a server, meeting a Balancer": (
        "servers = Fleet()\nservers.start([{port}])",
        'Balancer.from_text("listen stats_page\\n bind *:{port}\\n stats enable\\n").start()',
        r"PortInUseError: port {port} on 127\.0\.0\.1 is already in use by an application server this notebook "
        r"started \(python3 app\.py {port}, pid \d+\), so listen 'stats_page' cannot listen on it\. Stop it with "
        r'servers\.stop\("127\.0\.0\.1:{port}"\), or stop_all\(\) stops everything this notebook started, or '
        r"change the 'bind' line\."),
    "a DNSServer": (
        "dns = DNSServer(port={port}).start()",
        "DNSServer(port={port}).start()",
        r"PortInUseError: port {port} on 127\.0\.0\.1 is already in use by a DNSServer this notebook started \(it "
        r"runs inside this kernel\)\. Stop it with dns\.stop\(\), or stop_all\(\) stops everything this notebook "
        r"started, or leave port=0 to get a free port\."),
}


@pytest.mark.parametrize("holder", OWN)
def test_what_this_notebook_started_is_named_with_its_stop_call(kernel, holder):
    port = free_ports(1)[0]
    start, refused, expected = (text.replace("{port}", str(port)) for text in OWN[holder])
    hint_frees(kernel, start, refused, expected, port)


def test_another_program(tmp_path):
    port = free_ports(1)[0]
    # started through a shell that exits at once: the server is nobody's child here, as a program of its own
    pid = int(subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 & echo $!'],
        capture_output=True, text=True, check=True, start_new_session=True).stdout)
    try:
        deadline = time.monotonic() + 10
        while getattr(listener(port), "pid", None) != pid:  # until it listens
            assert time.monotonic() < deadline, "the program never listened"
            time.sleep(0.05)
        error = in_use(port)
        assert str(error) == (f"port {port} on 127.0.0.1 is already in use by python3 http.server {port} (pid {pid}). "
                              f"Stop that program (kill {pid} in a terminal), or choose another port.")
        os.kill(pid, signal.SIGTERM)  # what 'kill PID' in a terminal does
        wait_free(port)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_process_this_account_may_not_see():
    """The listener is seen (the network namespace is shared) but not its process (the asker lives in a
    PID namespace of its own, as another user's processes are hidden from an ordinary account)."""
    port = free_ports(1)[0]
    other = hold("127.0.0.1", port)
    unshare = ["unshare", "--pid", "--fork", "--mount-proc"]
    if os.geteuid() != 0:
        unshare[1:1] = ["--user", "--map-root-user"]
    ask = "import sys; from labsupport.ports import in_use; print(in_use(int(sys.argv[1])))"
    try:
        done = subprocess.run([*unshare, sys.executable, "-c", ask, str(port)], capture_output=True, text=True)
        if done.returncode != 0 and "unshare" in done.stderr:
            pytest.skip(f"this machine allows no PID namespace here: {done.stderr.strip()}")
        assert done.stdout.strip() == (
            f"port {port} on 127.0.0.1 is already in use by a process this account is not allowed to see "
            f"(another user's, perhaps). Find it with: sudo ss -ltnup 'sport = :{port}'; stop it, "
            "or choose another port."), done.stderr
        ss = subprocess.run(["ss", "-ltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert f"pid={other.pid}," in ss  # the hint's command names it (here, as root or its own user)
        os.kill(other.pid, signal.SIGTERM)
        wait_free(port)
    finally:
        other.kill()
        other.wait()


def test_free_ports_never_hands_out_a_port_twice_in_a_row():
    """Backends first, then the proxy in front, each from its own call and nothing bound between: the two
    calls must not share a port (the kernel may offer the same free port again; it once did)."""
    seen: list[int] = []
    for _ in range(200):
        seen += free_ports(3)
    assert len(seen) == len(set(seen)) == 600
