"""labsupport.stop_all (lifecycle.stop_all) with real processes: a notebook's first cell frees every port an earlier run of it took."""
from __future__ import annotations

import socket

from labsupport import Balancer, DNSServer, Fleet, stop_all


def free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
        return True
    except OSError:
        return False


def test_stop_all_frees_servers_balancers_and_dns():
    fleet = Fleet()
    (app_port,) = fleet.start(count=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        lb_port = s.getsockname()[1]
    lb = Balancer.from_text(f"""
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{lb_port}
    default_backend be
backend be
    server s1 127.0.0.1:{app_port}
""").start()
    dns = DNSServer().start()
    assert not free(app_port) and not free(lb_port)
    stop_all()
    assert free(app_port) and free(lb_port)
    assert not lb.running and not fleet.servers[0].alive and not dns.running
    stop_all()  # nothing left: a second call is harmless
