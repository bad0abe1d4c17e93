"""Three regions, each a balancer over two servers, far apart, and one name that DNS answers by region.

    regions = Regions()                       # europe, america, asia in one lab (10.0.0.0/16)
    regions.answers()                         # each region's client asks for www.lab: its own balancer
    regions.kill("europe")                    # europe's balancer stops; the DNS health check notices
    regions.answers()                         # europe's client is now sent to america (the next nearest)
    regions.restore("europe"); regions.dns_log(); regions.health_log()

The layout (one lab network, each region one /24 of it; ``N`` = 10.0.1 europe, 10.0.2 america, 10.0.3 asia):

    N.10       xx-lb       the region's balancer: real HAProxy (/usr/sbin/haproxy) when installed, else the
                           course engine (balancerhost.HostBalancer); ``kind`` says which runs
    N.11, .12  xx-web1/2   backends/app.py on ports 80R1 and 80R2 (R the region's number), so a page says
                           which region and server answered: "Hi!! from server 8021" is america's first
    N.100      xx-client   where the region's users are
    N.20J      xx-gw       the region's way out to region J: a relay (course/delayrelay.py) listening on
                           N.20J:80 that forwards to region J's balancer with the distance as delay
    10.0.0.53  dns         the DNS server (course/dnsprocess.py), GeoDNS by the client's address

Distance. All hosts share one switch, and this kernel has no netem, so distance is made by relays: a client
never talks to another region's balancer directly; the DNS server gives it the address of its own region's
relay towards that region (europe's client gets 10.0.1.202 for america), and that relay delivers every byte
``distance_ms`` later in each direction (europe-america 40 ms, europe-asia 80, america-asia 70: one way).
A new connection and one request to a far region therefore cost three delays more than a near one (the
relay connects onwards one delay after the client connected, the request leaves it one delay after that, the
answer comes back one delay later: delayrelay.py), which ``distances()`` measures from the client hosts.

DNS. Each region has a view: www.lab is its own balancer, then the other regions nearest first (by the
relays that reach them), and ``pick="first"`` answers only the first healthy one: GeoDNS with failover, the
PowerDNS ``ifportup`` list-of-sets idea. Health: the DNS server connects to every balancer on port 80 every
``inter`` s; ``fall`` failures leave it out, ``rise`` successes bring it back (course/dnshealth.py). A relay's
address is checked at the balancer behind it (HAProxy's ``check addr``), since a relay accepts every
connection. A client keeps its answer for the TTL, so after a kill its users wait for the health check
*and* for their cached answer to run out: ``measure_region_failover`` (regionfailover.py) measures it.
"""
from __future__ import annotations

import ipaddress
import json
import shutil
import sys
import textwrap
import time
from pathlib import Path

from labsupport import lifecycle
from labsupport.course.display.table import Table
from labsupport.course.dnsprocess import DNSProcess
from labsupport.course.hosts import Host, HostProcess, Lab
from labsupport.errors import LabError, NotFoundError, UsageError
from labsupport.rundir import run_dir

from .balancerhost import HostBalancer

ROOT = Path(__file__).resolve().parents[3]
APP = ROOT / "backends" / "app.py"
RELAY = ROOT / "labsupport" / "course" / "delayrelay.py"
NAMES = ("europe", "america", "asia")
SHORT = {"europe": "eu", "america": "am", "asia": "as"}
DISTANCE_MS = {("europe", "america"): 40.0, ("europe", "asia"): 80.0, ("america", "asia"): 70.0}
WWW = "www.lab"

_CONFIG = """\
global
    maxconn 256

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend www
    bind {address}:80
    default_backend servers

backend servers
    balance roundrobin
    server web1 {web1}:{port1} check inter 500ms
    server web2 {web2}:{port2} check inter 500ms
"""

# Run in the dns host: wait until every URL answers 200 twice in a row (both servers of a balancer up).
_READY = textwrap.dedent("""\
    import json, sys, time, urllib.request
    urls, deadline = json.loads(sys.argv[1]), time.monotonic() + float(sys.argv[2])
    left = {u: 2 for u in urls}
    while left and time.monotonic() < deadline:
        for u in list(left):
            try:
                ok = urllib.request.urlopen(u, timeout=1).status == 200
            except Exception:
                ok = False
            left[u] = left[u] - 1 if ok else 2
            if left[u] <= 0:
                del left[u]
        if left:
            time.sleep(0.05)
    print(json.dumps(sorted(left)))
""")

# Run in a client host: ask the DNS server for www.lab (as the client's stub resolver would).
_ASK = textwrap.dedent("""\
    import json, sys, time
    import dns.message, dns.query, dns.rdatatype
    t = time.monotonic()
    try:
        r = dns.query.udp(dns.message.make_query(sys.argv[2], "A"), sys.argv[1], timeout=2)
        found = [x.address for rr in r.answer if rr.rdtype == dns.rdatatype.A for x in rr]
        ttl = min((rr.ttl for rr in r.answer), default=0)
        print(json.dumps({"answer": found, "ttl": ttl, "ms": round((time.monotonic() - t) * 1000, 2)}))
    except Exception as e:
        print(json.dumps({"answer": [], "ttl": 0, "ms": 0, "error": type(e).__name__}))
""")

# Run in a client host: round trips of whole HTTP requests (a new connection each) to one address.
_RTT = textwrap.dedent("""\
    import http.client, json, sys, time
    times = []
    for _ in range(int(sys.argv[2])):
        t = time.monotonic()
        c = http.client.HTTPConnection(sys.argv[1], 80, timeout=5)
        c.request("GET", "/", headers={"Connection": "close"})
        c.getresponse().read()
        c.close()
        times.append(round((time.monotonic() - t) * 1000, 2))
    print(json.dumps(times))
""")


def _distance(a: str, b: str, table: dict[tuple[str, str], float]) -> float:
    if a == b:
        return 0.0
    return table[(a, b)] if (a, b) in table else table[(b, a)]


class Regions:
    """europe, america and asia in ``lab`` (default: a new ``Lab(subnet="10.0.0.0/16")``), with GeoDNS and
    health checks in front. ``ttl``, ``inter`` (s), ``fall``, ``rise``: the DNS side; ``distance_ms``: one-way
    delay between each pair of regions; ``engine``: None real HAProxy when installed, else the course's engine;
    True the engine; False HAProxy or an error saying how to install it."""

    def __init__(self, lab: Lab | None = None, *, ttl: int = 2, inter: float = 0.5, fall: int = 2, rise: int = 2,
                 distance_ms: dict[tuple[str, str], float] | None = None, engine: bool | None = None,
                 timeout: float = 30.0):
        if engine not in (None, True, False):
            raise UsageError(f"engine={engine!r}: None (HAProxy when installed), True (the course's engine) "
                             "or False (HAProxy only)")
        self.distance_ms = dict(DISTANCE_MS if distance_ms is None else distance_ms)
        for a in NAMES:
            for b in NAMES:
                if a < b:
                    try:
                        d = _distance(a, b, self.distance_ms)
                    except KeyError:
                        raise UsageError(f"distance_ms: give the delay between {a} and {b}, e.g. "
                                         f"{{('{a}', '{b}'): 40}}") from None
                    if not 0 <= d <= 2000:
                        raise UsageError(f"distance {a}-{b} {d!r} ms: give 0 to 2000 ms")
        self.engine = engine
        self.balancers: dict[str, HostBalancer] = {}
        self.ttl, self.inter, self.fall, self.rise = ttl, inter, fall, rise
        self.own_lab = lab is None
        self.lab = lab if lab is not None else Lab(subnet="10.0.0.0/16")
        net = self.lab.subnet
        if net.version != 4 or net.prefixlen > 22:
            raise UsageError(f"Regions need a lab network of /22 or wider (this one is {net}), "
                             "e.g. Lab(subnet='10.0.0.0/16')")
        base = int(net.network_address)
        self.subnets = {name: ipaddress.ip_network(f"{ipaddress.ip_address(base + 256 * (i + 1))}/24")
                        for i, name in enumerate(NAMES)}
        self.dns_address = str(ipaddress.ip_address(base + 53))
        self._procs: dict[str, HostProcess] = {}
        self.killed: dict[str, tuple[str, float]] = {}
        self.folder = run_dir() / f"regions-{id(self):x}"
        self.folder.mkdir(parents=True, exist_ok=True)
        lifecycle.register("child", self, label="the regions lab")
        try:
            self._build(timeout)
        except BaseException:
            self.stop()
            raise

    # ---------------------------------------------------------------- addresses
    def _at(self, region: str, last: int) -> str:
        return str(self.subnets[region].network_address + last)

    def balancer(self, region: str) -> str:
        """The address of ``region``'s balancer."""
        return self._at(self._region(region), 10)

    def reach(self, client_region: str, region: str) -> str:
        """The address a client in ``client_region`` uses for ``region``: the balancer itself when it is the
        same region, else its own region's relay towards it."""
        if client_region == region:
            return self.balancer(region)
        return self._at(client_region, 200 + NAMES.index(self._region(region)) + 1)

    def region_of_address(self, address: str) -> str:
        """Which region an answered address leads to ('' if none)."""
        for c in NAMES:
            for r in NAMES:
                if self.reach(c, r) == address:
                    return r
        return ""

    def client(self, region: str) -> Host:
        return self.lab[f"{SHORT[self._region(region)]}-client"]

    def nearest(self, region: str) -> list[str]:
        """The regions from ``region``: itself first, then the others nearest first."""
        return sorted(NAMES, key=lambda r: _distance(region, r, self.distance_ms))

    @staticmethod
    def _region(region: str) -> str:
        if region not in NAMES:
            raise NotFoundError(f"no region {region!r} (regions: {', '.join(NAMES)})")
        return region

    # ---------------------------------------------------------------- building
    @property
    def kind(self) -> str:
        """Which balancer runs in the regions: 'haproxy' (real HAProxy) or 'engine' (the course's)."""
        return next(iter(self.balancers.values())).kind if self.balancers else "none yet"

    def _start(self, key: str, host: Host, command: list[str]) -> HostProcess:
        log = open(self.folder / f"{key}.log", "w")
        proc = host.popen(command, stdout=log, stderr=log, cwd=str(ROOT))
        log.close()
        self._procs[key] = proc
        return proc

    def _build(self, timeout: float) -> None:
        hosts: dict[str, Host] = {}
        dns_host = self.lab.host("dns", self.dns_address)
        for i, region in enumerate(NAMES):
            s = SHORT[region]
            for name, last in (("lb", 10), ("web1", 11), ("web2", 12), ("client", 100)):
                hosts[f"{s}-{name}"] = self.lab.host(f"{s}-{name}", self._at(region, last))
            outs = [r for r in NAMES if r != region]
            gw = hosts[f"{s}-gw"] = self.lab.host(f"{s}-gw", self.reach(region, outs[0]))
            for other in outs[1:]:
                done = gw.run(["ip", "addr", "add", f"{self.reach(region, other)}/{self.lab.subnet.prefixlen}",
                               "dev", "eth0"], timeout=30)
                if done.returncode != 0:
                    raise LabError(f"host {gw.name}: ip addr add: {done.stderr.strip()}")
        for i, region in enumerate(NAMES):
            s = SHORT[region]
            ports = (8000 + 10 * (i + 1) + 1, 8000 + 10 * (i + 1) + 2)
            for k, port in enumerate(ports, 1):
                self._start(f"{s}-web{k}", hosts[f"{s}-web{k}"],
                            [sys.executable, str(APP), str(port), "--host", self._at(region, 10 + k)])
            text = _CONFIG.format(address=self.balancer(region), web1=self._at(region, 11),
                                  web2=self._at(region, 12), port1=ports[0], port2=ports[1])
            self.balancers[region] = HostBalancer(hosts[f"{s}-lb"], text, f"{region}.cfg", engine=self.engine)
            self.balancers[region].start()
            for other in NAMES:
                if other != region:
                    self._start(f"{s}-to-{SHORT[other]}", hosts[f"{s}-gw"],
                                [sys.executable, str(RELAY), f"{self.reach(region, other)}:80",
                                 f"{self.balancer(other)}:80",
                                 "--delay-ms", f"{_distance(region, other, self.distance_ms):g}"])
        views = {r: {f"{WWW}.": [self.reach(r, o) for o in self.nearest(r)]} for r in NAMES}
        check_addr = {self.reach(c, r): self.balancer(r) for c in NAMES for r in NAMES if c != r}
        self.dns = DNSProcess(dns_host, listen=f"{self.dns_address}:53", ttl=self.ttl, order="fixed", pick="first",
                              zone={f"{WWW}.": [self.balancer(r) for r in NAMES]},
                              regions={r: str(n) for r, n in self.subnets.items()}, views=views,
                              health={"port": 80, "inter": self.inter, "fall": self.fall, "rise": self.rise,
                                      "timeout": min(self.inter, 0.5), "addr": check_addr})
        self._wait_ready([self.balancer(r) for r in NAMES] + list(check_addr), timeout)

    def _wait_ready(self, addresses: list[str], timeout: float) -> None:
        urls = [f"http://{a}/" for a in addresses]
        done = self.lab["dns"].run([sys.executable, "-c", _READY, json.dumps(urls), str(timeout)],
                                   timeout=timeout + 15)
        try:
            left = json.loads(done.stdout)
        except ValueError:
            left = urls
        if left:
            dead = [k for k, p in self._procs.items() if p.poll() is not None]
            logs = "; ".join(f"{k}: {(self.folder / f'{k}.log').read_text().strip()[-200:]}" for k in dead)
            raise LabError(f"the regions did not come up within {timeout:g} s: no answer from {', '.join(left)}"
                           + (f" (ended: {logs})" if dead else ""))

    # ---------------------------------------------------------------- what the student does
    def answers(self) -> Table:
        """For each region's client, the answer it gets for www.lab now (asked from the client host itself)."""
        procs = {r: self.client(r).popen([sys.executable, "-c", _ASK, self.dns_address, WWW], cwd=str(ROOT),
                                         stdout=-1, stderr=-1, text=True) for r in NAMES}
        rows = []
        for region, proc in procs.items():
            out, err = proc.communicate(timeout=20)
            try:
                got = json.loads(out)
            except ValueError:
                got = {"answer": [], "ttl": 0, "ms": 0, "error": err.strip()[-80:]}
            answer = got["answer"][0] if got["answer"] else ""
            to = self.region_of_address(answer)
            rows.append({"client in": region, "client": self.client(region).address,
                         "answer": " ".join(got["answer"]) or got.get("error", "-"), "leads to": to or "-",
                         "one way": f"{_distance(region, to, self.distance_ms):g} ms" if to else "-",
                         "ttl": got["ttl"], "dns ms": got["ms"]})
        return Table(rows, ["client in", "client", "answer", "leads to", "one way", "ttl", "dns ms"],
                     title=f"www.lab, asked from each region (down: {', '.join(self.killed) or 'none'})")

    def kill(self, region: str, how: str = "stop") -> float:
        """Take ``region``'s balancer away: ``how`` "stop" ends its process (connections refused at once),
        "unplug" pulls its host's cable (connections go unanswered). Returns when (time.time())."""
        self._region(region)
        if how not in ("stop", "unplug"):
            raise UsageError(f"how={how!r}: 'stop' (end the balancer) or 'unplug' (cut its host off)")
        if region in self.killed:
            raise UsageError(f"{region} is already down ({self.killed[region][0]}); restore('{region}') first")
        s = SHORT[region]
        if how == "stop":
            self.balancers[region].stop()
        else:
            self.lab[f"{s}-lb"].unplug()
        when = time.time()
        self.killed[region] = (how, when)
        return when

    def restore(self, region: str, timeout: float = 15.0) -> None:
        """Bring ``region``'s balancer back (and wait until it answers)."""
        self._region(region)
        if region not in self.killed:
            return
        how, _ = self.killed.pop(region)
        s = SHORT[region]
        if how == "stop":
            self.balancers[region].start()
        else:
            self.lab[f"{s}-lb"].plug()
        self._wait_ready([self.balancer(region)], timeout)
        self.wait_answered(region, timeout)

    def in_answers(self, region: str) -> bool:
        """Whether the DNS server answers with ``region`` now: its balancer's last health change was not DOWN."""
        lb = self.balancer(region)
        changes = [e["state"] for e in self.dns.health_events() if e["address"] == lb]
        return not changes or changes[-1] != "DOWN"

    def wait_answered(self, region: str, timeout: float = 15.0) -> None:
        """Wait until the DNS server's health check has put ``region`` back (``rise`` checks passed)."""
        deadline = time.monotonic() + timeout
        while not self.in_answers(region):
            if time.monotonic() > deadline:
                raise LabError(f"the DNS health check did not bring {region} back within {timeout:g} s "
                               f"(it needs {self.rise} passed checks, one every {self.inter:g} s)")
            time.sleep(0.05)

    def dns_log(self, last: int | None = 20) -> Table:
        """The DNS server's latest queries: who asked, what it answered, which region it saw."""
        return self.dns.log(last)

    def health_log(self) -> Table:
        """When the DNS server's health checks took a balancer out, and put it back."""
        return self.dns.health_log()

    def round_trips(self, from_region: str, to_region: str, count: int = 5) -> list[float]:
        """``count`` whole HTTP requests (new connection each) from ``from_region``'s client to
        ``to_region``, in ms."""
        if not 1 <= count <= 50:
            raise UsageError(f"count={count}: between 1 and 50 requests")
        address = self.reach(self._region(from_region), self._region(to_region))
        done = self.client(from_region).run([sys.executable, "-c", _RTT, address, str(count)], timeout=60)
        if done.returncode != 0:
            raise LabError(f"requests from {from_region} to {to_region} ({address}) failed: "
                           f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
        return json.loads(done.stdout)

    def distances(self, count: int = 5) -> Table:
        """The delay set between regions against what a request measures (the fastest of ``count``)."""
        rows = []
        local = min(self.round_trips("europe", "europe", count))
        rows.append({"from": "europe", "to": "europe", "one way (ms)": 0, "request (ms)": local,
                     "extra (ms)": 0.0, "extra / one way": "-"})
        for a, b in (("europe", "america"), ("europe", "asia"), ("america", "asia")):
            best = min(self.round_trips(a, b, count))
            one = _distance(a, b, self.distance_ms)
            rows.append({"from": a, "to": b, "one way (ms)": one, "request (ms)": best,
                         "extra (ms)": round(best - local, 1),
                         "extra / one way": f"{(best - local) / one:.2f}" if one else "-"})
        return Table(rows, ["from", "to", "one way (ms)", "request (ms)", "extra (ms)", "extra / one way"],
                     title=f"distance between regions: fastest of {count} requests, a new connection each "
                           "(expected extra: 3 x one way: connect, request, answer)")

    # ---------------------------------------------------------------- ending
    def stop(self) -> None:
        """Stop everything the regions run (and the lab, if they made it)."""
        lifecycle.unregister(self)
        dns = getattr(self, "dns", None)
        if dns is not None:
            dns.stop()
        for balancer in getattr(self, "balancers", {}).values():
            balancer.stop()
        if self.own_lab:
            self.lab.stop()  # every process in it ends with it
        elif self.lab.running:
            for proc in self._procs.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in self._procs.values():
                try:
                    proc.wait(5)
                except Exception:
                    proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)  # the configs and the processes' logs

    @property
    def running(self) -> bool:
        return self.lab.running and getattr(self, "dns", None) is not None and self.dns.running

    def __repr__(self) -> str:
        down = f", down: {', '.join(self.killed)}" if self.killed else ""
        ttl = self.dns.ttl if getattr(self, "dns", None) is not None else self.ttl
        return (f"<Regions {', '.join(f'{r} {self.subnets[r]}' for r in NAMES)}; balancers on {self.kind}, "
                f"DNS {self.dns_address} TTL {ttl} s, check every {self.inter:g} s fall {self.fall} "
                f"rise {self.rise}{down}>")
