"""How long a region's users wait when their region fails, and what a low TTL costs the DNS server.

    result = measure_region_failover(regions, "europe", ttl=2)
    result                    # 17 failed, gap 1.9 s: health check left europe out after 0.8 s, client moved at 1.9 s
    result.table()            # the same against the settings that bound it (inter, fall, TTL)
    result.figure()           # timeline: which region answered each request, the kill, the health change, TTLs
    ttl_cost(regions)         # DNS queries per second from the same clients at TTL 1 and TTL 30

The failover is measured, not computed: a Probe (probe.py) in the region's client host sends a steady stream
of requests to http://www.lab/, resolving the name with the lab's DNS server as a stub resolver does (caching
the answer for its TTL). While it runs, the region's balancer is stopped. Requests fail until two things have
happened: the DNS server's health check has left the region out (``fall`` failed checks, one every ``inter``
s, so between ``(fall - 1) * inter`` and ``fall * inter`` after the kill, plus a check's timeout when the
balancer is unplugged rather than stopped), and the client's cached answer has run out (up to ``ttl`` s
later). The next nearest region answers from then on, through its relay (one way slower).

Phase matters: the client asked at its first request (t = 0), so its answer runs out at t = ttl, 2 ttl, ...;
killing at ``before`` s puts the health change somewhere in that cycle. With TTL 2 s and a kill at 1 s the
answer runs out just after the health change (short gap); with TTL 5 s the client keeps the dead answer
for almost 4 s more. Change ``before`` to try other phases.

The cost side: every client asks again each time its TTL runs out, so the DNS server gets about
``clients / ttl`` queries per second. ``ttl_cost`` counts them in the DNS server's own log.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from labsupport.course.display.table import Table
from labsupport.errors import LabError, UsageError

from .probe import Probe, Shot
from .regions import NAMES, WWW, Regions


@dataclass
class RegionFailover:
    """One measured region failure. Times are seconds after the probe's first request."""

    region: str
    ttl: int
    inter: float
    fall: int
    how: str
    killed_at: float
    left_out_at: float | None       # the DNS health check's DOWN for the region's balancer
    moved_at: float | None          # first request answered by another region after the kill
    moved_to: str
    failed: int
    gap: float
    shots: list[Shot] = field(repr=False)
    regions_of: list[str] = field(repr=False)   # per shot: the region that answered ('' failed)
    resolves: list[tuple[float, str]] = field(repr=False)   # (when, answer) for each DNS query of the client

    @property
    def detect(self) -> float | None:
        """Kill to health DOWN, in s."""
        return None if self.left_out_at is None else round(self.left_out_at - self.killed_at, 3)

    @property
    def bound(self) -> float:
        """About the longest the settings allow: ``fall`` checks plus one ``inter`` of phase, then a whole TTL
        (the client may have asked again just before the health change); unplugged, each check and the request
        in flight may also wait out their timeouts (0.5 s each)."""
        return round(self.fall * self.inter + self.inter + self.ttl + (1.0 if self.how == "unplug" else 0.0), 3)

    def table(self) -> Table:
        moved = None if self.moved_at is None else round(self.moved_at - self.killed_at, 3)
        rows = [
            {"what": f"{self.region}'s balancer {'stopped' if self.how == 'stop' else 'unplugged'}",
             "after kill (s)": 0.0, "set by": ""},
            {"what": "health check leaves it out", "after kill (s)": self.detect if self.detect is not None else "-",
             "set by": f"fall {self.fall} x inter {self.inter:g} s (+ up to one inter)"},
            {"what": f"client moves (first answer from {self.moved_to or '-'})",
             "after kill (s)": moved if moved is not None else "-",
             "set by": f"+ what is left of the TTL ({self.ttl} s) the client cached"},
            {"what": f"requests failed: {self.failed}", "after kill (s)": self.gap,
             "set by": f"longest gap; at most about {self.bound:g} s"},
        ]
        return Table(rows, ["what", "after kill (s)", "set by"],
                     title=f"{self.region} fails: its clients wait {self.gap:g} s (TTL {self.ttl} s, "
                           f"inter {self.inter:g} s, fall {self.fall})")

    def figure(self):
        """Timeline (matplotlib Figure): each request by the region that answered it; the kill, the health
        change, and each time the client's cached answer ran out (it asked again)."""
        from matplotlib.figure import Figure

        lanes = ["failed"] + list(NAMES)
        colors = {"failed": "#d62728", "europe": "#1f77b4", "america": "#2ca02c", "asia": "#9467bd"}
        fig = Figure(figsize=(8, 3.2))
        ax = fig.add_subplot()
        for lane in lanes:
            ts = [s.t for s, r in zip(self.shots, self.regions_of) if (r or "failed") == lane]
            ax.scatter(ts, [lanes.index(lane)] * len(ts), s=10, color=colors[lane], label=None)
        ax.set_yticks(range(len(lanes)), lanes)
        ax.axvline(self.killed_at, color="black", lw=1.5)
        ax.text(self.killed_at, len(lanes) - 0.4, " kill", fontsize=8)
        if self.left_out_at is not None:
            ax.axvline(self.left_out_at, color="#ff7f0e", lw=1.5)
            ax.text(self.left_out_at, len(lanes) - 0.7, " health: DOWN", fontsize=8, color="#ff7f0e")
        for k, (t, _) in enumerate(self.resolves):
            ax.axvline(t, color="gray", lw=0.8, ls=":", label="client asks DNS (its TTL ran out)" if k == 0 else None)
        ax.set_ylim(-0.6, len(lanes) - 0.2)
        ax.set_xlabel("seconds since the first request")
        ax.set_title(f"{self.region} fails: {self.failed} requests failed, gap {self.gap:g} s "
                     f"(TTL {self.ttl} s, inter {self.inter:g} s, fall {self.fall})", fontsize=9)
        if self.resolves:
            ax.legend(loc="lower right", fontsize=7)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        left = f"{self.detect:g} s" if self.detect is not None else "never"
        moved = f"{self.moved_at - self.killed_at:.2f} s to {self.moved_to}" if self.moved_at is not None else "never"
        return (f"<RegionFailover {self.region}: {self.failed} failed, gap {self.gap:g} s; left out after {left}, "
                f"client moved after {moved}; TTL {self.ttl} s, inter {self.inter:g} s, fall {self.fall}>")


def _answered_region(regions: Regions, shot: Shot) -> str:
    return regions.region_of_address(shot.address) if shot.ok else ""


def measure_region_failover(regions: Regions, client_region: str, ttl: int | None = None, *, how: str = "stop",
                            interval: float = 0.05, before: float = 1.0, after: float = 0.5,
                            restore: bool = True) -> RegionFailover:
    """Kill ``client_region``'s balancer under a steady stream of requests from its client and measure how long
    its users wait. ``ttl``: set the DNS TTL first (None: keep it); ``before``: seconds of normal traffic
    before the kill; ``after``: seconds kept once the client has moved; ``restore``: bring the region back."""
    regions._region(client_region)
    if client_region in regions.killed:
        raise UsageError(f"{client_region} is down already; regions.restore('{client_region}') first")
    if ttl is not None and ttl != regions.dns.ttl:
        regions.dns.set_ttl(ttl)
    ttl = regions.dns.ttl
    if not 0.01 <= interval <= 1 or not 0 <= before <= 10 or not 0 <= after <= 10:
        raise UsageError("interval in [0.01, 1] s, before and after in [0, 10] s")
    inter, fall = regions.inter, regions.fall
    regions.wait_answered(client_region)  # e.g. just restored: its clients must be at home before the kill
    limit = before + fall * inter + inter + ttl + 1.0 + after + (0.5 if how == "unplug" else 0)  # generous bound
    count = int(limit / interval) + 1
    client = regions.client(client_region)
    probe = Probe(client, f"http://{WWW}/", count=count, interval=interval, timeout=0.5,
                  dns=regions.dns_address, max_seconds=limit + 5)
    wall0 = time.time()  # the probe's t = 0, to a few ms (its first request follows its ready line)
    home = client_region
    try:
        deadline = time.monotonic() + before + 5
        while not (probe.results and probe.results[-1].t >= before
                   and _answered_region(regions, probe.results[-1]) == home):
            if time.monotonic() > deadline or not probe.running:
                last = probe.results[-1] if probe.results else None
                raise LabError(f"the probe from {client_region} was not answered by {home} before the kill: "
                               + (f"{last.address or last.error}" if last else "no request sent"))
            time.sleep(0.02)
        killed_wall = regions.kill(client_region, how)
        killed_at = killed_wall - wall0
        lb = regions.balancer(client_region)
        left_out_at = moved_at = None
        moved_to = ""
        deadline = time.monotonic() + limit + 5
        while probe.running and time.monotonic() < deadline:
            if left_out_at is None:
                down = [e for e in regions.dns.health_events(killed_wall - 0.05)
                        if e["address"] == lb and e["state"] == "DOWN"]
                if down:
                    left_out_at = down[0]["time"] - wall0
            if moved_at is None:
                for s in list(probe.results):
                    r = _answered_region(regions, s)
                    if s.t > killed_at and r and r != home:
                        moved_at, moved_to = s.t, r
                        break
            if moved_at is not None and left_out_at is not None and probe.results[-1].t >= moved_at + after:
                break
            time.sleep(0.05)
        probe.stop()
    finally:
        if probe.running:
            probe.stop()
        if restore and client_region in regions.killed:
            regions.restore(client_region)
    shots = list(probe.results)
    resolves = [(q["time"] - wall0, q["answer"]) for q in regions.dns.queries(wall0 - 0.5)
                if q["client"] == client.address and q["time"] <= wall0 + (shots[-1].t + 1 if shots else 0)]
    return RegionFailover(client_region, ttl, inter, fall, how, round(killed_at, 3),
                          None if left_out_at is None else round(left_out_at, 3),
                          None if moved_at is None else round(moved_at, 3), moved_to,
                          sum(not s.ok for s in shots), probe.gap(), shots,
                          [_answered_region(regions, s) for s in shots], resolves)


def ttl_cost(regions: Regions, ttls: tuple[int, ...] = (1, 30), *, clients_per_region: int = 2,
             seconds: float = 2.0, interval: float = 0.1) -> Table:
    """DNS queries per second the server gets from the same clients at each TTL: ``clients_per_region``
    probes in each region's client host, ``seconds`` of requests each, queries counted in the DNS log."""
    if not 1 <= clients_per_region <= 5 or not 0.5 <= seconds <= 30 or not 0.01 <= interval <= 1:
        raise UsageError("clients_per_region 1-5, seconds in [0.5, 30], interval in [0.01, 1] s")
    if not ttls or any(not isinstance(t, int) or t < 0 for t in ttls):
        raise UsageError(f"ttls={ttls!r}: give whole seconds, e.g. (1, 30)")
    before = regions.dns.ttl
    clients = {regions.client(r).address for r in NAMES}
    rows = []
    try:
        for ttl in ttls:
            regions.dns.set_ttl(ttl)
            count = max(1, int(seconds / interval))
            began = time.time()
            probes = [Probe(regions.client(r), f"http://{WWW}/", count=count, interval=interval, timeout=1.0,
                            dns=regions.dns_address, max_seconds=seconds + 10)
                      for r in NAMES for _ in range(clients_per_region)]
            for p in probes:
                p.wait(seconds + 20)
            ended = time.time()
            queries = [q for q in regions.dns.queries(began - 0.5) if q["client"] in clients and q["time"] <= ended]
            requests = sum(len(p.results) for p in probes)
            n = len(probes)
            took = max(ended - began, 1e-3)
            rows.append({"ttl (s)": ttl, "clients": n, "seconds": round(took, 2), "requests": requests,
                         "DNS queries": len(queries), "queries/s": round(len(queries) / took, 1),
                         "queries per request": round(len(queries) / max(requests, 1), 3),
                         "steady state (clients/ttl per s)": round(n / ttl, 2) if ttl else "every request"})
    finally:
        regions.dns.set_ttl(before)
    return Table(rows, ["ttl (s)", "clients", "seconds", "requests", "DNS queries", "queries/s",
                        "queries per request", "steady state (clients/ttl per s)"],
                 title="what a TTL costs: the same clients, the DNS server's load (each client starts with no "
                       "cached answer, so a short run counts that first query too)")
