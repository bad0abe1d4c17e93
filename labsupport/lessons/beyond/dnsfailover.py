"""Two balancers sharing a *name* instead of an address: the failover that needs no namespaces and no keepalived.

    result = measure_dns_failover(retry=True)     # 0 failed; the requests after the stop take a retry longer
    result = measure_dns_failover(retry=False)    # every request after the stop fails: the client never moves
    failover_figure(result)                       # the same chart as the VRRP failover (failover.py)

Why: where the lab cannot make hosts (no user namespaces, no root) or keepalived is missing, the other way
two balancers serve one service still works on loopback. Lesson 01's DNS server answers ``www.lab`` with
both balancers' addresses, 127.0.0.2 and 127.0.0.3 (in a fixed order, so the first is the "active" one),
and each balancer (real HAProxy, or the course engine without it) listens on its own address and the same
port, in front of the same two application servers.

What the measurement shows: DNS moves nothing. The client resolved the name once and keeps the answer for
its TTL; when the first balancer dies, what happens next is the *client's* choice:

- ``retry=True`` (what browsers and most HTTP libraries do): the connection to 127.0.0.2 is refused, the
  client tries the next address at once, and the request succeeds: no failed request, some extra latency.
  On loopback a dead address refuses at once; a dead *machine* answers nothing, and each request waits for
  its connect timeout before trying the next address: the extra latency is then the timeout.
- ``retry=False`` (a client that uses the first answer only): every request fails until the answer it cached
  expires *and* the DNS server stops handing out the dead address (a health-checked DNS, as in the regions
  part of the lesson). With a 30 s TTL that is the rest of this run.

So failover by DNS needs cooperative clients, short TTLs, and a DNS that checks health; VRRP needs none of
these, because the address itself moves (pair.py).
"""
from __future__ import annotations

import socket
import statistics
import time

from labsupport.course.dnsserver import DNSServer
from labsupport.course.fleet import Fleet
from labsupport.course.haproxy import HAProxy, find_haproxy
from labsupport.engine.balancer import Balancer
from labsupport.errors import LabError, UsageError
from labsupport.ports import free_ports

from .failover import FailoverResult
from .probe import Probe

NAME = "www.lab"
ADDRESSES = ("127.0.0.2", "127.0.0.3")

BALANCER_CFG = """\
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend www
    bind {address}:{port}
    default_backend app

backend app
    balance roundrobin
{servers}
"""


class DnsFailoverResult(FailoverResult):
    """A ``FailoverResult`` whose "holder" is the address that answered; ``extra_ms`` is what the retry cost."""

    def extra_ms(self) -> float:
        """Median time of the requests answered after the stop minus before it, in ms."""
        before = [s.ms for s in self.shots if s.ok and s.t < self.stopped_at]
        after = [s.ms for s in self.shots if s.ok and s.t > self.stopped_at]
        if not before or not after:
            return 0.0
        return round(statistics.median(after) - statistics.median(before), 2)

    def retried(self) -> int:
        """Requests that succeeded on a later address after a failed connection."""
        return sum(1 for s in self.shots if s.ok and s.error.startswith("retried"))

    def summary(self) -> str:
        client = "retrying client" if self.settings.get("retry") else "client without retry"
        return (f"DNS failover, {client}: {self.failed} of {len(self.shots)} requests failed, longest gap "
                f"{self.gap():.2f} s, {self.retried()} retried (median {self.extra_ms():+.2f} ms); "
                f"{self.settings.get('kind')} on {' and '.join(ADDRESSES)}, TTL {self.settings.get('ttl')} s")

    def title(self) -> str:
        client = "retrying client" if self.settings.get("retry") else "client without retry"
        return f"DNS failover, {client}: {self.failed} failed, longest gap {self.gap():.2f} s"


def _timeline(result_shots, stopped_at: float) -> list[tuple[float, str | None]]:
    """Which balancer answered, at each change (the DNS counterpart of who held the VIP)."""
    changes: list[tuple[float, str | None]] = []
    for shot in result_shots:
        who = shot.address if shot.ok else None
        if not changes or changes[-1][1] != who:
            changes.append((shot.t, who))
    return changes


def measure_dns_failover(retry: bool = True, rate: float = 20.0, seconds: float = 3.0, stop_after: float = 1.0,
                         ttl: int = 30, balancer: str = "haproxy", timeout: float = 0.5) -> DnsFailoverResult:
    """Two balancers (127.0.0.2 and .3) behind one name, a probe from this machine resolving it with the
    lab's DNS server on 127.0.0.1; after ``stop_after`` s the first balancer stops. Everything it starts,
    it stops before returning."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 1 <= rate <= 200:
        raise UsageError(f"rate={rate!r}: requests per second, 1 to 200")
    if not 0 < stop_after < seconds <= 60:
        raise UsageError(f"stop_after={stop_after!r}, seconds={seconds!r}: 0 < stop_after < seconds <= 60")
    if balancer not in ("haproxy", "engine"):
        raise UsageError(f"balancer={balancer!r}: 'haproxy' (real HAProxy) or 'engine' (the course's)")
    binary = find_haproxy() if balancer == "haproxy" else None
    kind = "haproxy" if binary else "engine"
    started: list = []
    with Fleet() as fleet:
        ports = fleet.start(count=2)
        servers = "\n".join(f"    server s{p} 127.0.0.1:{p}" for p in ports)
        port = _common_port()
        try:
            for address in ADDRESSES:
                text = BALANCER_CFG.format(address=address, port=port, servers=servers)
                lb = HAProxy.from_text(text, f"{address}.cfg", binary=binary) if binary else Balancer.from_text(text)
                started.append(lb.start())
            dns = DNSServer({f"{NAME}.": list(ADDRESSES)}, ttl=ttl, order="fixed").start()
            started.append(dns)
            probe = Probe(None, f"http://{NAME}:{port}/", count=int(seconds * rate), interval=1 / rate,
                          timeout=timeout, dns=f"{dns.host}:{dns.port}", max_seconds=seconds + 10, retry=retry)
            try:
                while time.monotonic() < probe.started + stop_after and probe.running:
                    time.sleep(0.01)
                stopped_at = round(time.monotonic() - probe.started, 3)
                started[0].stop()
                probe.wait(seconds + 30)
            finally:
                probe.stop()
        finally:
            for thing in reversed(started):
                thing.stop()
    settings = {"retry": retry, "ttl": ttl, "kind": kind, "rate": rate, "advert_int": 0.0, "track": False,
                "vip": NAME, "port": port}
    did = f"stopped the balancer on {ADDRESSES[0]}:{port} ({kind})"
    return DnsFailoverResult("dns", settings, list(probe.results), stopped_at, did,
                             _timeline(probe.results, stopped_at))


def _common_port() -> int:
    """A port free on both 127.0.0.2 and 127.0.0.3 (tried a few times)."""
    for _ in range(20):
        port = free_ports(1, ADDRESSES[0])[0]
        with socket.socket() as probe:
            try:
                probe.bind((ADDRESSES[1], port))
            except OSError:
                continue
        return port
    raise LabError(f"no port free on both {' and '.join(ADDRESSES)} after 20 tries")
