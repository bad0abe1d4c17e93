"""The bundled engine against real HAProxy 2.6 (the oracle): same config text, same requests, same answers.

One haproxy process serves every backend (listeners ``s1``..``s5`` answering their own name with
``http-request return``); one real haproxy and one engine each run the same big config -- a
frontend/backend pair per scenario, so no test disturbs another's balancing state -- on different
ports (``port_map``). Every request opens a new connection and says ``Connection: close``, so the
sequence of server names is deterministic on both sides (tests/vectors/algorithms.md section 0).
"""
from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.procs import start_together
from support.rawclient import read_response, request, server_of
from support.rawserver import MisbehavingServer

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv
from labsupport.errors import PortInUseError, ServerStartError

# "algo+consistent" adds ``hash-type consistent`` (dynamic weights; map-based hashing is static like static-rr)
ALGORITHMS = ("roundrobin", "static-rr", "leastconn", "source", "uri", "first", "source+consistent",
              "uri+consistent")
STATIC = ("static-rr", "source", "uri")
WEIGHT_SETS = ((1, 1, 1), (4, 1, 1), (3, 2, 1), (1, 2, 3), (2, 2, 1, 1), (5, 3, 2))
SOURCES = [f"127.0.0.{i}" for i in range(1, 9)]
PATHS = ["/", "/a", "/b", "/c", "/index.html", "/img/logo.png", "/img/bg.png", "/api/v1/users",
         "/api/v1/users/7", "/x?y=1", "/x?y=2", "/search?q=haproxy", "/static/app.js", "/static/app.css",
         "/favicon.ico", "/health", "/info", "/about", "/blog/2024/01", "/blog/2024/02", "/z", "/zz",
         "/deep/er/path/than/usual", "/UPPER"]
N = 24  # requests per sequence
# a fixed global maxconn: haproxy otherwise derives it from `ulimit -n`, and slim (the limits) follow it
DEFAULTS = ("global\n    maxconn 500\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n")


class Scenario:
    """One frontend/backend pair of the shared config, reachable on haproxy's and the engine's port."""

    def __init__(self, key: str, lines: list[str], extra_be: list[str] | None = None) -> None:
        self.key, self.lines, self.extra_be = key, lines, extra_be or []
        self.engine_port = self.haproxy_port = 0

    @property
    def backend(self) -> str:
        return f"b_{self.key}"

    def text(self) -> str:
        return (f"frontend f_{self.key}\n    bind 127.0.0.1:{self.engine_port}\n    default_backend {self.backend}\n"
                f"backend {self.backend}\n" + "".join(f"    {line}\n" for line in self.extra_be + self.lines))


def key_of(algo: str, weights: tuple[int, ...]) -> str:
    return f"{algo.replace('-', '').replace('+', '_')}_{'_'.join(map(str, weights))}"


def balance_lines(algo: str) -> list[str]:
    name, _, hash_type = algo.partition("+")
    return [f"balance {name}"] + ([f"hash-type {hash_type}"] if hash_type else [])


def servers(ports: list[int], weights: tuple[int, ...], extra: str = "") -> list[str]:
    return [f"server s{i} 127.0.0.1:{ports[i - 1]} weight {w}{extra}" for i, w in enumerate(weights, 1)]


# ----- the shared processes
def build_scenarios(be_ports: list[int], bad_port: int, silent_port: int, dead_port: int,
                    hold_ports: list[int]) -> dict[str, Scenario]:
    scenarios: dict[str, Scenario] = {}
    for algo in ALGORITHMS:
        for w in WEIGHT_SETS:
            scenarios[key_of(algo, w)] = Scenario(key_of(algo, w), balance_lines(algo) + servers(be_ports, w))
            # a twin for the runtime changes, so the plain sequence tests never see a changed state
            scenarios["rt_" + key_of(algo, w)] = Scenario("rt_" + key_of(algo, w),
                                                          balance_lines(algo) + servers(be_ports, w))
    scenarios["stats"] = Scenario("stats", ["balance roundrobin"] + servers(be_ports, (3, 2, 1)))
    scenarios["all_maint"] = Scenario("all_maint", servers(be_ports, (1, 1), " disabled"))
    scenarios["no_server"] = Scenario("no_server", [])
    scenarios["bad_gateway"] = Scenario("bad_gateway", [f"server s1 127.0.0.1:{bad_port}"])
    scenarios["timeout"] = Scenario("timeout", ["timeout server 300ms", f"server s1 127.0.0.1:{silent_port}"])
    scenarios["dead"] = Scenario("dead", [f"server s1 127.0.0.1:{dead_port}"])
    scenarios["redispatch"] = Scenario("redispatch", ["balance roundrobin", "option redispatch",
                                                      f"server s1 127.0.0.1:{dead_port}",
                                                      f"server s2 127.0.0.1:{be_ports[1]}"])
    backups = [f"server s1 127.0.0.1:{be_ports[0]}", f"server s2 127.0.0.1:{be_ports[1]} backup",
               f"server s3 127.0.0.1:{be_ports[2]} weight 3 backup", f"server s4 127.0.0.1:{be_ports[3]} backup"]
    scenarios["backup"] = Scenario("backup", ["balance roundrobin"] + backups)
    scenarios["allbackups"] = Scenario("allbackups", ["balance roundrobin", "option allbackups"] + backups)
    scenarios["lc_hold"] = Scenario("lc_hold", ["balance leastconn", "timeout server 10s"] + [
        f"server s{i} 127.0.0.1:{p} weight {w}" for i, (p, w) in enumerate(zip(hold_ports, (2, 1)), 1)])
    # twins of the error scenarios for the counters test: hit exactly once, whichever tests ran
    for key in ("all_maint", "bad_gateway", "timeout"):
        scenarios["stats_" + key] = Scenario("stats_" + key, scenarios[key].lines)
    return scenarios


def start_all(haproxy_bin: str, bad_port: int, silent_port: int, dead_port: int, hold_ports: list[int]):
    """Choose ports, start the backends, haproxy and the engine; [backends, haproxy, engine], scenarios."""
    be_ports = free_ports(5)
    backends_cfg = DEFAULTS + "".join(
        f"listen s{i}\n    bind 127.0.0.1:{p}\n    http-request return status 200 content-type text/plain string s{i}\n"
        for i, p in enumerate(be_ports, 1))
    scenarios = build_scenarios(be_ports, bad_port, silent_port, dead_port, hold_ports)
    ports = free_ports(2 * len(scenarios))
    for i, sc in enumerate(scenarios.values()):
        sc.engine_port, sc.haproxy_port = ports[2 * i], ports[2 * i + 1]
    text = DEFAULTS + "".join(sc.text() for sc in scenarios.values())
    port_map = {sc.engine_port: sc.haproxy_port for sc in scenarios.values()}
    started = start_together((HAProxy.from_text(backends_cfg, "backends.cfg", binary=haproxy_bin),
                              HAProxy.from_text(text, "differential.cfg", port_map=port_map, binary=haproxy_bin),
                              Balancer.from_text(text)))
    return started, scenarios


@pytest.fixture(scope="module")
def lab(haproxy_bin):
    """Backends s1..s5, misbehaving servers, and every scenario on real haproxy and on the engine."""
    garbage, silent = MisbehavingServer("garbage"), MisbehavingServer("silent")
    arrivals: list[str] = []
    holders = [MisbehavingServer("silent", arrivals, f"s{i}") for i in (1, 2)]
    dead = socket.socket()  # bound and never listening: connections to it are refused, and nobody can take it
    dead.bind(("127.0.0.1", 0))
    started: list = []
    try:
        for attempt in range(3):  # another program may take a chosen port before we bind it: choose again
            try:
                started, scenarios = start_all(haproxy_bin, garbage.port, silent.port, dead.getsockname()[1],
                                               [h.port for h in holders])
                break
            except (PortInUseError, ServerStartError):
                if attempt == 2:
                    raise
        _, hx, lb = started
        scenarios["lc_hold"].arrivals, scenarios["lc_hold"].holders = arrivals, holders
        yield hx, lb, scenarios
    finally:
        for proc in reversed(started):
            proc.stop()
        for h in holders:
            h.close()
        garbage.close()
        silent.close()
        dead.close()


def idle(target, backend: str) -> None:
    """Wait until no session is open on ``backend``'s servers. leastconn picks by open sessions, and a
    proxy closes a finished session a moment after the client has read its last byte: without this
    wait haproxy's own leastconn order varies from run to run."""
    for _ in range(500):  # bounded: ~1 s at most
        if isinstance(target, HAProxy):  # the filtered 'show stat' answers in well under a millisecond
            rows = parse_stat_csv(target.command(f"show stat {backend} 4 -1"))
        else:
            rows = target.snapshot()["servers"]
        if all(r["scur"] == 0 for r in rows if r["pxname"] == backend):
            return
        time.sleep(0.002)
    raise AssertionError(f"sessions stay open on {backend}")


def sequence(port: int, algo: str, n: int, start: int = 0, settle=None) -> list[str]:
    """Who answers n sequential requests; source cycles client addresses, uri cycles paths.
    ``settle`` is called before each request (see idle())."""
    out = []
    for i in range(start, start + n):
        src = SOURCES[i % len(SOURCES)] if algo.startswith("source") else "127.0.0.1"
        path = PATHS[i % len(PATHS)] if algo.startswith("uri") else "/"
        if settle is not None:
            settle()
        out.append(server_of(request(port, path, src)))
    return out


def both(lab, key: str, algo: str, n: int, start: int = 0) -> tuple[list[str], list[str]]:
    """The same n requests through haproxy, then through the engine."""
    hx, lb, scenarios = lab
    sc = scenarios[key]
    sides = []
    for port, target in ((sc.haproxy_port, hx), (sc.engine_port, lb)):
        settle = (lambda t=target: idle(t, sc.backend)) if algo == "leastconn" else None
        sides.append(sequence(port, algo, n, start, settle))
    return sides[0], sides[1]


# ----- server sequences
@pytest.mark.parametrize("weights", WEIGHT_SETS, ids=lambda w: "w" + "-".join(map(str, w)))
@pytest.mark.parametrize("algo", ALGORITHMS)
def test_same_server_sequence(lab, algo, weights):
    want, got = both(lab, key_of(algo, weights), algo, N)
    assert set(want) <= {f"s{i}" for i in range(1, len(weights) + 1)}, want  # the oracle itself answered
    assert got == want, f"{algo} {weights}: haproxy {want}, engine {got}"


# Runtime steps: (what, server, argument). Static algorithms accept only 0 or the initial weight.
def runtime_steps(algo: str, weights: tuple[int, ...]) -> list[tuple[str, str, object]]:
    new_weight = 0 if algo in STATIC else (weights[0] % 5) + 2
    last = f"s{len(weights)}"
    return [("weight", "s1", new_weight), ("disable", "s2", None), ("state", last, "drain"),
            ("enable", "s2", None), ("state", last, "ready"), ("weight", "s1", weights[0])]


@pytest.mark.parametrize("weights", WEIGHT_SETS, ids=lambda w: "w" + "-".join(map(str, w)))
@pytest.mark.parametrize("algo", ALGORITHMS)
def test_same_sequence_across_runtime_changes(lab, algo, weights):
    """set weight, disable, drain, enable, ready, weight back: applied on both between requests."""
    hx, lb, scenarios = lab
    key = "rt_" + key_of(algo, weights)
    sc = scenarios[key]
    want, got = both(lab, key, algo, 6)
    done = 6
    for what, srv, arg in runtime_steps(algo, weights):
        name = f"{sc.backend}/{srv}"
        for target in (hx, lb):
            if what == "weight":
                target.set_weight(name, arg)
            elif what == "state":
                target.set_state(name, arg)
            else:
                getattr(target, what)(name)
        more = both(lab, key, algo, 8, done)
        want += [f"|{what} {srv} {arg}|"] + more[0]
        got += [f"|{what} {srv} {arg}|"] + more[1]
        done += 8
    assert got == want, f"{algo} {weights}:\nhaproxy {' '.join(want)}\nengine  {' '.join(got)}"


def test_leastconn_with_requests_held_open(lab):
    """leastconn 2,1 with 5 requests held open together: haproxy gives s1 s2 s1 s1 s2
    (tests/vectors/algorithms.md section 0)."""
    hx, lb, scenarios = lab
    sc = scenarios["lc_hold"]
    arrivals: list[str] = sc.arrivals
    seen = {}
    for side, port in (("haproxy", sc.haproxy_port), ("engine", sc.engine_port)):
        arrivals.clear()
        clients = []
        try:
            for i in range(5):
                c = socket.create_connection(("127.0.0.1", port), 5)
                clients.append(c)
                c.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
                for _ in range(500):  # bounded: until the request reached a server
                    if len(arrivals) > i:
                        break
                    time.sleep(0.005)
            seen[side] = list(arrivals)
        finally:
            for c in clients:
                c.close()
            for h in sc.holders:  # haproxy waits for the server even after the client left
                h.drop()
        idle(hx if side == "haproxy" else lb, sc.backend)
    assert seen["haproxy"] == ["s1", "s2", "s1", "s1", "s2"]
    assert seen["engine"] == seen["haproxy"]


@pytest.mark.parametrize("algo", STATIC)
def test_static_algorithms_refuse_a_new_weight_with_haproxys_message(lab, algo):
    hx, lb, scenarios = lab
    key = key_of(algo, (3, 2, 1))
    name = f"{scenarios[key].backend}/s1"
    with pytest.raises(ValueError) as real:
        hx.set_weight(name, 2)
    with pytest.raises(ValueError) as ours:
        lb.set_weight(name, 2)
    reply = str(real.value).split(": ", 1)[1]  # "haproxy refused '<cmd>': <reply>"
    assert str(ours.value).strip() == reply.strip()
    want, got = both(lab, key, algo, 6)  # and the refused change changed nothing
    assert got == want


# ----- error pages, byte for byte
@pytest.mark.parametrize("key", ["all_maint", "no_server"])
@pytest.mark.parametrize("close", [True, False], ids=["close", "keepalive"])
def test_503_page_is_byte_identical(lab, key, close):
    hx, lb, scenarios = lab
    sc = scenarios[key]
    want, got = request(sc.haproxy_port, close=close), request(sc.engine_port, close=close)
    assert want.startswith(b"HTTP/1.1 503 ")
    assert got == want


def test_503_keepalive_connection_then_close(lab):
    """Without 'Connection: close' the connection stays open on both; the next request on it closes it."""
    hx, lb, scenarios = lab
    sc = scenarios["all_maint"]
    replies = []
    for port in (sc.haproxy_port, sc.engine_port):
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
            first = read_response(s, until_eof=False)
            s.sendall(b"GET /again HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
            replies.append((first, read_response(s, until_eof=True)))
    assert replies[1] == replies[0]


@pytest.mark.parametrize("key,status", [("bad_gateway", b"502"), ("timeout", b"504")])
def test_502_and_504_pages_are_byte_identical(lab, key, status):
    hx, lb, scenarios = lab
    sc = scenarios[key]
    want, got = request(sc.haproxy_port), request(sc.engine_port)
    assert want.startswith(b"HTTP/1.1 " + status)
    assert got == want


def test_dead_server_without_check_gives_503_after_three_retries(lab):
    """Three retries, 1 s apart, then the 503: both sides in parallel, so the test takes ~3 s."""
    hx, lb, scenarios = lab
    sc = scenarios["dead"]

    def timed(port: int) -> tuple[bytes, float]:
        t0 = time.monotonic()
        return request(port), time.monotonic() - t0

    with ThreadPoolExecutor(2) as pool:
        (want, t_hx), (got, t_lb) = pool.map(timed, (sc.haproxy_port, sc.engine_port))
    assert want.startswith(b"HTTP/1.1 503 ")
    assert got == want
    assert 2.5 <= t_hx <= 4.5 and 2.5 <= t_lb <= 4.5, f"haproxy {t_hx:.2f} s, engine {t_lb:.2f} s"
    assert not (diffs := stats_diff(lab, ["dead"])), "\n".join(diffs)  # econ 1, wretr 3, stot 4 on haproxy


def test_redispatch_hands_a_refused_connection_to_the_next_server(lab):
    """rr over a dead s1 and a live s2 with option redispatch: every request is answered by s2 at once."""
    want, got = both(lab, "redispatch", "roundrobin", 6)
    assert want == ["s2"] * 6
    assert got == want
    assert not (diffs := stats_diff(lab, ["redispatch"])), "\n".join(diffs)


@pytest.mark.parametrize("key", ["backup", "allbackups"])
def test_backup_servers_take_over_when_the_active_one_leaves(lab, key):
    hx, lb, scenarios = lab
    name = f"{scenarios[key].backend}/s1"
    want, got = both(lab, key, "roundrobin", 4)
    for target in (hx, lb):
        target.disable(name)
    w2, g2 = both(lab, key, "roundrobin", 16)
    for target in (hx, lb):
        target.enable(name)
    w3, g3 = both(lab, key, "roundrobin", 4)
    assert want + w2 + w3 == got + g2 + g3
    assert len(set(w2)) == (1 if key == "backup" else 3)  # the oracle did take over as documented


# ----- stats CSV
def test_stats_csv_header_is_haproxys(lab):
    hx, lb, _ = lab
    assert lb.stats_csv().splitlines()[0] == hx.stats_csv().splitlines()[0]


# Columns that do not depend on timing (rates, averages, lastchg) nor on how haproxy sizes its buffers
# or keeps idle server connections (bin/bout, srv_icur, h1_* byte counts).
STATS_COLUMNS = ("qcur", "scur", "stot", "dreq", "dresp", "ereq", "econ", "eresp", "wretr", "wredis",
                 "status", "weight", "act", "bck", "chkfail", "chkdown", "sid", "lbtot", "type", "check_status",
                 "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "req_tot", "cli_abrt",
                 "srv_abrt", "mode", "algo", "conn_tot", "uweight")


def stats_diff(lab, keys: list[str], columns: tuple[str, ...] = STATS_COLUMNS) -> list[str]:
    """'px/sv column: haproxy X, engine Y' for every differing STATS_COLUMNS cell of these scenarios."""
    hx, lb, scenarios = lab
    names = {f"f_{k}" for k in keys} | {scenarios[k].backend for k in keys}
    rows = {}
    for side, target in (("haproxy", hx), ("engine", lb)):
        rows[side] = {(r["pxname"], r["svname"]): r for r in parse_stat_csv(target.stats_csv())
                      if r["pxname"] in names}
    assert sorted(rows["engine"]) == sorted(rows["haproxy"])
    return [f"{k[0]}/{k[1]} {c}: haproxy {r.get(c)!r}, engine {rows['engine'][k].get(c)!r}"
            for k, r in rows["haproxy"].items() for c in columns if r.get(c) != rows["engine"][k].get(c)]


def test_stats_counters_agree_after_the_same_traffic(lab):
    hx, lb, scenarios = lab
    want, got = both(lab, "stats", "roundrobin", N)
    assert got == want
    assert not (diffs := stats_diff(lab, ["stats"])), "\n".join(diffs)
    rows = {r["svname"]: r for r in lb.snapshot()["servers"] if r["pxname"] == "b_stats"}
    assert [rows[s]["lbtot"] for s in ("s1", "s2", "s3")] == [12, 8, 4]


def test_stats_limits_agree(lab):
    """slim: the frontend's maxconn, and for a backend 10% of the maxconn of the frontends that use it
    (global maxconn 500 -> 50), not of every frontend in the file."""
    assert not (diffs := stats_diff(lab, ["stats", "no_server"], ("slim",))), "\n".join(diffs)


@pytest.mark.parametrize("key", ["all_maint", "bad_gateway", "timeout"])
def test_stats_counters_agree_after_an_error_page(lab, key):
    """One 503 (no server), 502 (garbage) or 504 (timeout server) through each side, then the counters."""
    hx, lb, scenarios = lab
    sc = scenarios["stats_" + key]
    assert request(sc.haproxy_port)[:12] == request(sc.engine_port)[:12]
    # no response came back, so haproxy leaves the response/total time averages at 0
    extra = ("rtime", "ttime", "rtime_max", "ttime_max") if key != "all_maint" else ()
    assert not (diffs := stats_diff(lab, ["stats_" + key], STATS_COLUMNS + extra)), "\n".join(diffs)
