"""Per-server queues, random(N), hash-balance-factor and keys moved: the engine against real HAProxy 2.6.

One real haproxy and one engine run the same config (one frontend/backend pair per scenario, on
different ports). Most backends are *gated*: they note each request they receive and hold it until
the test releases it, so which request waits where, and in which order it gets in, is decided by
the balancer alone and can be compared exactly.
"""
from __future__ import annotations

import threading
import time

import pytest
from support.gate import Gate, get, send
from support.procs import start_together

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.engine import hashing
from labsupport.errors import PortInUseError, ServerStartError

DEFAULTS = ("global\n    maxconn 500\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n"
            "    timeout server 30s\n    timeout queue 20s\n")
KEYS = [f"/key/{i}" for i in range(300)]  # keys for the keys-moved test


class Side:
    """One balancer (engine or haproxy) with its own gated backends."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.arrivals: list[tuple[str, str]] = []
        self.gates: dict[str, Gate] = {}
        self.target = None
        self.ports: dict[str, int] = {}

    def rows(self, backend: str) -> dict[str, dict]:
        return {r["svname"]: r for r in parse_stat_csv(self.target.stats_csv()) if r["pxname"] == backend}

    def wait_placed(self, backend: str, n: int) -> dict[str, dict]:
        """Wait until ``n`` requests are on ``backend`` (serving or queued), and each one a server counts
        has reached it (under load a gate may note a request after the next one: the balancer counts
        it on its server at connect time); its stats rows."""
        deadline = time.monotonic() + 10
        while True:
            rows = self.rows(backend)
            serving = sum(r["scur"] for k, r in rows.items() if k not in ("BACKEND", "FRONTEND"))
            if self.placed(rows) >= n and len(self.arrivals) >= serving or time.monotonic() > deadline:
                return rows
            time.sleep(0.005)

    @staticmethod
    def placed(rows: dict[str, dict]) -> int:
        """Requests on a server (in flight or in its queue) or in the backend's queue."""
        servers = sum(r["scur"] + r["qcur"] for k, r in rows.items() if k not in ("BACKEND", "FRONTEND"))
        return servers + rows["BACKEND"]["qcur"]

    def settle(self, backend: str, left: int, released: int) -> None:
        """After ``released`` answers: wait until ``left`` requests remain on ``backend`` and every
        one the balancer sent to a server has reached it (nothing is moving any more)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = self.rows(backend)
            servers = [r for k, r in rows.items() if k not in ("BACKEND", "FRONTEND")]
            if self.placed(rows) == left and len(self.arrivals) == released + sum(r["scur"] for r in servers):
                return
            time.sleep(0.005)
        raise AssertionError(f"{self.name}: {backend} did not settle ({released} released, {left} left)")

    def wait_arrivals(self, n: int) -> None:
        deadline = time.monotonic() + 10
        while len(self.arrivals) < n and time.monotonic() < deadline:
            time.sleep(0.005)

    def wait_idle(self, backend: str) -> None:
        """Release everything ``backend``'s gates hold until nothing is in flight nor queued there
        (a closed session leaves a moment later)."""
        key = backend[2:]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for name, g in self.gates.items():
                if name.startswith(key + "/"):
                    g.release_all()
            rows = self.rows(backend)
            if all(r["scur"] == 0 and r["qcur"] == 0 for r in rows.values()):
                return
            time.sleep(0.005)
        raise AssertionError(f"{self.name}: requests stay on {backend}")


# ----- scenarios: name -> backend lines ({g1}.. = gated servers, {f1}.. = fast servers)
SCENARIOS = {
    "srvq": ["balance uri", "hash-type consistent", "server s1 {g1} maxconn 1", "server s2 {g2} maxconn 1"],
    "redisp": ["balance uri", "hash-type consistent", "option redispatch", "server s1 {g1} maxconn 1",
               "server s2 {g2} maxconn 1"],
    "beq": ["balance roundrobin", "server s1 {g1} maxconn 1", "server s2 {g2} maxconn 1"],
    "lcq": ["balance leastconn", "server s1 {g1} maxconn 2", "server s2 {g2} maxconn 1"],
    "alldown": ["balance roundrobin", "server s1 {g1} maxconn 1"],
    "lcmq": ["balance leastconn", "server s1 {g1} maxconn 1 maxqueue 2", "server s2 {g2} maxconn 1 maxqueue 2"],
    "hbf": ["balance uri", "hash-type consistent", "hash-balance-factor 150"]
    + [f"server s{i} {{g{i}}}" for i in (1, 2, 3, 4)],
    "rnd": ["balance random(2)", "server s1 {g1}"] + [f"server s{i} {{f{i}}}" for i in (2, 3, 4)],
    "rnd1": ["balance random(1)", "server s1 {g1}"] + [f"server s{i} {{f{i}}}" for i in (2, 3, 4)],
    "map": ["balance uri", "hash-type map-based"] + [f"server s{i} {{f{i}}}" for i in (1, 2, 3, 4)],
    "chash": ["balance uri", "hash-type consistent"] + [f"server s{i} {{f{i}}}" for i in (1, 2, 3, 4)],
}


def build(side: Side, ports: dict[str, int]) -> str:
    """Each scenario gets its own gated/fast listeners, so no scenario disturbs another."""
    text = DEFAULTS
    for key, lines in SCENARIOS.items():
        subst = {}
        for i in (1, 2, 3, 4):
            for kind, hold in (("g", True), ("f", False)):
                if f"{{{kind}{i}}}" in "".join(lines):
                    gate = Gate(f"s{i}", side.arrivals if key not in ("map", "chash") else [], side.lock, hold)
                    side.gates[f"{key}/s{i}"] = gate
                    subst[f"{kind}{i}"] = f"127.0.0.1:{gate.port}"
        text += (f"frontend f_{key}\n    bind 127.0.0.1:{ports[key]}\n    default_backend b_{key}\n"
                 f"backend b_{key}\n" + "".join(f"    {line.format(**subst)}\n" for line in lines))
    return text


@pytest.fixture(scope="module")
def sides(haproxy_bin):
    hx, lb = Side("haproxy"), Side("engine")
    started: list = []
    try:
        for attempt in range(3):
            ports = free_ports(2 * len(SCENARIOS))
            hx.ports = dict(zip(SCENARIOS, ports[0::2]))
            lb.ports = dict(zip(SCENARIOS, ports[1::2]))
            try:
                hx_text, lb_text = build(hx, hx.ports), build(lb, lb.ports)
                started = start_together((HAProxy.from_text(hx_text, "queues.cfg", binary=haproxy_bin),
                                          Balancer.from_text(lb_text)))
                break
            except (PortInUseError, ServerStartError):
                for g in list(hx.gates.values()) + list(lb.gates.values()):
                    g.close()
                hx.gates.clear()
                lb.gates.clear()
                if attempt == 2:
                    raise
        hx.target, lb.target = started
        yield hx, lb
    finally:
        for proc in reversed(started):
            proc.stop()
        gates = list(hx.gates.values()) + list(lb.gates.values())
        for g in gates:  # all accept loops stop together, instead of one 0.2 s poll after another
            g.stopping.set()
            g.release_all()
        for g in gates:
            g.close()


def run_queue_script(side: Side, key: str, paths: list[str], release: list[str]):
    """Send ``paths`` one by one (each placed before the next), note the queue stats, then release
    the held requests server by server (``release``: server names, in order). Returns what each
    server received in order, the stats while everything waited, and each client's answer."""
    side.arrivals.clear()
    backend = f"b_{key}"
    out: dict = {}
    threads = []
    for i, path in enumerate(paths):
        threads.append(send(side.ports[key], path, out, i))
        side.wait_placed(backend, i + 1)
    rows = side.wait_placed(backend, len(paths))
    waiting = {k: (r["scur"], r["qcur"], r["qmax"]) for k, r in rows.items()}
    for done, name in enumerate(release, 1):
        side.gates[f"{key}/{name}"].release()
        side.settle(backend, len(paths) - done, done)
    side.wait_idle(backend)
    for t in threads:
        t.join(10)
    final = {k: r["qmax"] for k, r in side.rows(backend).items()}
    return list(side.arrivals), waiting, [out.get(i) for i in range(len(paths))], final


def both(sides, *args):
    return [run_queue_script(s, *args) for s in sides]


def test_a_full_server_queues_the_requests_assigned_to_it(sides):
    """balance uri: /a, /c go to one server, /b to the other (same ring on both sides). Requests for a
    full server wait in ITS queue (server qcur), the backend's queue stays empty, and they get in in
    their order of arrival."""
    paths = ["/a", "/b", "/c", "/d", "/e", "/f", "/a", "/b"]
    (ha, hw, hout, hq), (ea, ew, eout, eq) = both(sides, "srvq", paths, ["s1", "s2", "s1", "s2", "s1", "s2"])
    assert ea == ha, (ha, ea)
    assert ew == hw
    assert eout == hout and all(o and o.startswith("s") for o in hout), hout
    assert eq == hq
    assert hw["BACKEND"][1] == 0 and hw["s1"][1] + hw["s2"][1] == len(paths) - 2  # all in server queues


def test_requests_no_server_can_take_wait_in_the_backend_queue(sides):
    """roundrobin, two servers at maxconn 1: requests 3..6 wait in the backend's queue and go, oldest
    first, to whichever server frees a slot (not to the algorithm's next pick)."""
    paths = [f"/r{i}" for i in range(1, 7)]
    (ha, hw, hout, hq), (ea, ew, eout, eq) = both(sides, "beq", paths, ["s2", "s2", "s1", "s2"])
    assert ea == ha
    assert ew == hw and hw["BACKEND"][1] == 4 and hw["s1"][1] == hw["s2"][1] == 0
    assert eout == hout and eq == hq


def test_a_server_going_down_hands_its_queue_back_with_option_redispatch(sides):
    """Two requests for the same URI: one served by its server, one waiting in that server's queue.
    The server goes into maintenance: with option redispatch the waiting request is balanced again
    (pendconn_redistribute) and reaches the other server at once."""
    result = []
    for side in sides:
        side.arrivals.clear()
        out: dict = {}
        threads = [send(side.ports["redisp"], "/a", out, i) for i in range(1)]
        side.wait_placed("b_redisp", 1)
        first = side.wait_arrivals(1) or side.arrivals[0][0]
        threads.append(send(side.ports["redisp"], "/a", out, 1))
        rows = side.wait_placed("b_redisp", 2)
        queued = rows[first]["qcur"]
        side.target.disable(f"b_redisp/{first}")
        side.wait_arrivals(2)
        side.target.enable(f"b_redisp/{first}")
        side.wait_idle("b_redisp")
        for t in threads:
            t.join(10)
        counted = {k: (r["wredis"], r["wretr"], r["lbtot"]) for k, r in side.rows("b_redisp").items()}
        result.append((queued, [name for name, _ in side.arrivals], counted))
    (hq, ha, hc), (eq, ea, ec) = result
    assert hq == 1 and len(set(ha)) == 2  # the oracle: queued at the first server, then served by the other
    assert (eq, ea) == (hq, ha)
    assert ec == hc  # the move counts as a redispatch away from the server that went down


def test_requests_stay_queued_while_no_server_is_usable(sides):
    """The only server goes into maintenance while one request holds its slot and two wait in the
    backend's queue: they keep waiting (a 503 would only come with ``timeout queue``), and when the
    server is back they get in (pendconn_grab_from_px)."""
    result = []
    for side in sides:
        side.arrivals.clear()
        out: dict = {}
        threads = [send(side.ports["alldown"], "/held", out, 0)]
        side.wait_arrivals(1)
        for i in (1, 2):
            threads.append(send(side.ports["alldown"], f"/q{i}", out, i))
            side.wait_placed("b_alldown", 1 + i)
        side.target.disable("b_alldown/s1")
        waiting = []
        for _ in range(3):  # HAProxy keeps them: the same queue, seen three times over 0.3 s
            time.sleep(0.1)
            waiting.append((side.rows("b_alldown")["BACKEND"]["qcur"], len(out)))
        side.target.enable("b_alldown/s1")
        side.gates["alldown/s1"].release()
        side.wait_idle("b_alldown")
        for t in threads:
            t.join(10)
        result.append((waiting, [out.get(i) for i in range(3)], [p for _, p in side.arrivals]))
    (hw, hout, ha), (ew, eout, ea) = result
    assert hw == [(2, 0)] * 3 and hout == ["s1 /held", "s1 /q1", "s1 /q2"]  # the oracle
    assert (ew, eout, ea) == (hw, hout, ha)


def test_leastconn_with_maxconn_fills_by_load_then_queues(sides):
    paths = [f"/l{i}" for i in range(1, 7)]
    (ha, hw, hout, hq), (ea, ew, eout, eq) = both(sides, "lcq", paths, ["s1", "s2", "s2"])
    assert ea == ha and ew == hw and eout == hout and eq == hq


def test_leastconn_with_maxqueue_queues_on_the_servers_until_their_queues_are_full(sides):
    """lb_fwlc.c: with maxqueue, leastconn still picks a server at its maxconn while its queue has
    room, so requests wait in the servers' queues; the seventh finds both full: the backend's queue.
    Joining a queue does not move a server in leastconn's tree: /q3 and /q4 both go to s1."""
    paths = [f"/q{i}" for i in range(1, 8)]
    (ha, hw, hout, hq), (ea, ew, eout, eq) = both(sides, "lcmq", paths, ["s1", "s2", "s1", "s2", "s1"])
    assert ea == ha and ew == hw and eout == hout and eq == hq
    assert hw["s1"][1] == hw["s2"][1] == 2 and hw["BACKEND"][1] == 1  # the oracle did so


def test_hash_balance_factor_caps_a_hot_key(sides):
    """hash-balance-factor 150, one hot URI held open 12 times: the key's server takes requests until
    it holds its bounded share, then the next servers clockwise take the rest (deterministic)."""
    result = []
    for side in sides:
        side.arrivals.clear()
        out: dict = {}
        threads = []
        for i in range(12):
            threads.append(send(side.ports["hbf"], "/hot", out, i))
            side.wait_placed("b_hbf", i + 1)
            side.wait_arrivals(i + 1)
        result.append([name for name, _p in side.arrivals])
        side.wait_idle("b_hbf")
        for t in threads:
            t.join(10)
    want, got = result
    assert got == want
    counts = {s: want.count(s) for s in set(want)}
    assert len(counts) > 1 and max(counts.values()) <= 5  # ceil(12 x 1.5 / 4) = 5: the hot server is capped


def test_random_two_draws_avoid_a_busy_server(sides):
    """s1 holds every request; s2..s4 answer at once. Sequential requests: with random(1) s1 gets its
    ring share (about 1/4); with random(2) a busy s1 wins only when both draws land on it (about its
    share squared). Tolerance: 5 standard deviations of a binomial over the requests sent."""
    n = 240
    shares = {}
    for key in ("rnd", "rnd1"):
        for side in sides:
            side.arrivals.clear()
            out: dict = {}
            threads = []
            for i in range(n):  # sequential: each waits for the previous to be answered or held by s1
                threads.append(send(side.ports[key], "/", out, i))
                side.wait_arrivals(i + 1)
                if side.arrivals[-1][0] != "s1":
                    threads[-1].join(10)
            shares[(key, side.name)] = sum(1 for name, _ in side.arrivals if name == "s1") / n
            side.gates[f"{key}/s1"].release_all()
            for t in threads:
                t.join(10)
    ring = hashing.Ring()
    for sid in (1, 2, 3, 4):
        ring.set(f"s{sid}", sid, 16)
    p1 = ring_share(ring, "s1")
    for key, p in (("rnd1", p1), ("rnd", p1 * p1)):
        tol = 5 * (p * (1 - p) / n) ** 0.5 + 1 / n
        for name in ("haproxy", "engine"):
            assert abs(shares[(key, name)] - p) <= tol, (key, name, shares, p)


def ring_share(ring: hashing.Ring, name: str, samples: int = 20000) -> float:
    """The fraction of the 32-bit space whose nearest point belongs to ``name`` (sampled evenly)."""
    step = (1 << 32) // samples
    return sum(1 for i in range(samples) if ring.lookup(i * step) == name) / samples


def key_map(side: Side, key: str) -> dict[str, str]:
    return {k: get(side.ports[key], k).split(" ")[0] for k in KEYS}


@pytest.mark.parametrize("key", ["map", "chash"])
def test_keys_moved_when_a_server_leaves_and_returns(sides, key):
    """300 URIs over 4 servers; s3 leaves (maint) and comes back. The exact key -> server maps agree,
    and so do the counts of keys that moved: map-based moves most keys, consistent about 1/4."""
    maps = []
    for side in sides:
        before = key_map(side, key)
        side.target.disable(f"b_{key}/s3")
        without = key_map(side, key)
        side.target.enable(f"b_{key}/s3")
        after = key_map(side, key)
        maps.append((before, without, after))
    (hb, hw, ha), (eb, ew, ea) = maps
    assert set(hb.values()) == {"s1", "s2", "s3", "s4"}
    assert (eb, ew, ea) == (hb, hw, ha)
    moved = sum(1 for k in KEYS if hb[k] != hw[k])
    assert ha == hb  # back to the same map
    if key == "map":
        assert moved > len(KEYS) // 2
    else:
        on_s3 = sum(1 for k in KEYS if hb[k] == "s3")
        assert moved == on_s3  # consistent hashing moves only the leaving server's keys
