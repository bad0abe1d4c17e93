"""Real HAProxy in a port conflict, in a real kernel: as the holder the message names it and the call
that stops it; as the one refused, it names the holder, and both ways out it gives work."""
from __future__ import annotations

import re

import pytest
from jupyter_client.manager import start_new_kernel
from support.ports import hint_frees, ok, shown_error, suggested_call, wait_free

from labsupport.ports import free_ports


def config(port: int) -> str:
    return ("defaults\\n mode http\\n timeout connect 1s\\n timeout client 5s\\n timeout server 5s\\n"
            f"frontend f\\n bind 127.0.0.1:{port}\\n default_backend b\\nbackend b\\n server s1 127.0.0.1:9\\n")


@pytest.fixture(scope="module")
def kernel(haproxy_bin):
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    ok(kc, "from labsupport import Fleet, HAProxy, stop_all")
    yield kc
    ok(kc, "stop_all()")
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_real_haproxy_of_this_notebook_holds_the_port(kernel):
    port = free_ports(1)[0]
    hint_frees(kernel, f'hx = HAProxy.from_text("{config(port)}").start()', f"Fleet().start([{port}])",
               rf"PortInUseError: port {port} on 127\.0\.0\.1 is already in use by real HAProxy this notebook "
               r"started \(haproxy .*pid \d+\)\. Stop it with hx\.stop\(\), or stop_all\(\) stops everything this "
               r"notebook started, or choose another port\.", port)


def test_real_haproxy_meets_a_server_of_this_notebook(kernel):
    port = free_ports(1)[0]
    ok(kernel, f"fleet = Fleet()\nfleet.start([{port}])")
    pid = int(ok(kernel, f"print(fleet.pid({port}))"))
    message = shown_error(kernel, f'HAProxy.from_text("{config(port)}").start()')
    assert message == (f"PortInUseError: port {port} on 127.0.0.1 is already in use by an application server this "
                       f"notebook started (python3 app.py {port}, pid {pid}). Stop it with "
                       f'fleet.stop("127.0.0.1:{port}"), or stop_all() stops everything this notebook started, '
                       f"or run haproxy on another port with port_map={{{port}: {port + 100}}}.")
    moved = re.search(r"port_map=(\{\d+: \d+\})", message).group(1)  # the other way out, first
    ok(kernel, f'hx = HAProxy.from_text("{config(port)}", port_map={moved}).start()\nhx.stop()')
    ok(kernel, suggested_call(message))
    wait_free(port)
    ok(kernel, f'hx = HAProxy.from_text("{config(port)}").start()\nhx.stop()')  # the cell that failed works now
