"""Lesson 01's DNS lab (labsupport/lessons/dnslab): the server and its clients, over real UDP/TCP sockets,
with real dig and real web servers."""
from __future__ import annotations

import random
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from labsupport.course.dnsserver import LAB_ADDRESSES, DNSServer, stop_all_dns
from labsupport.course.fleet import Fleet
from labsupport.errors import LabError, PortInUseError
from labsupport.lessons.dnslab.client import (
    LabResolver,
    dig,
    dig_live,
    dig_repeat,
    loopback_aliases_work,
    real_dig,
    spread,
    start_lab_servers,
    visit,
)
from labsupport.lessons.dnslab.exercises import check_rotation

CONTINENT_SITES = {"127.0.0.2": "Asia", "127.0.0.3": "Europe", "127.0.0.4": "America"}
needs_aliases = pytest.mark.skipif(not loopback_aliases_work(), reason="cannot bind 127.0.0.2+ here (macOS?)")


@pytest.fixture
def server():
    with DNSServer() as s:
        s.set("big.lab.", [f"127.0.9.{i}" for i in range(1, 101)])
        yield s


def firsts(name: str, server: DNSServer, n: int, **kw) -> list[str]:
    return [dig(name, server, **kw).addresses[0] for _ in range(n)]


def udp_exchange(server: DNSServer, wire: bytes, timeout: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, server.address)
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


# ---------------------------------------------------------------- answer order
def test_cyclic_rotation_moves_one_step_per_query(server):
    answers = [dig("shop.lab", server).addresses for _ in range(4)]
    assert answers == [["127.0.0.2", "127.0.0.3", "127.0.0.4"], ["127.0.0.3", "127.0.0.4", "127.0.0.2"],
                       ["127.0.0.4", "127.0.0.2", "127.0.0.3"], ["127.0.0.2", "127.0.0.3", "127.0.0.4"]]
    assert repr(dig("shop.lab.", server)) == "127.0.0.3\n127.0.0.4\n127.0.0.2"  # like dig +short


def test_fixed_and_random_orders(server):
    server.order = "fixed"
    assert firsts("shop.lab", server, 5) == ["127.0.0.2"] * 5
    server.order = "random"
    seen = {tuple(dig("shop.lab", server).addresses) for _ in range(60)}
    assert all(sorted(a) == list(LAB_ADDRESSES) for a in seen) and len(seen) > 1
    with pytest.raises(LabError, match=r"unknown answer order 'round-robin' \(expected one of: cyclic, random, fixed\)"):
        server.order = "round-robin"


def test_ttl_and_zone_and_bad_records(server):
    server.set("api.shop.lab", ["127.0.0.2", "127.0.0.3"], ttl=5)
    assert dig("api.shop.lab", server).ttl == 5 and dig("shop.lab", server).ttl == 30
    assert "api.shop.lab." in server.zone().column("name")
    with pytest.raises(LabError, match=r"DNS record for www.lab: 'localhost' is not an IP address"):
        server.set("www.lab", ["localhost"])


def test_dig_repeat_table_and_full_form(server):
    t = dig_repeat("shop.lab", server, times=3)
    assert t.column("first") == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    full = repr(dig("shop.lab", server, full=True))
    assert ";; status: NOERROR, flags: qr aa rd; ANSWER: 3" in full
    assert ";; ANSWER SECTION:\nshop.lab.               30      IN  A     127.0.0.2" in full


# ---------------------------------------------------------------- GeoDNS
def test_geodns_by_source_address(server):
    server.sites.update(CONTINENT_SITES)
    assert firsts("shop.lab", server, 3, source="127.0.1.10") == ["127.0.0.2"] * 3   # Asia
    assert firsts("shop.lab", server, 3, source="127.0.2.7") == ["127.0.0.3"] * 3    # Europe
    assert firsts("shop.lab", server, 3, source="127.0.3.99") == ["127.0.0.4"] * 3   # America
    assert firsts("shop.lab", server, 3) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]  # nowhere: plain rotation
    # the others still rotate behind the home server
    assert [dig("shop.lab", server, source="127.0.1.10").addresses[1:] for _ in range(2)] == \
        [["127.0.0.4", "127.0.0.3"], ["127.0.0.3", "127.0.0.4"]]
    log = server.log(last=4)
    assert log.column("region")[-1] == "Asia" and log.column("client")[-1] == "127.0.1.10"


def test_geodns_by_client_subnet_echoes_scope(server):
    server.sites.update(CONTINENT_SITES)
    got = dig("shop.lab", server, ecs="127.0.2.0/24")            # the resolver asks for a European client
    assert got.addresses[0] == "127.0.0.3" and got.scope == "127.0.2.0/24 scope /24"
    assert dig("shop.lab", server, ecs="127.0.1.128/25").scope == "127.0.1.128/25 scope /24"
    assert dig("shop.lab", server, ecs="127.0.0.0/16").scope == "127.0.0.0/16 scope /24"  # needs more bits
    assert dig("shop.lab", server, ecs="0.0.0.0/0").scope == "0.0.0.0/0 scope /0"         # opted out
    server.set("plain.lab", ["127.0.0.5"])
    assert dig("plain.lab", server, ecs="127.0.2.0/24").scope == "127.0.2.0/24 scope /0"  # same for everyone
    with pytest.raises(LabError, match=r"cannot send from 192.0.2.1: it is not an address of this machine"):
        dig("shop.lab", server, source="192.0.2.1")


def test_client_subnet_with_bits_beyond_prefix_is_formerr(server):
    def ask(srclen: int, address: bytes) -> int:  # a raw ECS option: family 1 (IPv4), prefix, scope 0
        q = dns.message.make_query("shop.lab", "A", use_edns=0)
        data = struct.pack("!HBB", 1, srclen, 0) + address
        q.use_edns(0, options=[dns.edns.GenericOption(dns.edns.OptionType.ECS, data)])
        return dns.message.from_wire(udp_exchange(server, q.to_wire())).rcode()

    assert ask(24, bytes([127, 0, 2])) == dns.rcode.NOERROR
    assert ask(20, bytes([127, 0, 31])) == dns.rcode.FORMERR  # RFC 7871 6: bits past /20 must be 0


# ---------------------------------------------------------------- sizes and bad input
def test_truncated_over_udp_then_complete_over_tcp(server):
    q = dns.message.make_query("big.lab", "A")  # no EDNS: 512 bytes at most
    r = dns.query.udp(q, server.host, port=server.port, timeout=2)
    assert r.flags & dns.flags.TC and not r.answer
    q = dns.message.make_query("big.lab", "A", use_edns=0, payload=1232)
    assert dns.query.udp(q, server.host, port=server.port, timeout=2).flags & dns.flags.TC
    r = dns.query.tcp(q, server.host, port=server.port, timeout=2)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 100
    got = dig("big.lab", server)  # the helper retries by itself, as dig does
    assert got.retried_tcp and got.proto == "TCP" and len(got.addresses) == 100
    assert ";; Truncated, retrying in TCP mode." in repr(dig("big.lab", server, full=True))
    assert "(truncated: retry over TCP)" in server.log().column("answer")


def test_status_codes_for_unknown_names_types_and_zones(server):
    nx = dig("nope.lab", server)
    assert nx.status == "NXDOMAIN" and nx.response.authority[0].rdtype == dns.rdatatype.SOA
    mx = dig("shop.lab", server, "MX")
    assert mx.status == "NOERROR" and not mx.records
    server.set("www.shop.lab", ["127.0.0.2"])
    server.remove("shop.lab")
    assert dig("shop.lab", server).status == "NOERROR"  # an empty non-terminal still exists
    assert dig("google.com", server).status == "REFUSED"  # not our zone, and we are no resolver


def test_malformed_and_odd_packets(server):
    assert udp_exchange(server, b"\x12\x34\x01", timeout=2)[:4] == b"\x12\x34\x80\x01"  # FORMERR, same id
    assert udp_exchange(server, b"\x00", timeout=0.5) is None                            # no id: dropped
    q = dns.message.make_query("shop.lab", "A")
    q.flags |= dns.flags.QR
    assert udp_exchange(server, q.to_wire(), timeout=0.5) is None     # a response: never answered
    q = dns.message.make_query("shop.lab", "A")
    q.set_opcode(dns.opcode.NOTIFY)
    assert dns.message.from_wire(udp_exchange(server, q.to_wire())).rcode() == dns.rcode.NOTIMP
    q = dns.message.make_query("shop.lab", "A", use_edns=1)
    assert dns.message.from_wire(udp_exchange(server, q.to_wire())).rcode() == dns.rcode.BADVERS
    assert "malformed" in server.log().column("answer")


def _mutations(rng: random.Random) -> list[bytes]:
    seeds = [dns.message.make_query(n, t, use_edns=e).to_wire()
             for n in ("shop.lab", "big.lab", "x.lab", "google.com") for t in ("A", "AAAA", "TXT") for e in (None, 0)]
    seeds.append(dns.message.make_query("shop.lab", "A", options=[dns.edns.ECSOption("127.0.1.0", 24)]).to_wire())
    out = []
    for i in range(3000):
        w = bytearray(rng.choice(seeds))
        kind = i % 6
        if kind == 0:  # flip a few bytes
            for _ in range(rng.randint(1, 4)):
                w[rng.randrange(len(w))] = rng.randrange(256)
        elif kind == 1:  # cut short
            w = w[:rng.randrange(len(w))]
        elif kind == 2:  # junk appended
            w += rng.randbytes(rng.randint(1, 80))
        elif kind == 3:  # absurd section counts
            w[4:12] = rng.randbytes(8)
        elif kind == 4:  # a compression pointer pointing at itself or past the end
            w[12:14] = bytes([0xC0, rng.choice([12, 200, 255])])
        else:  # header bits: opcode, QR, rcode, Z
            w[2], w[3] = rng.randrange(256), rng.randrange(256)
        out.append(bytes(w))
    return out


def test_fuzz_random_and_mutated_packets_never_kill_the_server(server):
    rng = random.Random(7)
    packets = _mutations(rng) + [rng.randbytes(rng.randint(0, 600)) for _ in range(2000)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        for i, p in enumerate(packets):
            s.sendto(p, server.address)
            if i % 50 == 49:  # let it keep up, so the kernel does not drop our datagrams
                deadline = time.time() + 2
                while server.queries < i + 1 - 5 and time.time() < deadline:
                    time.sleep(0.002)
                try:
                    while s.recv(65535):
                        pass
                except BlockingIOError:
                    pass
    deadline = time.time() + 10
    while server.queries < len(packets) - 50 and time.time() < deadline:
        time.sleep(0.05)
    tcp_sent = 0
    for p in packets[:300]:  # and some over TCP, with lying length prefixes too
        with socket.create_connection(server.address, timeout=2) as c:
            c.sendall(struct.pack("!H", len(p) + (tcp_sent % 3 == 0)) + p)
            tcp_sent += 1
    print(f"\nfuzz: {len(packets)} UDP packets ({len(packets) - 2000} mutated, 2000 random) and {tcp_sent} over TCP; "
          f"server saw {server.queries}, dropped {server.dropped}")
    assert server.queries >= len(packets) - 50
    assert server.running
    assert dig("shop.lab", server).status == "NOERROR" and len(dig("big.lab", server).addresses) == 100


def test_answer_cache_changes_nothing_but_speed():
    """The cached path (patch the id into a stored answer) gives byte-identical replies."""
    a, b = (DNSServer(sites=dict(CONTINENT_SITES), cache=c) for c in (True, False))
    for s in (a, b):
        s.set("big.lab.", [f"127.0.9.{i}" for i in range(1, 101)])
    rng = random.Random(3)
    packets = _mutations(rng)[:600] * 2 + [
        dns.message.make_query(n, "A", use_edns=e, options=o).to_wire()
        for n in ("shop.lab", "SHOP.LAB", "big.lab", "nope.lab") for e in (None, 0)
        for o in (None, [dns.edns.ECSOption("127.0.2.0", 24)])] * 4
    for i, wire in enumerate(packets):
        client = (f"127.0.{i % 4}.9", 5353)
        for tcp in (False, True):
            assert a.handle(wire, client, tcp) == b.handle(wire, client, tcp), (i, wire)
    a.set("shop.lab", ["127.0.0.4"])  # a zone change is seen at once
    q = dns.message.make_query("shop.lab", "A").to_wire()
    assert dns.message.from_wire(a.handle(q, ("127.0.0.1", 1))).answer[0][0].to_text() == "127.0.0.4"


# ---------------------------------------------------------------- life cycle
def test_stop_releases_ports_and_restarts():
    s = DNSServer().start()
    port = s.port
    s.stop()
    s.stop()  # twice is fine
    with pytest.raises(LabError, match="this DNS server is stopped: start it with .start()"):
        dig("shop.lab", s)
    again = DNSServer(port=port).start()  # the port is free again, for UDP and TCP
    try:
        assert again.port == port and dig("shop.lab", again).addresses
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use by a DNSServer"):
            DNSServer(port=port).start()
    finally:
        stop_all_dns()
    assert not again.running
    s.start()  # re-runnable: a stopped server starts again (on a new free port)
    assert dig("shop.lab", s).status == "NOERROR"
    s.stop()


# ---------------------------------------------------------------- real dig
def test_real_dig_agrees(server, dig_bin):
    server.order = "fixed"
    assert real_dig(server, "shop.lab", "+short") == repr(dig("shop.lab", server))
    server.order = "cyclic"
    server.reset_rotation()
    seq = []
    for i in range(6):  # alternate the two: together they walk one rotation
        out = real_dig(server, "shop.lab", "+short") if i % 2 else repr(dig("shop.lab", server))
        seq.append(out.splitlines()[0])
    assert seq == ["127.0.0.2", "127.0.0.3", "127.0.0.4"] * 2
    assert len(real_dig(server, "big.lab", "+short").splitlines()) == 100  # dig retries over TCP too
    server.sites.update(CONTINENT_SITES)
    assert real_dig(server, "shop.lab", "+short", "-b", "127.0.2.9").splitlines()[0] == "127.0.0.3"
    assert "CLIENT-SUBNET: 127.0.3.0/24/24" in real_dig(server, "shop.lab", "+subnet=127.0.3.0/24")
    assert "status: NXDOMAIN" in real_dig(server, "nope.lab")


# ---------------------------------------------------------------- live mode
def test_dig_live_offline_within_two_seconds():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # a resolver that never answers
        silent.bind(("127.0.0.1", 0))
        res = dns.resolver.Resolver(configure=False)
        res.nameservers, res.port = ["127.0.0.1"], silent.getsockname()[1]
        t0 = time.monotonic()
        table = dig_live(resolver=res)
        elapsed = time.monotonic() - t0
    assert elapsed < 2.5  # the 2 s budget, plus scheduling slack
    assert table[0]["answer"].startswith("offline: the system resolver could not resolve google.com (no answer in time)")
    t0 = time.monotonic()
    dig_live()  # this machine's own resolver: online or not, it comes back within the budget
    assert time.monotonic() - t0 < 2.5


# ---------------------------------------------------------------- end to end
@needs_aliases
def test_dns_balancing_spreads_over_real_servers(server):
    with Fleet() as fleet:
        sites = start_lab_servers(fleet, port=0)
        port = sites.where["127.0.0.2"][1]
        assert sites.where == {a: (a, port) for a in LAB_ADDRESSES}
        sp = spread("shop.lab", LabResolver(server), sites, requests=30)
        assert sp.counts() == {a: 10 for a in LAB_ADDRESSES} and sp.sequence(6) == "2 3 4 2 3 4 ..."
        served = {r["address"]: r["requests"] for r in fleet.status()}  # the servers' own count
        assert served == {f"{a}:{port}": 10 for a in LAB_ADDRESSES}
        assert sp.visits[0].body == f"Hi!! from server {port}"

        caching = LabResolver(server, cache=True)  # TTL 30 s: one answer serves every request
        sp = spread("shop.lab", caching, sites, requests=30)
        assert list(sp.counts().values()).count(30) == 1 and caching.asked == 1 and caching.from_cache == 29

        fleet.kill(f"127.0.0.3:{port}")
        server.reset_rotation()
        naive = spread("shop.lab", LabResolver(server), sites, requests=30, try_all=False)
        assert naive.counts() == {"127.0.0.2": 10, "127.0.0.3": 0, "127.0.0.4": 10, "no answer": 10}
        server.reset_rotation()
        browser = spread("shop.lab", LabResolver(server), sites, requests=30)
        assert browser.counts() == {"127.0.0.2": 10, "127.0.0.3": 0, "127.0.0.4": 20}
        second = browser.visits[1]
        assert [t[:2] for t in second.tried] == [("127.0.0.3", "refused"), ("127.0.0.4", "HTTP 200")]
        assert second.lost_ms > 0 and browser.visits[0].lost_ms == 0
        png = browser.chart("after a crash").data
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert "30 requests: 127.0.0.2 10, 127.0.0.3 0, 127.0.0.4 20" == repr(browser)


@needs_aliases
def test_geodns_end_to_end_asian_clients_reach_the_asian_server(server):
    server.sites.update(CONTINENT_SITES)
    with Fleet() as fleet:
        sites = start_lab_servers(fleet, port=0)
        v = visit("shop.lab", LabResolver(server, source="127.0.1.20"), sites)
        assert v.server == "127.0.0.2"


def test_fallback_without_loopback_aliases_uses_ports_on_127_0_0_1():
    # 192.0.2.x (TEST-NET-1) is never a local address: the same situation as 127.0.0.2 on macOS
    addresses = ("192.0.2.1", "192.0.2.2", "192.0.2.3")
    assert not loopback_aliases_work(addresses)
    with DNSServer({"shop.lab.": list(addresses)}) as server, Fleet() as fleet:
        sites = start_lab_servers(fleet, addresses, port=0)
        assert not sites.aliases and {h for h, _ in sites.where.values()} == {"127.0.0.1"}
        assert len({p for _, p in sites.where.values()}) == 3
        assert "cannot listen on 127.0.0.2+" in repr(sites)
        sp = spread("shop.lab", LabResolver(server), sites, requests=9)
        assert sp.counts() == {a: 3 for a in addresses}


def test_exercise_check(server):
    task = "api.shop.lab rotates over 127.0.0.2 127.0.0.3 127.0.0.4"
    assert repr(check_rotation(server, "api.shop.lab")) == (
        f"NOT YET: {task}\n  measured on 6 queries: api.shop.lab does not resolve (status NXDOMAIN). "
        "Add it with server.set(...).")
    server.set("api.shop.lab", ["127.0.0.2", "127.0.0.3"], ttl=300)
    assert repr(check_rotation(server, "api.shop.lab")) == (
        f"NOT YET: {task}\n  measured on 6 queries: api.shop.lab answers 127.0.0.2, 127.0.0.3; missing 127.0.0.4")
    server.set("api.shop.lab", list(LAB_ADDRESSES), ttl=300)
    assert "the TTL is 300 s; make it at most 10 s" in repr(check_rotation(server, "api.shop.lab", max_ttl=10))
    server.order = "fixed"
    assert "the first address does not take turns" in repr(check_rotation(server, "api.shop.lab"))
    server.order = "cyclic"
    server.set("api.shop.lab", list(LAB_ADDRESSES), ttl=10)
    passed = check_rotation(server, "api.shop.lab", max_ttl=10)
    assert passed.passed  # the verdict states the limit beside the TTL it measured
    assert repr(passed).startswith(f"PASS: {task}, TTL at most 10 s\n  measured on 6 queries: first addresses ")
    assert repr(passed).endswith(", TTL 10 s")
    server.set("api.shop.lab", list(LAB_ADDRESSES), ttl=11)  # one second over the limit: never a PASS
    assert "NOT YET" in repr(check_rotation(server, "api.shop.lab", max_ttl=10))
