"""DNS service discovery against real HAProxy 2.6: ``server-template`` slots filled by a ``resolvers``
section asking the lab's DNS server (labsupport.course.dnsserver), with the engine and HAProxy each asking
a DNSServer of its own, given the same record changes.

After each change both must reach the address set the records imply (waited for with a deadline); then
``show servers state`` (the seconds since the last change masked) and ``show stat``'s status and addr are
compared row for row, and at the end the log lines of every join and leave, word for word. The join and
leave times are printed (pytest -s), never asserted: a busy machine stretches them."""
from __future__ import annotations

import re
import socket
import time

import pytest
from support.procs import start_together

from labsupport.course.dnsserver import DNSServer
from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.engine.balancer import Balancer
from labsupport.ports import free_ports

pytestmark = pytest.mark.haproxy

HOLD = {"valid": 1, "obsolete": 2, "nx": 1}  # seconds, short so the test is quick
SLOTS = 4
EVENT = re.compile(r"changed its IP|resolves again|administratively READY|for maintenance|no server available")


def config(dns_port: int, bind: int) -> str:
    return (f"global\n    maxconn 100\nresolvers lab\n    nameserver ns1 127.0.0.1:{dns_port}\n"
            + "".join(f"    hold {k} {v}s\n" for k, v in HOLD.items())
            + "    hold other 1s\n    hold refused 1s\n    hold timeout 1s\n    resolve_retries 2\n"
              "    timeout resolve 500ms\n    timeout retry 500ms\n"
              "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
              f"frontend fe\n    bind 127.0.0.1:{bind}\n    default_backend web\nbackend web\n"
              f"    server-template web 1-{SLOTS} app.lab:8080 resolvers lab init-addr none\n")


def state(balancer) -> list[tuple]:
    """Each server: show servers state's columns (seconds since the last change masked, and the check
    counter of a slot in MAINT (resolution)), then show stat's status and addr."""
    rows = [line.split() for line in balancer.command("show servers state web").splitlines()[2:] if line.strip()]
    stat = {r["svname"]: (r["status"], r["addr"]) for r in parse_stat_csv(balancer.command("show stat"))
            if r["pxname"] == "web" and r["svname"] not in ("BACKEND", "FRONTEND")}
    out = []
    for r in rows:
        r = r[:9] + ["-"] + r[10:]
        if r[6] == "32":
            # a health check in flight when the slot loses its address still counts on HAProxy (its health
            # counter moves, the state does not): seen under load, a race, not a rule
            r[12] = "-"
        out.append(tuple(r) + stat[r[3]])
    return out


def addresses(rows: list[tuple]) -> set[str]:
    return {r[4] for r in rows if r[4] != "-"}


def settle(both: dict, want: set[str], timeout: float = 20.0) -> dict[str, float]:
    """Wait until every balancer's servers hold exactly ``want``; the seconds each took."""
    start, took = time.monotonic(), {}
    while len(took) < len(both) and time.monotonic() - start < timeout:
        for who, b in both.items():
            if who not in took and addresses(state(b)) == want:
                took[who] = round(time.monotonic() - start, 2)
        time.sleep(0.05)
    assert len(took) == len(both), {who: state(b) for who, b in both.items()}
    return took


def events(balancer) -> list[str]:
    lines, _ = balancer.events()
    return [line.split(" : ", 1)[-1] for line in lines if EVENT.search(line)]


@pytest.fixture
def pair(haproxy_bin):
    ports = free_ports(4)
    servers = {"engine": DNSServer({"app.lab.": ["127.0.0.11", "127.0.0.12"]}, ttl=1, order="fixed", port=ports[0]),
               "haproxy": DNSServer({"app.lab.": ["127.0.0.11", "127.0.0.12"]}, ttl=1, order="fixed", port=ports[1])}
    for s in servers.values():
        s.start()
    balancers = {"engine": Balancer.from_text(config(ports[0], ports[2])),
                 "haproxy": HAProxy.from_text(config(ports[1], ports[3]), "dns.cfg", binary=haproxy_bin)}
    try:
        start_together(tuple(balancers.values()))
        yield servers, balancers
    finally:
        for b in balancers.values():
            b.stop()
        for s in servers.values():
            s.stop()


def test_servers_join_and_leave_with_the_records_as_in_haproxy(pair):
    servers, both = pair

    def change(records: list[str] | None) -> None:
        for s in servers.values():
            s.set("app.lab.", records) if records else s.remove("app.lab.")

    steps = [
        ("start", None, {"127.0.0.11", "127.0.0.12"}),
        ("add .13", ["127.0.0.11", "127.0.0.12", "127.0.0.13"], {"127.0.0.11", "127.0.0.12", "127.0.0.13"}),
        ("remove .12", ["127.0.0.11", "127.0.0.13"], {"127.0.0.11", "127.0.0.13"}),
        ("add .14", ["127.0.0.11", "127.0.0.13", "127.0.0.14"], {"127.0.0.11", "127.0.0.13", "127.0.0.14"}),
        ("name removed (NXDOMAIN)", None, set()),
        ("back as .21 and .22", ["127.0.0.21", "127.0.0.22"], {"127.0.0.21", "127.0.0.22"}),
    ]
    changed = time.monotonic()
    for i, (label, records, want) in enumerate(steps):
        if i and records and steps[i - 1][1] is None:
            # after an error both keep the old records until a valid answer finds them older than hold
            # obsolete; wait that long so the next answer surely drops them (a timer, not a condition)
            time.sleep(max(0.0, changed + HOLD["obsolete"] + 0.5 - time.monotonic()))
        if i:
            change(records)
            changed = time.monotonic()
        took = settle(both, want)
        print(f"{label}: settled after {took} s", [(r[3], r[4]) for r in state(both["haproxy"])])
        deadline = time.monotonic() + 5  # both saw the same answers; their rows agree once both applied them
        while (rows := {who: state(b) for who, b in both.items()})["engine"] != rows["haproxy"] \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rows["engine"] == rows["haproxy"], (label, [(r[3], r[4]) for r in rows["haproxy"]])
        maint = [r for r in rows["engine"] if r[-2] == "MAINT (resolution)"]
        assert len(maint) == SLOTS - len(want)  # every slot without an address, and only those
        assert all(r[6] == "32" and r[4] == "-" and not r[-1] for r in maint), maint
    deadline = time.monotonic() + 5
    while (ev := {who: events(b) for who, b in both.items()})["engine"] != ev["haproxy"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ev["engine"] == ev["haproxy"], "\n".join(ev["haproxy"]) + "\n----\n" + "\n".join(ev["engine"])
    assert "Server web/web1 is going DOWN for maintenance (No IP for server ). 2 active and 0 backup servers left. " \
           "0 sessions active, 0 requeued, 0 remaining in queue." in ev["engine"]


def test_checked_slots_and_a_silent_nameserver_as_in_haproxy(haproxy_bin):
    """``check`` on the template's servers (an address from DNS, then health checks), ``resolve-prefer
    ipv4``, and the nameserver going silent: after resolve_retries tries and ``hold timeout`` the slots
    go to MAINT (resolution) with "DNS timeout status"."""
    ports = free_ports(5)
    app = ports[4]
    listeners = []
    for ip in ("127.0.0.11", "127.0.0.12"):  # health checks only connect: a listening socket answers them
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, app))
        s.listen(64)
        listeners.append(s)
    template = f"server-template web 1-3 app.lab:{app} resolvers lab init-addr none resolve-prefer ipv4 check inter 300"
    servers = {who: DNSServer({"app.lab.": ["127.0.0.11", "127.0.0.12"]}, ttl=1, order="fixed", port=p).start()
               for who, p in (("engine", ports[0]), ("haproxy", ports[1]))}
    both = {"engine": Balancer.from_text(config(ports[0], ports[2]).replace(
                f"server-template web 1-{SLOTS} app.lab:8080 resolvers lab init-addr none", template)),
            "haproxy": HAProxy.from_text(config(ports[1], ports[3]).replace(
                f"server-template web 1-{SLOTS} app.lab:8080 resolvers lab init-addr none", template),
                "dns.cfg", binary=haproxy_bin)}
    try:
        start_together(tuple(both.values()))
        for label, want, status in (("resolved and checked", {"127.0.0.11", "127.0.0.12"}, "UP"),
                                    ("nameserver silent", set(), None)):
            if not want:
                for s in servers.values():
                    s.stop()
            took = settle(both, want, timeout=30)
            deadline = time.monotonic() + 10
            while True:
                rows = {who: state(b) for who, b in both.items()}
                up = all(r[-2] == status for r in rows["engine"] + rows["haproxy"] if r[4] != "-")
                if (rows["engine"] == rows["haproxy"] and up) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            print(f"{label}: settled after {took} s", [(r[3], r[4], r[-2]) for r in rows["haproxy"]])
            assert rows["engine"] == rows["haproxy"], label
        deadline = time.monotonic() + 5
        while (ev := {who: events(b) for who, b in both.items()})["engine"] != ev["haproxy"] \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ev["engine"] == ev["haproxy"], "\n".join(ev["haproxy"]) + "\n----\n" + "\n".join(ev["engine"])
        assert any("(DNS timeout status)" in line for line in ev["engine"])
    finally:
        for b in both.values():
            b.stop()
        for s in servers.values():
            s.stop()
        for s in listeners:
            s.close()


@pytest.mark.parametrize("init_addr,answers", [
    ("127.0.0.9", True), ("last,libc,none", True), ("127.0.0.9", False), ("none", False)])
def test_init_addr_at_start_as_in_haproxy(haproxy_bin, init_addr, answers):
    """Where the slots start (an address of their own, or none) and what the first answer (or the silence
    of the nameserver, then ``hold timeout``) makes of them."""
    ports = free_ports(4)
    servers = {who: DNSServer({"app.lab.": ["127.0.0.11", "127.0.0.12"]}, ttl=1, order="fixed", port=p)
               for who, p in (("engine", ports[0]), ("haproxy", ports[1]))}
    if answers:
        for s in servers.values():
            s.start()
    texts = {who: config(ports[i], ports[i + 2]).replace("init-addr none", f"init-addr {init_addr}")
             for i, who in enumerate(("engine", "haproxy"))}
    both = {"engine": Balancer.from_text(texts["engine"]),
            "haproxy": HAProxy.from_text(texts["haproxy"], "dns.cfg", binary=haproxy_bin)}
    try:
        start_together(tuple(both.values()))
        settle(both, {"127.0.0.11", "127.0.0.12"} if answers else set(), timeout=30)
        deadline = time.monotonic() + 5
        while (rows := {who: state(b) for who, b in both.items()})["engine"] != rows["haproxy"] \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rows["engine"] == rows["haproxy"]
        deadline = time.monotonic() + 5
        while (ev := {who: events(b) for who, b in both.items()})["engine"] != ev["haproxy"] \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ev["engine"] == ev["haproxy"], "\n".join(ev["haproxy"]) + "\n----\n" + "\n".join(ev["engine"])
    finally:
        for b in both.values():
            b.stop()
        for s in servers.values():
            s.stop()
