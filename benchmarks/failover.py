"""Lesson 10's failover gaps, setting by setting: keepalived moving 10.0.0.100 between two balancers, and the
DNS fallback on loopback.

    unshare -rn sh -c 'ip link set lo up; .venv/bin/python benchmarks/failover.py'   (as an ordinary user)

For each case a fresh pair (labsupport/lessons/beyond/pair.py: real HAProxy when installed) in one lab with a
client and two web servers, 20 requests/s from the client to the virtual address, the failure injected after
1 s (``measure_failover``): failed requests, the longest gap, and when the address moved. Then the DNS
failover (``measure_dns_failover``) with and without a retrying client. Prints figures; asserts nothing.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labsupport.course.display.table import Table
from labsupport.course.hosts import Lab
from labsupport.lessons.beyond.dnsfailover import measure_dns_failover
from labsupport.lessons.beyond.failover import measure_failover
from labsupport.lessons.beyond.pair import BalancerPair

APP = Path(__file__).resolve().parent.parent / "backends" / "app.py"
CASES = [  # (how, advert_int, track)
    ("unplug", 1.0, True), ("unplug", 0.5, True), ("balancer", 1.0, True), ("balancer", 0.5, True),
    ("balancer", 1.0, False), ("keepalived", 1.0, True)]


def main() -> None:
    rows = []
    with Lab() as lab:
        client = lab.host("client", "10.0.0.2")
        servers = {}
        for name, address in (("web1", "10.0.0.11"), ("web2", "10.0.0.12")):
            lab.host(name, address).popen([sys.executable, str(APP), "80", "--host", address],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            servers[name] = f"{address}:80"
        time.sleep(2)  # the servers start (a benchmark, not a test: the first case waits for a holder anyway)
        for how, advert_int, track in CASES:
            pair = BalancerPair(lab, servers, advert_int=advert_int, track=track)
            try:
                pair.wait_for_holder("lb1", 30)
                r = measure_failover(pair, client, how=how, rate=20, seconds=1 + 4 * advert_int + 1.5)
            finally:
                pair.stop()
            rows.append({"failure": how, "advert_int": advert_int, "track": track, "balancer": pair.kind,
                         "failed": f"{r.failed}/{len(r.shots)}", "gap s": r.gap(),
                         "moved after s": r.moved_after() if r.moved_after() is not None else "never"})
    for retry in (True, False):
        r = measure_dns_failover(retry=retry, seconds=3)
        rows.append({"failure": f"DNS, retry {retry}", "advert_int": "-", "track": "-", "balancer": r.settings["kind"],
                     "failed": f"{r.failed}/{len(r.shots)}", "gap s": r.gap(),
                     "moved after s": f"+{r.extra_ms():.2f} ms/request" if retry else "never (TTL 30 s)"})
    print(Table(rows, title="failover under 20 requests/s, failure injected at 1 s"))


if __name__ == "__main__":
    main()
