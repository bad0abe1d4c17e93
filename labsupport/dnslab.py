"""A local DNS server and dig-like queries, for the DNS load-balancing lesson.

How it works: ``DNSServer`` is a tiny authoritative server for a lab zone (``shop.lab.`` answers
with three A records). It runs asyncio (UDP and TCP on the same port) in its own thread, so a busy
notebook cell never stalls it. dnspython parses and renders the messages; the server only decides
*which* records, in *which order*:

    order    cyclic: rotate one step per query (BIND's ``rrset-order cyclic``); random; fixed
    GeoDNS   the client's region (from the EDNS client-subnet option, else the source address)
             puts that region's servers first; the ECS option is echoed with its scope (RFC 7871)
    limits   an answer bigger than 512 bytes (or the EDNS size) is cut: TC set, empty answer;
             the client retries over TCP, as dig does

A packet never kills the server: junk with a readable id gets FORMERR, shorter junk is dropped.
Rendered answers are cached per (query bytes, record order, scope), and only the id is patched,
which keeps the lab server fast (see benchmarks/dns.py) and exactly as correct.
"""
from __future__ import annotations

import asyncio
import errno
import http.client
import io
import ipaddress
import random
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from .errors import LabError, PortInUseError
from .table import Table

LAB_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
CONTINENTS = {"Asia": "127.0.1.0/24", "Europe": "127.0.2.0/24", "America": "127.0.3.0/24"}
ORDERS = ("cyclic", "random", "fixed")
_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.ANY)
_CACHE_LIMIT = 4096  # entries per cache; cleared when full, so junk traffic cannot grow memory
_RUNNING: set["DNSServer"] = set()


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

    >>> with DNSServer(ttl=30, order="cyclic") as lab_dns:
    ...     dig("shop.lab", lab_dns)        # 127.0.0.2, .3, .4 -- then .3, .4, .2 ...
    """

    def __init__(self, zone: dict[str, list[str]] | None = None, *, ttl: int = 30, order: str = "cyclic",
                 regions: dict[str, str | list[str]] | None = None, sites: dict[str, str] | None = None,
                 origin: str = "lab.", host: str = "127.0.0.1", port: int = 0, seed: int | None = None,
                 cache: bool = True):
        self.cache = cache  # False: parse and render every query (for the benchmark's comparison)
        self.host, self.requested_port, self.port = host, port, 0
        self.origin = dns.name.from_text(origin)
        self.default_ttl = ttl
        self._records: dict[dns.name.Name, tuple[list[str], int]] = {}
        for name, addresses in (zone if zone is not None else {"shop.lab.": list(LAB_ADDRESSES)}).items():
            self.set(name, addresses)
        self.order = order
        self.regions = dict(CONTINENTS if regions is None else regions)
        self.sites: dict[str, str] = dict(sites or {})  # server address -> region it stands in
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
        addresses = [addresses] if isinstance(addresses, str) else list(addresses)
        for a in addresses:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise LabError(f"DNS record for {name}: {a!r} is not an IP address (e.g. '127.0.0.2')") from None
        if not addresses:
            raise LabError(f"DNS record for {name}: give at least one address (use remove() to delete the name)")
        self._records[dns.name.from_text(name)] = (addresses, self.default_ttl if ttl is None else int(ttl))
        self._answers = {}

    def remove(self, name: str) -> None:
        self._records.pop(dns.name.from_text(name), None)
        self._answers = {}

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
        if self._order == "random":
            return self._rng.sample(addrs, len(addrs))
        k = 0
        if self._order == "cyclic":
            k = self._turn.get((name, region), 0)
            self._turn[(name, region)] = k + 1
        home = [a for a in addrs if region and self.sites.get(a) == region]
        rest = [a for a in addrs if a not in home]
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
        entry = self._records.get(plan.name)
        ordered, ttl, region, scope = [], self.default_ttl, None, None
        if plan.ecs is not None:
            scope = 0  # RFC 7871: scope 0 says "this answer is the same for every client"
        if entry is not None and plan.rdtype in _ADDRESS_TYPES:
            addrs, ttl = entry
            if any(a in self.sites for a in addrs):  # GeoDNS applies to this name
                if plan.ecs is None:
                    region = self.region_of(client[0])[0]
                elif plan.ecs.prefixlen > 0:  # a /0 subnet means "do not use my address"
                    region, used = self.region_of(plan.ecs)
                    scope = used or plan.ecs.prefixlen
            ordered = self._ordered(plan.name, addrs, region)
        elif entry is not None:
            ttl = entry[1]
        limit = 65535 if tcp else (512 if plan.query.edns < 0 else min(max(512, plan.query.payload), 4096))
        akey = (key, limit, tuple(ordered), ttl, scope)
        hit = self._answers.get(akey) if self.cache else None
        if hit is None:
            if len(self._answers) >= _CACHE_LIMIT:
                self._answers = {}
            reply, what = self._render(plan, ordered, ttl, scope, limit)
            hit = self._answers[akey] = (reply, what, dns.rcode.to_text(reply[3] & 0xF))
        self._log.append((time.time(), client, tcp, plan.name, plan.rdtype, hit[2], hit[1], region))
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

    def clear_log(self) -> None:
        self._log.clear()

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
                    mine = any(s.port == self.requested_port and s.host == self.host for s in _RUNNING)
                    raise PortInUseError(self.requested_port, self.host, "a DNSServer of this kernel" if mine else None,
                                         "Stop it (.stop()), or leave port=0 to get a free port.") from None
                continue
            tcp.listen(64)
            return udp, tcp
        raise LabError(f"no port on {self.host} was free for both UDP and TCP after 50 tries")

    def start(self) -> "DNSServer":
        """Listen (UDP and TCP) and answer in a background thread; returns self once ready."""
        if self.running:
            return self
        udp, tcp = self._bind()
        self.port = udp.getsockname()[1]
        ready = threading.Event()
        self._loop = loop = asyncio.new_event_loop()

        async def serve() -> None:
            transport, _ = await loop.create_datagram_endpoint(lambda: _UDP(self), sock=udp)
            server = await asyncio.start_server(self._tcp_client, sock=tcp)
            self._closers = [transport.close, server.close]
            ready.set()

        def run() -> None:
            loop.run_until_complete(serve())
            loop.run_forever()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name=f"dns-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(5)
        _RUNNING.add(self)
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
        _RUNNING.discard(self)
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
    for server in list(_RUNNING):
        server.stop()


# ====================================================================== the client side
LIVE_NAMES = ("google.com", "facebook.com", "outlook.com", "yahoo.com")


def _server_address(server: DNSServer | tuple[str, int] | str) -> tuple[str, int]:
    if isinstance(server, DNSServer):
        if not server.running:
            raise LabError("this DNS server is stopped: start it with .start() (or `with DNSServer() as ...`)")
        return server.address
    if isinstance(server, str):  # "127.0.0.1:5353" or dig's "127.0.0.1#5353"
        host, _, port = server.replace("#", ":").rpartition(":")
        return host, int(port)
    return server


@dataclass
class DigResult:
    """One query and its answer; ``repr`` prints like ``dig +short`` (or like dig's sections when ``full``)."""

    name: str
    rdtype: str
    server: tuple[str, int]
    response: dns.message.Message
    proto: str  # "UDP" or "TCP"
    retried_tcp: bool
    ms: float
    full: bool = False

    @property
    def status(self) -> str:
        return dns.rcode.to_text(self.response.rcode())

    @property
    def records(self) -> list[str]:
        return [rd.to_text() for rrset in self.response.answer for rd in rrset]

    @property
    def addresses(self) -> list[str]:
        return [rd.to_text() for rrset in self.response.answer for rd in rrset
                if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)]

    @property
    def ttl(self) -> int | None:
        return self.response.answer[0].ttl if self.response.answer else None

    @property
    def scope(self) -> str | None:
        """The client subnet the server echoed, with its scope ("127.0.1.0/24 scope /24"), if any."""
        for opt in self.response.options:
            if isinstance(opt, dns.edns.ECSOption):
                return f"{opt.address}/{opt.srclen} scope /{opt.scopelen}"
        return None

    def __repr__(self) -> str:
        if not self.full:
            return "\n".join(self.records)
        r = self.response
        flags = dns.flags.to_text(r.flags).lower()
        out = [f";; status: {self.status}, flags: {flags}; ANSWER: {len(self.records)}"]
        if self.retried_tcp:
            out.insert(0, ";; Truncated, retrying in TCP mode.")
        if self.scope:
            out.append(f"; CLIENT-SUBNET: {self.scope}")
        for title, section in (("ANSWER", r.answer), ("AUTHORITY", r.authority)):
            if section:
                out += ["", f";; {title} SECTION:"]
                out += [f"{s.name.to_text():<23} {s.ttl:<7} IN  {dns.rdatatype.to_text(s.rdtype):<5} {rd.to_text()}"
                        for s in section for rd in s]
        out += ["", f";; SERVER: {self.server[0]}#{self.server[1]}({self.proto}), {self.ms:.1f} ms"]
        return "\n".join(out)


def dig(name: str, server: DNSServer | tuple[str, int] | str, rdtype: str = "A", *, full: bool = False,
        source: str | None = None, ecs: str | None = None, tcp: bool = False, edns: bool = True,
        timeout: float = 2.0) -> DigResult:
    """Ask ``server`` for ``name``, like ``dig @SERVER -p PORT NAME`` (retrying over TCP when truncated).

    ``source`` sends from that address (a client in another "region", e.g. 127.0.1.10);
    ``ecs`` adds an EDNS client-subnet option, e.g. "127.0.2.0/24" (like dig's +subnet).
    """
    host, port = _server_address(server)
    options = [dns.edns.ECSOption.from_text(ecs)] if ecs else None
    q = dns.message.make_query(name, rdtype, use_edns=0 if (edns or ecs) else False, payload=1232, options=options)
    t0 = time.perf_counter()
    retried = False
    try:
        if not tcp:
            r = dns.query.udp(q, host, port=port, timeout=timeout, source=source)
            retried = bool(r.flags & dns.flags.TC)
        if tcp or retried:
            r = dns.query.tcp(q, host, port=port, timeout=timeout, source=source)
    except dns.exception.Timeout:
        raise LabError(f"no answer from the DNS server {host}:{port} within {timeout:g} s: is it running?") from None
    except ConnectionRefusedError:
        raise LabError(f"the DNS server {host}:{port} refused the connection: is it running?") from None
    ms = (time.perf_counter() - t0) * 1000
    return DigResult(name, rdtype, (host, port), r, "TCP" if (tcp or retried) else "UDP", retried, ms, full)


def dig_repeat(name: str, server: DNSServer | tuple[str, int] | str, times: int = 6, **kw) -> Table:
    """Ask the same question ``times`` times; one row per answer (the first address is the one used)."""
    rows = []
    for i in range(1, times + 1):
        got = dig(name, server, **kw)
        rows.append({"query": i, "answer": " ".join(got.records) or got.status,
                     "first": got.addresses[0] if got.addresses else "-"})
    return Table(rows, ["query", "answer", "first"], title=f"dig {name} +short, {times} times")


def real_dig(server: DNSServer | tuple[str, int] | str, name: str, *options: str) -> str:
    """Run the real ``dig @HOST -p PORT NAME OPTIONS`` and return what it printed."""
    from .environment import find_tool
    from .errors import ToolMissingError

    path = find_tool("dig")
    if not path:
        raise ToolMissingError("dig", "sudo apt-get install dnsutils (macOS: brew install bind)",
                               "the Python dig() of this lesson does the same job")
    host, port = _server_address(server)
    import subprocess

    out = subprocess.run([path, f"@{host}", "-p", str(port), name, *options, "+tries=1", "+time=2"],
                         capture_output=True, text=True, timeout=15)
    return out.stdout.strip()


def dig_live(names: tuple[str, ...] = LIVE_NAMES, rounds: int = 3, budget: float = 2.0,
             resolver=None) -> Table:
    """Ask the machine's own resolver (or ``resolver``) for real public names, ``rounds`` times each,
    all within ``budget`` seconds. Offline, the table says so in one row and nothing is raised.
    """
    import dns.resolver

    start = time.monotonic()
    rows: list[dict] = []

    def offline(why: str) -> Table:
        note = (f"offline: {why}. No internet here, and that is fine: the rest of this notebook "
                "uses the lab DNS server on this machine.")
        return Table([{"name": "-", "round": "-", "answer": note}], ["name", "round", "answer"])

    try:
        resolver = resolver or dns.resolver.Resolver()
    except Exception as e:  # no /etc/resolv.conf, or nothing usable in it
        return offline(f"no system resolver ({type(e).__name__})")
    for i in range(1, rounds + 1):
        for name in names:
            left = budget - (time.monotonic() - start)
            if left <= 0.05:
                rows.append({"name": name, "round": i, "answer": f"(stopped: the {budget:g} s budget is used up)"})
                return Table(rows, ["name", "round", "answer"], title="the system resolver, live")
            resolver.lifetime = resolver.timeout = left
            try:
                ans = resolver.resolve(name, "A", lifetime=left)
                rows.append({"name": name, "round": i, "answer": " ".join(r.to_text() for r in ans)})
            except Exception as e:
                if not rows or all(r["answer"].startswith("(") for r in rows):
                    return offline(f"the system resolver could not resolve {name} ({type(e).__name__})")
                rows.append({"name": name, "round": i, "answer": f"({type(e).__name__})"})
    return Table(rows, ["name", "round", "answer"], title="the system resolver, live")


class LabResolver:
    """Turns names into addresses through the lab DNS server, as a program's resolver does.

    ``cache=True`` keeps each answer for its TTL, like the resolvers of browsers and operating systems.
    """

    def __init__(self, server: DNSServer | tuple[str, int] | str, *, cache: bool = False,
                 source: str | None = None, clock=time.monotonic):
        self.server, self.cache, self.source, self.clock = server, cache, source, clock
        self._cache: dict[str, tuple[list[str], float]] = {}
        self.asked = self.from_cache = 0

    def resolve(self, name: str) -> list[str]:
        key = dns.name.from_text(name).to_text().lower()
        hit = self._cache.get(key)
        if self.cache and hit and hit[1] > self.clock():
            self.from_cache += 1
            return list(hit[0])
        got = dig(name, self.server, source=self.source)
        self.asked += 1
        if not got.addresses:
            raise LabError(f"{name} did not resolve (DNS status {got.status}): check the name and the zone")
        self._cache[key] = (got.addresses, self.clock() + (got.ttl or 0))
        return got.addresses

    def __repr__(self) -> str:
        how = "caching" if self.cache else "no cache"
        return f"<LabResolver ({how}): {self.asked} DNS queries, {self.from_cache} answers from cache>"


# ====================================================================== DNS load balancing, end to end
def loopback_aliases_work(addresses: tuple[str, ...] = LAB_ADDRESSES) -> bool:
    """Can servers listen on 127.0.0.2, .3, ...? (Linux: yes. macOS: only after `ifconfig lo0 alias`.)"""
    for a in addresses:
        try:
            with socket.socket() as s:
                s.bind((a, 0))
        except OSError:
            return False
    return True


def common_free_port(addresses: tuple[str, ...] = LAB_ADDRESSES, tries: int = 50) -> int:
    """A TCP port free on every one of ``addresses`` (servers behind one DNS name share a port)."""
    for _ in range(tries):
        with socket.socket() as s:
            s.bind((addresses[0], 0))
            port = s.getsockname()[1]
        try:
            for a in addresses:
                with socket.socket() as s:
                    s.bind((a, port))
            return port
        except OSError:
            continue
    raise LabError(f"found no port free on all of {', '.join(addresses)} in {tries} tries")


@dataclass
class LabSites:
    """Where each address the DNS hands out really listens (host, port)."""

    where: dict[str, tuple[str, int]]
    aliases: bool

    def __repr__(self) -> str:
        lines = [f"{a:<10} -> web server at {h}:{p}" for a, (h, p) in self.where.items()]
        if not self.aliases:
            lines.append("(this system cannot listen on 127.0.0.2+, so each address is played by a port on "
                         "127.0.0.1; on macOS `sudo ifconfig lo0 alias 127.0.0.2 up` etc. gives the real thing)")
        return "\n".join(lines)


def start_lab_servers(fleet, addresses: tuple[str, ...] = LAB_ADDRESSES, port: int = 8080) -> LabSites:
    """Start one web server per address, all on ``port`` (0: a free one), like machines behind one name.

    Where 127.0.0.2+ cannot be bound (macOS), falls back to ports port, port+1, ... on 127.0.0.1.
    """
    if loopback_aliases_work(addresses):
        port = port or common_free_port(addresses)
        for a in addresses:
            fleet.start([port], host=a)
        return LabSites({a: (a, port) for a in addresses}, True)
    ports = fleet.start([port + i if port else 0 for i in range(len(addresses))], host="127.0.0.1")
    return LabSites({a: ("127.0.0.1", p) for a, p in zip(addresses, ports)}, False)


@dataclass
class Visit:
    """One page load by a client that found its server through DNS."""

    addresses: list[str]                      # the DNS answer, in order
    server: str | None                        # the address that answered (None: nobody did)
    body: str
    tried: list[tuple[str, str, float]]       # (address, outcome, milliseconds) per attempt

    @property
    def lost_ms(self) -> float:
        """Time spent on attempts that failed before the one that worked."""
        return sum(ms for _, outcome, ms in self.tried if not outcome.startswith("HTTP"))


def visit(name: str, resolver: LabResolver, sites: LabSites | None = None, port: int = 8080, *,
          try_all: bool = True, timeout: float = 1.0) -> Visit:
    """Resolve ``name``, then GET / from the first address; ``try_all`` moves on to the next address
    when one fails, as browsers do. ``sites`` maps DNS addresses to where the servers listen."""
    addresses = resolver.resolve(name)
    tried: list[tuple[str, str, float]] = []
    for a in addresses if try_all else addresses[:1]:
        host, p = sites.where.get(a, (a, port)) if sites else (a, port)
        t0 = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(host, p, timeout=timeout)
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            conn.close()
            tried.append((a, f"HTTP {resp.status}", (time.perf_counter() - t0) * 1000))
            return Visit(addresses, a, body, tried)
        except OSError as e:
            why = ("refused" if isinstance(e, ConnectionRefusedError) else
                   "timed out" if isinstance(e, TimeoutError) else e.strerror or type(e).__name__)
            tried.append((a, why, (time.perf_counter() - t0) * 1000))
    return Visit(addresses, None, "", tried)


@dataclass
class Spread:
    """Many visits: which server answered how often, in what sequence."""

    visits: list[Visit]
    order: list[str]

    def counts(self) -> dict[str, int]:
        out = {a: 0 for a in self.order}
        for v in self.visits:
            out[v.server or "no answer"] = out.get(v.server or "no answer", 0) + 1
        return out

    def sequence(self, n: int = 12) -> str:
        return " ".join((v.server or "x").rsplit(".", 1)[-1] for v in self.visits[:n]) + (" ..." if len(self.visits) > n else "")

    def table(self) -> Table:
        total = len(self.visits) or 1
        return Table([{"server": a, "requests": c, "share": f"{100 * c / total:.0f}%"} for a, c in self.counts().items()],
                     ["server", "requests", "share"])

    def chart(self, title: str = "Which server answered"):
        """A bar chart of ``counts()`` as a PNG image (matplotlib's object API, no pyplot)."""
        from IPython.display import Image
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        counts = self.counts()
        fig = Figure(figsize=(6, 2.8), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        colours = ["#c0392b" if a == "no answer" else "#2e86c1" for a in counts]
        bars = ax.bar(list(counts), list(counts.values()), color=colours)
        ax.bar_label(bars)
        ax.set_ylabel("requests")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, max(counts.values(), default=1) * 1.2 + 1)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return Image(data=buf.getvalue())

    def __repr__(self) -> str:
        return f"{len(self.visits)} requests: " + ", ".join(f"{a} {c}" for a, c in self.counts().items())


def spread(name: str, resolver: LabResolver, sites: LabSites | None = None, requests: int = 30, **kw) -> Spread:
    """Make ``requests`` visits to ``name`` and record who answered each."""
    visits = [visit(name, resolver, sites, **kw) for _ in range(requests)]
    order = list(sites.where) if sites else sorted({v.server for v in visits if v.server})
    return Spread(visits, order)


# ====================================================================== exercise check
@dataclass
class Check:
    passed: bool
    message: str

    def __repr__(self) -> str:
        return ("PASS: " if self.passed else "NOT YET: ") + self.message


def check_rotation(server: DNSServer, name: str, addresses: tuple[str, ...] = LAB_ADDRESSES,
                   max_ttl: int | None = None) -> Check:
    """Does ``name`` answer with all of ``addresses``, each one first in turn, with a TTL <= ``max_ttl``?"""
    want = set(addresses)
    answers = [dig(name, server) for _ in range(2 * len(addresses))]
    first = answers[0]
    if first.status != "NOERROR" or not first.addresses:
        return Check(False, f"{name} does not resolve (status {first.status}). Add it with server.set(...).")
    got = set(first.addresses)
    if got != want:
        missing, extra = sorted(want - got), sorted(got - want)
        return Check(False, f"{name} answers {', '.join(first.addresses)}"
                     + (f"; missing {', '.join(missing)}" if missing else "")
                     + (f"; not a lab server: {', '.join(extra)}" if extra else ""))
    firsts = [a.addresses[0] for a in answers]
    if any(firsts.count(a) != 2 for a in want):
        return Check(False, f"the first address does not take turns: {' '.join(firsts)} "
                     f"(the answer order is {server.order!r}; which order rotates?)")
    if max_ttl is not None and (first.ttl or 0) > max_ttl:
        return Check(False, f"the TTL is {first.ttl} s; make it at most {max_ttl} s so clients come back sooner")
    return Check(True, f"{name} rotates over {len(want)} servers: first addresses {' '.join(firsts)}, TTL {first.ttl} s")
