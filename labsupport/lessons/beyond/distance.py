"""Distance between hosts: a server made "far", what a round trip then costs, and what leastconn does with it.

    link = far(lab, "10.0.0.13", 80, delay_ms=40)    # host far-web3: its address reaches web3, 40 ms each way
    link.mechanism, link.how                          # 'relay', 'tc netem is not available here (...); a relay ...'
    round_trips(lab["client"], link)                  # direct vs through the link: median, p90; delay set vs measured
    page_cost(lab["client"], {"near": site.url("web1"), "far": link})   # ten requests in a row, near and far
    near_and_far(site, delay_ms=40)                   # HAProxy over 2 near + 2 far servers: roundrobin vs leastconn

How a server is made far. On a real network, distance is a delay on every packet. Linux adds one with
``tc qdisc add dev eth0 root netem delay 40ms``; ``far`` tries exactly that in the new host first, and many
kernels refuse it (``Error: Specified qdisc kind is unknown.``: no sch_netem, as on the course's CI machine).
Then a relay does it (course/delayrelay.py): the new host runs it on its own address, and every byte
crossing it in either direction is delivered ``delay_ms`` later. ``link.mechanism`` says which is in use and
``link.how`` why, with the error tc gave.

What a request costs. Every request of ``Probe`` is a new connection. Through the relay it costs three
delays more than directly: the relay connects onwards only ``delay_ms`` after it accepted (the connection's
first packet travels too), the request travels once, the answer once: ``3 × delay_ms``. With netem on the
relay host (and a relay adding nothing) the handshake to the far side is a full round trip, as on a real
network: ``4 × delay_ms``. ``round_trips`` measures the difference to the same server reached directly and
says what one-way delay that makes, next to the delay set.

Near and far behind one balancer. ``near_and_far`` runs real HAProxy (the course's engine when HAProxy is
missing; ``kind`` says which ran) in a host of its own over two near servers and two far ones, and sends a
bounded closed-loop load from the client host: ``concurrency`` probes at once, each one request after the
other. ``roundrobin`` gives every server the same share, so half the requests pay the distance;
``leastconn`` sends each request to the server with the fewest open connections, and a far server keeps
its connections longer, so it gets fewer. The table shows each server's share and mean time per algorithm.
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import mean, median

from ...course.display.table import Table
from ...course.hosts import Host, HostProcess, Lab, end_process, require_lab
from ...course.traffic.results import percentile
from ...errors import LabError, UsageError
from .balancerhost import HostBalancer
from .labsite import Site, url_of
from .probe import Probe, Shot

RELAY = Path(__file__).resolve().parents[2] / "course" / "delayrelay.py"
MECHANISMS = ("auto", "relay", "netem")
ALGORITHMS = ("roundrobin", "static-rr", "leastconn", "first", "random", "source")
FAR_FIRST = 31  # relay hosts take 10.0.0.31 up unless told otherwise
MAX_DELAY_MS = 1000
_links: dict[tuple[int, str], FarLink] = {}
_lock = threading.Lock()


class FarLink:
    """Host ``host`` whose address leads to ``target``:``port`` ``delay_ms`` later in each direction."""

    def __init__(self, lab: Lab, host: Host, target: str, port: int, delay_ms: float, mechanism: str,
                 netem_error: str, process: HostProcess):
        self.lab, self.host, self.target, self.port, self.delay_ms = lab, host, target, port, delay_ms
        self.mechanism, self.netem_error, self.process = mechanism, netem_error, process

    @property
    def address(self) -> str:
        """The far address: connect here to reach the target from afar."""
        return self.host.address

    @property
    def url(self) -> str:
        return url_of(self.address, self.port)

    @property
    def target_url(self) -> str:
        """The same server reached directly (near)."""
        return url_of(self.target, self.port)

    @property
    def how(self) -> str:
        """Which mechanism makes the distance, and why that one."""
        if self.mechanism == "netem":
            return (f"tc netem on host {self.host.name}'s eth0 delays every packet it sends by {self.delay_ms:g} ms; "
                    "a relay without delay carries the connection to the target")
        why = f"tc netem is not available here ({self.netem_error})" if self.netem_error else "relay chosen"
        return f"{why}; a relay in host {self.host.name} (delayrelay.py) delivers every byte {self.delay_ms:g} ms late"

    @property
    def expected_extra_ms(self) -> float:
        """What a request on a new connection should cost more than directly: 3 delays (relay) or 4 (netem)."""
        return (4 if self.mechanism == "netem" else 3) * self.delay_ms

    @property
    def running(self) -> bool:
        return self.lab.running and self.process.poll() is None

    def stop(self) -> None:
        """End the relay (the host stays on the switch; its address then refuses connections)."""
        with _lock:
            if _links.get((id(self.lab), self.host.name)) is self:
                del _links[(id(self.lab), self.host.name)]
        end_process(self.process)

    def __repr__(self) -> str:
        state = "" if self.running else ", stopped"
        return (f"<FarLink {self.host.name} {self.address}:{self.port} -> {self.target}:{self.port}, "
                f"{self.delay_ms:g} ms each way by {self.mechanism}{state}>")


def _netem(host: Host, delay_ms: float) -> str:
    """Try netem on ``host``'s eth0: '' when the delay is now in place, else what tc said."""
    done = host.run(["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", f"{delay_ms:g}ms"], timeout=30)
    if done.returncode == 0:
        return ""
    return (done.stderr.strip() or done.stdout.strip() or f"tc exit {done.returncode}").splitlines()[-1]


def _check_address(lab: Lab, address: str, what: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise UsageError(f"{what}={address!r} is not an IPv4 address (e.g. 10.0.0.13)") from None
    if ip not in lab.subnet:
        raise UsageError(f"{what}={address} is not on the lab's network {lab.subnet}")
    return str(ip)


def _free_address(lab: Lab, first: int = FAR_FIRST) -> str:
    taken = {h.address for h in lab.hosts.values()}
    for candidate in list(lab.subnet.hosts())[first - 1:]:
        if str(candidate) not in taken:
            return str(candidate)
    raise UsageError(f"no free address left in {lab.subnet} from .{first} up")


def far(lab: Lab, target_address: str, port: int = 80, delay_ms: float = 40, name: str | None = None, *,
        address: str | None = None, mechanism: str = "auto") -> FarLink:
    """A new host (``name``, default ``far-`` and the target's host name) whose address leads to
    ``target_address``:``port`` with ``delay_ms`` each way. ``mechanism``: 'auto' (netem where the kernel has
    it, else the relay), 'relay', or 'netem' (LabError where it is missing). Called again with the same name
    (a cell run again), it restarts that link with the new settings in the same host."""
    require_lab(lab, "far(lab, '10.0.0.13', 80, 40)")
    target = _check_address(lab, target_address, "target_address")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise UsageError(f"port={port!r}: a TCP port is 1-65535")
    if not isinstance(delay_ms, (int, float)) or not 0 <= delay_ms <= MAX_DELAY_MS:
        raise UsageError(f"delay_ms={delay_ms!r}: give a one-way delay from 0 to {MAX_DELAY_MS} ms")
    if mechanism not in MECHANISMS:
        raise UsageError(f"mechanism={mechanism!r}: expected one of {', '.join(MECHANISMS)}")
    if name is None:
        owner = next((h.name for h in lab.hosts.values() if h.address == target), "")
        name = f"far-{owner}" if owner and len(owner) <= 9 else f"far-{target.rsplit('.', 1)[1]}"
    with _lock:
        earlier = _links.get((id(lab), name))
    if earlier is not None:
        if address is not None and _check_address(lab, address, "address") != earlier.address:
            raise UsageError(f"host {name} is already the far link at {earlier.address}; leave out address= "
                             "or give another name")
        earlier.stop()  # the same host serves again, with the new settings
        host = earlier.host
    elif name in lab.hosts:
        raise UsageError(f"there is already a host {name} ({lab.hosts[name].address}) that is no far link; "
                         "give far() another name")
    else:
        host = lab.host(name, _check_address(lab, address, "address") if address else _free_address(lab))
    netem_error = ""
    if mechanism != "relay":
        host.run(["tc", "qdisc", "del", "dev", "eth0", "root"], timeout=30)  # an earlier run's, if any
        netem_error = _netem(host, delay_ms) if delay_ms > 0 else "no delay asked"
        if netem_error and mechanism == "netem":
            raise LabError(f"tc netem does not work in host {name}: {netem_error} (the kernel lacks sch_netem); "
                           "use mechanism='relay'")
    used = "netem" if mechanism != "relay" and not netem_error else "relay"
    relay_ms = 0 if used == "netem" else delay_ms
    process = host.popen([sys.executable, str(RELAY), f"{host.address}:{port}", f"{target}:{port}",
                          "--delay-ms", f"{relay_ms:g}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    if not first.startswith("relaying"):
        process.wait(10)
        raise LabError(f"the relay in host {name} did not start: {(first + process.stderr.read()).strip()}")
    link = FarLink(lab, host, target, port, delay_ms, used, netem_error if mechanism != "relay" else "", process)
    with _lock:
        for key in [k for k, v in _links.items() if not v.lab.running]:
            del _links[key]
        _links[(id(lab), name)] = link
    return link


# ------------------------------------------------------------------ measuring
def _ms(shots: Sequence[Shot]) -> list[float]:
    return [s.ms for s in shots if s.ok]


def _run(probes: Sequence[Probe], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    try:
        for probe in probes:
            probe.wait(max(0.1, deadline - time.monotonic()))
    finally:
        for probe in probes:
            if probe.running:
                probe.stop()


def _check_client(client: Host) -> None:
    if not isinstance(client, Host):
        raise UsageError(f"the client must be a host of the lab (lab['client']), not {type(client).__name__}")


def _check_count(count: int, what: str, most: int) -> None:
    if not isinstance(count, int) or not 1 <= count <= most:
        raise UsageError(f"{what}={count!r}: give 1 to {most}")


class RoundTrips:
    """Request times from one client to one server, directly (near) and through a ``FarLink`` (far)."""

    def __init__(self, link: FarLink, near: list[Shot], far_: list[Shot]):
        self.link, self.near_shots, self.far_shots = link, near, far_
        self.near, self.far = _ms(near), _ms(far_)

    @property
    def failed(self) -> int:
        return sum(not s.ok for s in self.near_shots + self.far_shots)

    @property
    def set_ms(self) -> float:
        """The one-way delay set on the link."""
        return self.link.delay_ms

    @property
    def measured_extra_ms(self) -> float | None:
        """Median far minus median near: what the distance adds to a request."""
        if not self.near or not self.far:
            return None
        return round(median(self.far) - median(self.near), 1)

    @property
    def measured_ms(self) -> float | None:
        """The one-way delay the measurement shows: the extra time over the delays a request crosses."""
        extra = self.measured_extra_ms
        factor = self.link.expected_extra_ms / self.link.delay_ms if self.link.delay_ms else None
        return None if extra is None or not factor else round(extra / factor, 1)

    def table(self) -> Table:
        rows = []
        for label, url, shots, values in (("near", self.link.target_url, self.near_shots, self.near),
                                          (f"far ({self.link.delay_ms:g} ms each way)", self.link.url,
                                           self.far_shots, self.far)):
            rows.append({"path": label, "url": url, "requests": len(shots), "failed": len(shots) - len(values),
                         "min ms": round(min(values), 1) if values else "-",
                         "median ms": round(median(values), 1) if values else "-",
                         "p90 ms": round(percentile(values, 90), 1) if values else "-"})
        return Table(rows, title=self.summary())

    def summary(self) -> str:
        factor = round(self.link.expected_extra_ms / self.link.delay_ms) if self.link.delay_ms else 0
        expected = f"{factor} × {self.set_ms:g} = {self.link.expected_extra_ms:g} ms more per request"
        if self.measured_ms is None:
            return f"delay set {self.set_ms:g} ms each way ({self.link.mechanism}): expected {expected}"
        return (f"delay set {self.set_ms:g} ms each way, by {self.link.mechanism}: expected {expected}; measured "
                f"{self.measured_extra_ms:g} ms more (medians), so {self.measured_ms:g} ms each way")

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __repr__(self) -> str:
        return repr(self.table())


def round_trips(client: Host, link: FarLink, count: int = 20) -> RoundTrips:
    """``count`` requests from ``client`` to the link's server directly and ``count`` through the link (both
    streams at once, each one request after the other, each a new connection)."""
    _check_client(client)
    if not isinstance(link, FarLink):
        raise UsageError(f"round_trips() measures a FarLink (link = far(lab, ...)), not {type(link).__name__}")
    _check_count(count, "count", 200)
    budget = 10 + count * (link.expected_extra_ms + 50) / 1000
    probes = [Probe(client, url, count=count, interval=0, timeout=5, max_seconds=budget)
              for url in (link.target_url, link.url)]
    _run(probes, budget + 10)
    return RoundTrips(link, probes[0].results, probes[1].results)


def page_cost(client: Host, urls: Mapping[str, str | FarLink] | Sequence[str | FarLink], requests: int = 10) -> Table:
    """What a page that makes ``requests`` requests one after the other costs from ``client``, for each URL
    (a mapping label -> URL or FarLink, or a list). The URLs are measured at once, each its own stream."""
    _check_client(client)
    _check_count(requests, "requests", 100)
    items = list(urls.items()) if isinstance(urls, Mapping) else [(None, u) for u in urls]
    if not items or len(items) > 6:
        raise UsageError(f"page_cost() compares 1 to 6 URLs; got {len(items)}")
    targets = []
    for label, target in items:
        if isinstance(target, FarLink):
            targets.append((label or f"far ({target.delay_ms:g} ms)", target.url, target.expected_extra_ms))
        elif isinstance(target, str) and target.startswith("http://"):
            targets.append((label or target, target, 0.0))
        else:
            raise UsageError(f"{target!r}: give a URL (http://10.0.0.11/) or a FarLink")
    budget = 10 + requests * (max(t[2] for t in targets) + 50) / 1000
    probes = [Probe(client, url, count=requests, interval=0, timeout=5, max_seconds=budget) for _, url, _ in targets]
    _run(probes, budget + 10)
    rows = []
    for (label, url, _), probe in zip(targets, probes):
        shots, values = probe.results, _ms(probe.results)
        page = round((shots[-1].t * 1000 + shots[-1].ms), 1) if shots else None
        rows.append({"where": label, "url": url, "requests": len(shots), "failed": probe.failed,
                     "median ms per request": round(median(values), 1) if values else "-",
                     "page ms": page if page is not None else "-"})
    first = rows[0]["page ms"]
    for row in rows:
        row["× the first"] = (round(row["page ms"] / first, 1) if isinstance(first, float) and first > 0
                              and isinstance(row["page ms"], float) else "-")
    return Table(rows, title=f"a page of {requests} requests, one after the other, each on a new connection")


# ------------------------------------------------------------------ near and far behind one balancer
CONFIG = """\
# near and far: {algorithm} over two near servers and two far ones (labsupport.lessons.beyond.distance)
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend www
    bind {address}:80
    default_backend web

backend web
    balance {algorithm}
{servers}
"""


def balancer_config(address: str, servers: Mapping[str, str], algorithm: str) -> str:
    """The haproxy.cfg ``near_and_far`` runs: ``servers`` maps server name -> ADDRESS:PORT."""
    lines = "\n".join(f"    server {name} {where}" for name, where in servers.items())
    return CONFIG.format(address=address, algorithm=algorithm, servers=lines)


class NearFar:
    """What ``near_and_far`` measured: per algorithm, every request (which server answered, how long)."""

    def __init__(self, kind: str, version: str, near: list[str], links: dict[str, FarLink],
                 shots: dict[str, list[tuple[str, Shot]]], seconds: dict[str, float]):
        self.kind, self.version, self.near, self.links = kind, version, near, links
        self.shots, self.seconds = shots, seconds

    @property
    def algorithms(self) -> list[str]:
        return list(self.shots)

    @property
    def servers(self) -> list[str]:
        return self.near + list(self.links)

    def counts(self, algorithm: str) -> dict[str, int]:
        """Requests answered by each server under ``algorithm``."""
        counts = {name: 0 for name in self.servers}
        for name, shot in self.shots[algorithm]:
            if shot.ok and name in counts:
                counts[name] += 1
        return counts

    def far_share(self, algorithm: str) -> float:
        """The fraction of answered requests the far servers answered."""
        counts = self.counts(algorithm)
        total = sum(counts.values())
        return sum(counts[n] for n in self.links) / total if total else 0.0

    def mean_ms(self, algorithm: str, server: str | None = None) -> float | None:
        values = [s.ms for name, s in self.shots[algorithm] if s.ok and (server is None or name == server)]
        return round(mean(values), 1) if values else None

    def failed(self, algorithm: str) -> int:
        return sum(not s.ok for _, s in self.shots[algorithm])

    def table(self) -> Table:
        rows = []
        for algorithm in self.algorithms:
            counts = self.counts(algorithm)
            total = sum(counts.values())
            for name in self.servers:
                where = "near" if name in self.near else f"far, {self.links[name].delay_ms:g} ms each way"
                rows.append({"balance": algorithm, "server": name, "where": where, "requests": counts[name],
                             "share %": round(100 * counts[name] / total) if total else 0,
                             "mean ms": self.mean_ms(algorithm, name) or "-"})
            rows.append({"balance": algorithm, "server": "all", "where": f"{self.seconds[algorithm]:.1f} s",
                         "requests": total, "share %": 100, "mean ms": self.mean_ms(algorithm) or "-"})
        failed = sum(self.failed(a) for a in self.algorithms)
        return Table(rows, title=f"{'real HAProxy ' + self.version if self.kind == 'haproxy' else 'the course engine'}"
                                 f" over {len(self.near)} near and {len(self.links)} far servers"
                                 + (f"; {failed} requests failed" if failed else ""))

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __repr__(self) -> str:
        return repr(self.table())


def near_and_far(site: Site, delay_ms: float = 40, *, requests: int = 40, concurrency: int = 4,
                 algorithms: Sequence[str] = ("roundrobin", "leastconn"), engine: bool | None = None,
                 balancer: str = "lb", balancer_address: str | None = None) -> NearFar:
    """A balancer in host ``balancer`` over the site's first two servers (near) and the next two (made far by
    ``delay_ms``); for each algorithm, ``requests`` requests from the client host, ``concurrency`` at a time.
    ``engine``: None real HAProxy when installed, else the course's engine; True the engine; False HAProxy.
    The requests ask for ``/info``, whose answer names the server that gave it."""
    if not isinstance(site, Site):
        raise UsageError(f"near_and_far() needs the Site build_site(lab) returned, not {type(site).__name__}")
    if len(site.servers) < 4:
        raise UsageError(f"near_and_far() needs 4 servers (2 near, 2 far); this site has {len(site.servers)}: "
                         "build_site(lab, servers=4)")
    if isinstance(algorithms, str) or not algorithms or any(a not in ALGORITHMS for a in algorithms):
        raise UsageError(f"algorithms={algorithms!r}: a list of balance algorithms among {', '.join(ALGORITHMS)}")
    _check_count(concurrency, "concurrency", 16)
    _check_count(requests, "requests", 400)
    if requests < concurrency:
        raise UsageError(f"requests={requests} is fewer than concurrency={concurrency}")
    names = list(site.servers)
    near, distant = names[:2], names[2:4]
    links = {n: far(site.lab, site.servers[n], site.port, delay_ms) for n in distant}
    lb = site.lab.hosts.get(balancer) or site.lab.host(balancer, balancer_address)
    servers = {n: f"{site.servers[n]}:{site.port}" for n in near}
    servers |= {n: f"{link.address}:{link.port}" for n, link in links.items()}
    per = [requests // concurrency + (k < requests % concurrency) for k in range(concurrency)]
    budget = 5 + max(per) * (3 * delay_ms + 50) / 1000
    shots: dict[str, list[tuple[str, Shot]]] = {}
    seconds: dict[str, float] = {}
    kind = version = ""
    for algorithm in algorithms:
        hx = HostBalancer(lb, balancer_config(lb.address, servers, algorithm), f"near-and-far-{algorithm}.cfg",
                          engine=engine)
        kind = hx.kind
        hx.start()
        try:
            if kind == "haproxy" and not version:
                version = next((line.split(":", 1)[1].strip() for line in hx.command("show info").splitlines()
                                if line.startswith("Version:")), "")
            started = time.monotonic()
            probes = [Probe(site.client, url_of(lb.address, 80, "/info"), count=n, interval=0, timeout=5,
                            max_seconds=budget) for n in per]
            _run(probes, budget + 10)
            seconds[algorithm] = time.monotonic() - started
        finally:
            hx.stop()
        shots[algorithm] = [(_answered_by(site, shot), shot) for probe in probes for shot in probe.results]
    return NearFar(kind, version, near, links, shots, seconds)


def _answered_by(site: Site, shot: Shot) -> str:
    """The server's host name from its /info page (the address it serves on)."""
    try:
        return site.name_of(json.loads(shot.body)["host"]) if shot.ok else ""
    except (ValueError, KeyError, TypeError):
        return ""
