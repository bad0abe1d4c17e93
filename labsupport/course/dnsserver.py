"""A local DNS server for the lessons: DNS round robin (lesson 01, clients in lessons/dnslab/client.py)
and DNS service discovery (lesson 09, HAProxy's ``resolvers`` asking it).

How it works: ``DNSServer`` is a tiny authoritative server for a lab zone (``shop.lab.`` answers
with three A records). It runs asyncio (UDP and TCP on the same port) in its own thread, so a busy
notebook cell never stalls it. dnspython parses and renders the messages; the server only decides
*which* records, in *which order*:

    order    cyclic: rotate one step per query (BIND's ``rrset-order cyclic``); random; fixed
    GeoDNS   the client's region (from the EDNS client-subnet option, else the source address)
             puts that region's servers first; the ECS option is echoed with its scope (RFC 7871)
    limits   an answer bigger than 512 bytes (or the EDNS size) is cut: TC set, empty answer;
             the client retries over TCP, as dig does
    views    a region's own records for a name (nearest first), instead of the zone's (lesson 10)
    health   an address is answered only while a TCP connect to it succeeds; all of them when all
             fail (PowerDNS's ``ifportup``, HAProxy's inter/fall/rise: dnshealth.py); ``pick``
             "first" answers only the first healthy one. dnsprocess.py runs it as a process.

A packet never kills the server: junk with a readable id gets FORMERR, shorter junk is dropped.
Rendered answers are cached per (query bytes, record order, scope), and only the id is patched,
which keeps the lab server fast (see benchmarks/dns_queries.py) and exactly as correct.
"""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import random
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset

from .. import lifecycle
from ..errors import LabError
from ..ports import in_use
from .display.table import Table
from .dnshealth import HealthChecker

LAB_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
CONTINENTS = {"Asia": "127.0.1.0/24", "Europe": "127.0.2.0/24", "America": "127.0.3.0/24"}
ORDERS = ("cyclic", "random", "fixed")
PICKS = ("all", "first")
_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.ANY)
_CACHE_LIMIT = 4096  # entries per cache; cleared when full, so junk traffic cannot grow memory


def _short(text: str, width: int = 60) -> str:
    """One line of at most ``width`` characters, saying how many addresses were left out."""
    if len(text) <= width:
        return text
    cut = text[:width].rsplit(" ", 1)[0].rstrip(",")
    return f"{cut} ... (+{len(text.split()) - len(cut.split())} more)"


def _header_only(wire: bytes, rcode: int) -> bytes:
    """A bare reply (no sections) to a packet we will not parse further: its id, its opcode, ``rcode``."""
    opcode = (wire[2] >> 3) & 0xF if len(wire) > 2 else 0
    return struct.pack("!HHHHHH", struct.unpack("!H", wire[:2])[0], 0x8000 | opcode << 11 | rcode, 0, 0, 0, 0)


@dataclass
class _Plan:
    """What a query asks, parsed once per distinct query (the id aside)."""

    query: dns.message.Message
    name: dns.name.Name
    rdtype: int
    ecs: ipaddress.IPv4Network | ipaddress.IPv6Network | None


class DNSServer:
    """An authoritative DNS server for the lab zone, on 127.0.0.1 and a free port.

    >>> with DNSServer(ttl=30, order="cyclic") as lab_dns:   # dig() is in labsupport.lessons.dnslab.client
    ...     dig("shop.lab", lab_dns)        # 127.0.0.2, .3, .4 -- then .3, .4, .2 ...
    """

    def __init__(self, zone: dict[str, list[str]] | None = None, *, ttl: int = 30, order: str = "cyclic",
                 regions: dict[str, str | list[str]] | None = None, sites: dict[str, str] | None = None,
                 origin: str = "lab.", host: str = "127.0.0.1", port: int = 0, seed: int | None = None,
                 cache: bool = True, views: dict[str, dict[str, list[str]]] | None = None,
                 health: dict | HealthChecker | None = None, pick: str = "all",
                 on_log: Callable[[dict], object] | None = None):
        self.cache = cache  # False: parse and render every query (for the benchmark's comparison)
        self.host, self.requested_port, self.port = host, port, 0
        self.origin = dns.name.from_text(origin)
        self.default_ttl = ttl
        self._records: dict[dns.name.Name, tuple[list[str], int]] = {}
        self._version = 0
        for name, addresses in (zone if zone is not None else {"shop.lab.": list(LAB_ADDRESSES)}).items():
            self.set(name, addresses)
        self.order = order
        self.regions = dict(CONTINENTS if regions is None else regions)
        self.sites: dict[str, str] = dict(sites or {})  # server address -> region it stands in
        if pick not in PICKS:
            raise LabError(f"unknown pick {pick!r} (expected one of: {', '.join(PICKS)})")
        self.pick = pick
        self.views: dict[str, dict[dns.name.Name, list[str]]] = {r: {} for r in views or {}}
        for region, name, addresses in ((r, n, a) for r, recs in (views or {}).items() for n, a in recs.items()):
            where = f"view for region {region!r}"
            if region not in self.regions:
                raise LabError(f"{where}: no such region (regions: {', '.join(self.regions) or 'none'})")
            if dns.name.from_text(name) not in self._records:
                raise LabError(f"{where}: {name} is not in the zone; give the zone a record for it too (what "
                               "clients outside every region get)")
            self.views[region][dns.name.from_text(name)] = self._addresses(name, addresses)
        self.on_log = on_log  # called with each query's log entry as a dict (dnsprocess prints them)
        self.health = HealthChecker.of(health)
        if self.health is not None:
            self.health.watch(self._all_addresses())
        self._rng = random.Random(seed)
        self._turn: dict[tuple, int] = {}
        self._plans: dict[bytes, _Plan | bytes | None] = {}
        self._answers: dict[tuple, tuple[bytes, str, str]] = {}
        self._log: deque = deque(maxlen=5000)
        self.queries = self.dropped = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ zone
    def set(self, name: str, addresses: list[str] | str, ttl: int | None = None) -> None:
        """Give ``name`` these A (and AAAA) records, in this order; replaces what it had."""
        addresses = self._addresses(name, addresses)
        self._records[dns.name.from_text(name)] = (addresses, self.default_ttl if ttl is None else int(ttl))
        self._version += 1  # answers rendered before this change never match again
        if getattr(self, "health", None) is not None:
            self.health.watch(addresses)

    @staticmethod
    def _addresses(name: str, addresses: list[str] | str) -> list[str]:
        addresses = [addresses] if isinstance(addresses, str) else list(addresses)
        for a in addresses:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise LabError(f"DNS record for {name}: {a!r} is not an IP address (e.g. '127.0.0.2')") from None
        if not addresses:
            raise LabError(f"DNS record for {name}: give at least one address (use remove() to delete the name)")
        return addresses

    def _all_addresses(self) -> list[str]:
        lists = [addrs for addrs, _ in self._records.values()] + [a for v in self.views.values() for a in v.values()]
        return list(dict.fromkeys(a for addrs in lists for a in addrs))

    def set_ttl(self, ttl: int) -> None:
        """Give every name this TTL from now on (answers already cached by clients keep theirs)."""
        if not isinstance(ttl, int) or not 0 <= ttl <= 2**31 - 1:
            raise LabError(f"ttl {ttl!r}: give whole seconds from 0 up")
        self.default_ttl = ttl
        self._records = {n: (addrs, ttl) for n, (addrs, _) in self._records.items()}
        self._version += 1

    def remove(self, name: str) -> None:
        self._records.pop(dns.name.from_text(name), None)
        self._version += 1

    @property
    def order(self) -> str:
        return self._order

    @order.setter
    def order(self, value: str) -> None:
        if value not in ORDERS:
            raise LabError(f"unknown answer order {value!r} (expected one of: {', '.join(ORDERS)})")
        self._order = value

    def zone(self) -> Table:
        """The zone as a table: name, TTL, addresses (with the region of each, for GeoDNS)."""
        rows = [{"name": n.to_text(), "ttl": ttl, "type": "A",
                 "addresses": _short(" ".join(a + (f" ({self.sites[a]})" if a in self.sites else "") for a in addrs))}
                for n, (addrs, ttl) in self._records.items()]
        return Table(rows, ["name", "ttl", "type", "addresses"], title=f"zone {self.origin}")

    def region_of(self, address: str | ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[str | None, int]:
        """The region of a client address (or client subnet), and the prefix length that decided it.

        Outside every region: (None, longest prefix of a region overlapping it, or 0).
        """
        net = ipaddress.ip_network(address, strict=False)
        overlap = 0
        for region, nets in self.regions.items():
            for n in [nets] if isinstance(nets, str) else nets:
                n = ipaddress.ip_network(n)
                if net.version != n.version:
                    continue
                if net.subnet_of(n):
                    return region, n.prefixlen
                if n.subnet_of(net):
                    overlap = max(overlap, n.prefixlen)
        return None, overlap

    # ------------------------------------------------------------------ answering
    def _plan(self, wire: bytes) -> _Plan | bytes | None:
        try:
            q = dns.message.from_wire(wire)
        except Exception:  # anything dnspython cannot read is a format error
            return _header_only(wire, dns.rcode.FORMERR)
        if q.opcode() != dns.opcode.QUERY:
            return _header_only(wire, dns.rcode.NOTIMP)
        if len(q.question) != 1 or q.answer or q.authority:
            return _header_only(wire, dns.rcode.FORMERR)
        if q.edns > 0:  # only EDNS version 0 exists
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.BADVERS)
            return r.to_wire()
        ecs = None
        for opt in q.options:
            if isinstance(opt, dns.edns.ECSOption):
                try:  # RFC 7871 6: bits beyond the source prefix must be zero
                    ecs = ipaddress.ip_network(f"{opt.address}/{opt.srclen}")
                except ValueError:
                    return _header_only(wire, dns.rcode.FORMERR)
                if opt.scopelen != 0:
                    return _header_only(wire, dns.rcode.FORMERR)
        return _Plan(q, q.question[0].name, q.question[0].rdtype, ecs)

    def _ordered(self, name: dns.name.Name, addrs: list[str], region: str | None) -> list[str]:
        """The answer's order: the client region's servers first (GeoDNS), each group in ``order``."""
        home = [a for a in addrs if region and self.sites.get(a) == region]
        rest = [a for a in addrs if a not in home]
        if self._order == "random":
            return self._rng.sample(home, len(home)) + self._rng.sample(rest, len(rest))
        k = 0
        if self._order == "cyclic":
            k = self._turn.get((name, region), 0)
            self._turn[(name, region)] = k + 1
        return [g[(i + k) % len(g)] for g in (home, rest) if g for i in range(len(g))]

    def _render(self, plan: _Plan, ordered: list[str], ttl: int, scope: int | None, limit: int) -> tuple[bytes, str]:
        q = plan.query
        r = dns.message.make_response(q, our_payload=1232)
        r.flags |= dns.flags.AA
        if scope is not None:  # echo the client subnet with our scope (RFC 7871 7.2)
            opt = dns.edns.ECSOption(str(plan.ecs.network_address), plan.ecs.prefixlen, scope)  # type: ignore[union-attr]
            r.use_edns(0, 0, 1232, options=[opt])
        what = "-"
        if plan.rdtype in _ADDRESS_TYPES:
            v = 6 if plan.rdtype == dns.rdatatype.AAAA else 4
            chosen = [a for a in ordered if ipaddress.ip_address(a).version == v]
            if chosen:
                rtype = "AAAA" if v == 6 else "A"
                r.answer.append(dns.rrset.from_text_list(plan.name, ttl, "IN", rtype, chosen))
                what = " ".join(chosen)
        if plan.name not in self._records:
            known = any(n.is_subdomain(plan.name) for n in self._records)  # an empty non-terminal
            if not plan.name.is_subdomain(self.origin):
                r.set_rcode(dns.rcode.REFUSED)  # not our zone: we are no resolver
                r.flags &= ~dns.flags.AA
            elif not known:
                r.set_rcode(dns.rcode.NXDOMAIN)
        if not r.answer and r.rcode() != dns.rcode.REFUSED:  # negative answers carry the SOA (RFC 2308)
            r.authority.append(dns.rrset.from_text(
                self.origin, self.default_ttl, "IN", "SOA",
                f"ns.{self.origin} hostmaster.{self.origin} 1 3600 600 86400 {self.default_ttl}"))
        try:
            return r.to_wire(max_size=limit, want_shuffle=False), what  # our order, not a shuffle
        except dns.exception.TooBig:  # too big for this transport: say so, the client retries over TCP
            r.answer.clear()
            r.authority.clear()
            r.flags |= dns.flags.TC
            return r.to_wire(), "(truncated: retry over TCP)"

    def handle(self, wire: bytes, client: tuple[str, int], tcp: bool = False) -> bytes | None:
        """The reply to one query packet (None: drop it). Safe for any bytes."""
        self.queries += 1
        if len(wire) < 2 or (len(wire) > 2 and wire[2] & 0x80):  # no id, or a response: never answer
            self.dropped += 1
            return None
        key = wire[2:]
        plan = self._plans.get(key) if self.cache else None
        if plan is None:
            if len(self._plans) >= _CACHE_LIMIT:
                self._plans = {}
            plan = self._plans[key] = self._plan(wire)
        if not isinstance(plan, _Plan):
            reply = wire[:2] + plan[2:]
            self._log.append((time.time(), client, tcp, "?", "?", dns.rcode.to_text(reply[3] & 0xF), "malformed"))
            return reply
        version = self._version  # read first: a zone change during this query makes it a cache miss later
        entry = self._records.get(plan.name)
        ordered, ttl, region, scope = [], self.default_ttl, None, None
        if plan.ecs is not None:
            scope = 0  # RFC 7871: scope 0 says "this answer is the same for every client"
        if entry is not None and plan.rdtype in _ADDRESS_TYPES:
            addrs, ttl = entry
            viewed = any(plan.name in view for view in self.views.values())
            if viewed or any(a in self.sites for a in addrs):  # GeoDNS applies to this name
                if plan.ecs is None:
                    region = self.region_of(client[0])[0]
                elif plan.ecs.prefixlen > 0:  # a /0 subnet means "do not use my address"
                    region, used = self.region_of(plan.ecs)
                    scope = used or plan.ecs.prefixlen
            if viewed and plan.name in self.views.get(region, {}):
                ordered = list(self.views[region][plan.name])  # the region's own list, nearest first
            else:
                ordered = self._ordered(plan.name, addrs, region)
            if self.health is not None:
                healthy = [a for a in ordered if self.health.up(a)]
                ordered = healthy or ordered  # all down: answer all, as if unchecked (see dnshealth.py)
            if self.pick == "first":
                ordered = ordered[:1]
        elif entry is not None:
            ttl = entry[1]
        limit = 65535 if tcp else (512 if plan.query.edns < 0 else min(max(512, plan.query.payload), 4096))
        akey = (key, version, limit, tuple(ordered), ttl, scope)
        hit = self._answers.get(akey) if self.cache else None
        if hit is None:
            if len(self._answers) >= _CACHE_LIMIT:
                self._answers = {}
            reply, what = self._render(plan, ordered, ttl, scope, limit)
            hit = self._answers[akey] = (reply, what, dns.rcode.to_text(reply[3] & 0xF))
        now = time.time()
        self._log.append((now, client, tcp, plan.name, plan.rdtype, hit[2], hit[1], region))
        if self.on_log is not None:
            self.on_log({"time": now, "event": "query", "client": client[0], "proto": "tcp" if tcp else "udp",
                         "name": plan.name.to_text(), "type": dns.rdatatype.to_text(plan.rdtype),
                         "status": hit[2], "answer": hit[1], "region": region, "ttl": ttl})
        return wire[:2] + hit[0][2:]

    # ------------------------------------------------------------------ log
    def log(self, last: int | None = 20) -> Table:
        """The latest queries: time, client, protocol, name, type, status, answer (and region)."""
        rows = []
        for t, client, tcp, name, rdtype, rcode, what, *geo in list(self._log)[-last if last else None:]:
            rows.append({
                "time": time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}",
                "client": client[0], "proto": "tcp" if tcp else "udp",
                "name": name if isinstance(name, str) else name.to_text(),
                "type": rdtype if isinstance(rdtype, str) else dns.rdatatype.to_text(rdtype),
                "status": rcode, "answer": _short(what), "region": (geo[0] if geo else None) or "-"})
        return Table(rows, ["time", "client", "proto", "name", "type", "status", "answer", "region"],
                     title="DNS query log")

    def health_log(self) -> Table:
        """When each checked address went DOWN or came back UP (empty without ``health``)."""
        return self.health.changes() if self.health else Table([], ["time", "address"], title="no health checks")

    def reset_rotation(self) -> None:
        """Start every rotation again from the first address, as a freshly loaded zone does."""
        self._turn.clear()

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        for _ in range(50):  # a port free for UDP may be taken for TCP: try another
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                udp.bind((self.host, self.requested_port))
                tcp.bind((self.host, udp.getsockname()[1]))
            except OSError as e:
                udp.close()
                tcp.close()
                if e.errno != errno.EADDRINUSE:
                    raise
                if self.requested_port:
                    raise in_use(self.requested_port, self.host, instead="leave port=0 to get a free port") from None
                continue
            tcp.listen(64)
            return udp, tcp
        raise LabError(f"no port on {self.host} was free for both UDP and TCP after 50 tries")

    def start(self) -> "DNSServer":
        """Listen (UDP and TCP) and answer in a background thread; returns self once ready."""
        if self.running:
            return self
        lifecycle.rerun_replaces()  # this cell ran before: its earlier DNS server stops (one line says so)
        udp, tcp = self._bind()
        self.port = udp.getsockname()[1]
        ready = threading.Event()
        self._loop = loop = asyncio.new_event_loop()

        async def serve() -> None:
            transport, _ = await loop.create_datagram_endpoint(lambda: _UDP(self), sock=udp)
            server = await asyncio.start_server(self._tcp_client, sock=tcp)
            self._closers = [transport.close, server.close]
            ready.set()

        failed: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)  # this thread's loop, for the clean-up below
            try:
                loop.run_until_complete(serve())
            except BaseException as e:  # reported by start(), in the caller's thread
                failed.append(e)
                ready.set()
                udp.close()
                tcp.close()
                loop.close()
                return
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)  # open TCP connections: end them, then let them close
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name=f"dns-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(5)
        if failed or not ready.is_set():
            self._thread = None
            raise LabError(f"the DNS server on {self.host}:{self.port} could not start: "
                           f"{failed[0] if failed else 'no answer from its thread within 5 s'}")
        if self.health is not None:
            self.health.start()
        lifecycle.register("dns", self, label=f"the DNS server on {self.host}:{self.port}")
        return self

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        try:
            while True:  # several length-prefixed queries may share one connection (RFC 7766)
                size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 10))[0]
                data = await asyncio.wait_for(reader.readexactly(size), 10)
                reply = self.handle(data, peer, tcp=True)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            pass
        except Exception:  # never let one connection take the server down
            self.dropped += 1
        finally:
            writer.close()

    def stop(self) -> None:
        """Stop answering and release the port (safe to call twice)."""
        lifecycle.unregister(self)
        if self.health is not None:
            self.health.stop()
        if self._loop is not None and self.running:
            def shutdown() -> None:
                for close in self._closers:
                    close()
                self._loop.stop()  # type: ignore[union-attr]
            self._loop.call_soon_threadsafe(shutdown)
            self._thread.join(5)  # type: ignore[union-attr]
        self._thread = None

    def __enter__(self) -> "DNSServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self.running else "stopped"
        n = len(self._records)
        return f"<DNSServer {where}, {n} name{'' if n == 1 else 's'}, order {self._order}>"


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer):
        self.server = server

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            reply = self.server.handle(data, addr)
        except Exception:  # a bug must cost one answer, never the server
            self.server.dropped += 1
            return
        if reply is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. ICMP "port unreachable" from a client that went away


def stop_all_dns() -> None:
    """Stop every DNSServer this Python process started (for re-running a notebook)."""
    lifecycle.stop_all(("dns",))
