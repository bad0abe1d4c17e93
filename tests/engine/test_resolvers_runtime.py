"""The resolvers at run time in the engine, over real sockets: a reload keeps asking (the new servers
resolve again), stop ends the asking, and a nameserver off this machine is never asked."""
from __future__ import annotations

import asyncio
import time

from labsupport.course.dnsserver import DNSServer
from labsupport.engine.balancer import Balancer
from labsupport.ports import free_ports


def _config(nameserver: str, bind: int) -> str:
    return (f"resolvers lab\n    nameserver ns1 {nameserver}\n    hold valid 1s\n    timeout resolve 200ms\n"
            "    timeout retry 200ms\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n"
            f"    timeout server 1s\nfrontend f\n    bind 127.0.0.1:{bind}\n    default_backend web\nbackend web\n"
            "    server-template web 3 app.lab:8080 resolvers lab init-addr none\n")


def _addresses(b: Balancer) -> list[str]:
    rows = [line.split() for line in b.command("show servers state web").splitlines()[2:] if line.strip()]
    return [r[4] for r in rows]


def _wait(b: Balancer, want: list[str], timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while (got := _addresses(b)) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


def test_reload_resolves_again_and_stop_ends_the_asking():
    dns_port, bind = free_ports(2)
    with DNSServer({"app.lab.": ["127.0.0.11", "127.0.0.12"]}, ttl=1, order="fixed", port=dns_port) as dns:
        b = Balancer.from_text(_config(f"127.0.0.1:{dns_port}", bind)).start()
        try:
            assert _wait(b, ["127.0.0.12", "127.0.0.11", "-"]) == ["127.0.0.12", "127.0.0.11", "-"]
            (before,) = b._engine.resolving
            b.reload(_config(f"127.0.0.1:{dns_port}", bind).replace("web 3", "web 4"))
            dns.set("app.lab.", ["127.0.0.13"])
            assert _wait(b, ["127.0.0.13", "-", "-", "-"]) == ["127.0.0.13", "-", "-", "-"]
            assert all(task.done() for task in before.tasks)  # the old configuration's asking ended
            # the engine stops while its loop keeps running (the loop's end would stop any task anyway)
            asyncio.run_coroutine_threadsafe(b._engine.stop(), b._loop).result(10)
            asked = dns.queries
            time.sleep(1.5)  # longer than hold valid (1 s): a task still running would have asked again
            assert dns.queries == asked
        finally:
            b.stop()


def test_a_nameserver_off_this_machine_is_never_asked():
    (bind,) = free_ports(1)
    b = Balancer.from_text(_config("192.0.2.1:53", bind)).start()
    try:
        assert b._engine.resolving == []
        assert _addresses(b) == ["-", "-", "-"]
        warned = [m.text for m in b.config.warnings if "192.0.2.1" in m.text]
        assert warned == ["parsing [haproxy.cfg:2] : nameserver 'ns1' at 192.0.2.1 is not on this machine: "
                          "the course engine does not query it."]
    finally:
        b.stop()
