"""The client side of the DNS lesson: dig-like queries, resolvers with and without a cache, and
clients that find their web server through DNS.

How it works: ``dig()`` asks a server with dnspython and prints like ``dig +short`` (or dig's
sections with ``full=True``), retrying over TCP when the answer was truncated, as dig does.
``LabResolver`` turns a name into addresses, optionally caching each answer for its TTL, as the
resolvers of browsers and operating systems do. ``visit()`` resolves, then loads ``/`` from the
first address (or each in turn, as browsers do); ``spread()`` counts who answered many visits.
"""
from __future__ import annotations

import errno
import http.client
import io
import socket
import subprocess
import time
from dataclasses import dataclass

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from ...course.display.table import Table
from ...course.dnsserver import LAB_ADDRESSES, DNSServer
from ...course.environment import find_tool
from ...errors import LabError, ToolMissingError

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
    except OSError as e:
        if source and e.errno == errno.EADDRNOTAVAIL:
            raise LabError(f"cannot send from {source}: it is not an address of this machine (macOS: "
                           f"`sudo ifconfig lo0 alias {source} up`), or use ecs=... to say where the client is") from None
        raise
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
    path = find_tool("dig")
    if not path:
        raise ToolMissingError("dig", "sudo apt-get install dnsutils (macOS: brew install bind)",
                               "the Python dig() of this lesson does the same job")
    host, port = _server_address(server)
    out = subprocess.run([path, f"@{host}", "-p", str(port), name, *options, "+tries=1", "+time=2"],
                         capture_output=True, text=True, timeout=15)
    return out.stdout.strip()


_WHY = {"LifetimeTimeout": "no answer in time", "Timeout": "no answer in time", "NXDOMAIN": "no such name",
        "NoNameservers": "no resolver could answer", "NoAnswer": "no address"}


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
            if left <= 0.3:
                rows.append({"name": name, "round": i, "answer": f"(stopped: the {budget:g} s budget is used up)"})
                return Table(rows, ["name", "round", "answer"], title="the system resolver, live")
            left -= 0.2  # dnspython may overrun its lifetime a little; stay inside the budget
            resolver.lifetime = resolver.timeout = left
            try:
                ans = resolver.resolve(name, "A", lifetime=left)
                rows.append({"name": name, "round": i, "answer": " ".join(r.to_text() for r in ans)})
            except Exception as e:
                why = _WHY.get(type(e).__name__, type(e).__name__)
                if not rows or all(r["answer"].startswith("(") for r in rows):
                    return offline(f"the system resolver could not resolve {name} ({why})")
                rows.append({"name": name, "round": i, "answer": f"({why})"})
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
        asked = f"{self.asked} DNS {'query' if self.asked == 1 else 'queries'}"
        cached = f"{self.from_cache} {'answer' if self.from_cache == 1 else 'answers'} from cache"
        return f"<LabResolver ({how}): {asked}, {cached}>"


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
        n = len(self.visits)
        return f"{n} request{'' if n == 1 else 's'}: " + ", ".join(f"{a} {c}" for a, c in self.counts().items())


def spread(name: str, resolver: LabResolver, sites: LabSites | None = None, requests: int = 30, **kw) -> Spread:
    """Make ``requests`` visits to ``name`` and record who answered each."""
    visits = [visit(name, resolver, sites, **kw) for _ in range(requests)]
    order = list(sites.where) if sites else sorted({v.server for v in visits if v.server})
    return Spread(visits, order)
