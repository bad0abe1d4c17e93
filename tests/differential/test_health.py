"""Health checks on the engine against real HAProxy 2.6: the same config over the same Flask servers.

A server is killed and restarted, or made sick (``/health`` answers 503, or hangs), while both
balancers check it; ``StateRecorder`` polls each one's ``show stat``. Compared: the sequence of status
strings, the detection time (within one ``inter``), check_status / check_code / last_chk, the health
event lines (apart from pids and check durations), and lost requests under ``option redispatch``.
"""
from __future__ import annotations

import re
import time

import pytest
from support.procs import start_together

from labsupport.course.fleet import Fleet, free_ports
from labsupport.course.haproxy import HAProxy
from labsupport.course.traffic.generator import TrafficGenerator
from labsupport.engine.balancer import Balancer
from labsupport.lessons.health.recorder import StateRecorder, stat_rows

INTER = 300  # ms: fast enough for a test, slow enough for a busy 2-core machine
# timeout connect 10s as in the lessons' files (the retries of a refused connection wait for it)
HEAD = ("global\n    maxconn 200\ndefaults\n    mode http\n    timeout connect 10s\n    timeout client 10s\n"
        "    timeout server 10s\n")
# HAProxy's poll may catch a status string mid-change ("UP -1/3"): not a state, never in a sequence
TRANSIENT = re.compile(r" -\d+/")


@pytest.fixture(scope="module")
def fleet():
    with Fleet() as f:
        f.start(free_ports(3))
        yield f


@pytest.fixture(autouse=True)
def healthy(fleet):
    """Every test starts and ends with the three servers alive and healthy."""
    yield
    for s in fleet.servers:
        if not s.alive:
            fleet.restart(s.port)
        fleet.make_healthy(s.port)


class Pair:
    """The engine and real haproxy on one config text (haproxy's ports moved), with a recorder each."""

    def __init__(self, haproxy_bin: str, backends: str) -> None:
        ports = free_ports(2)
        self.engine_url, self.haproxy_url = (f"http://127.0.0.1:{p}/" for p in ports)
        text = HEAD + f"frontend fe\n    bind 127.0.0.1:{ports[0]}\n    default_backend b\n" + backends
        self.engine = Balancer.from_text(text)
        self.haproxy = HAProxy.from_text(text, "health.cfg", port_map={ports[0]: ports[1]}, binary=haproxy_bin)

    def __enter__(self) -> "Pair":
        start_together((self.haproxy, self.engine))
        self.recs = {"engine": StateRecorder(self.engine, interval=0.02).start(),
                     "haproxy": StateRecorder(self.haproxy, interval=0.02).start()}
        return self

    def __exit__(self, *exc) -> None:
        for r in self.recs.values():
            r.stop()
        self.engine.stop()
        self.haproxy.stop()

    def mark(self, label: str) -> None:
        for r in self.recs.values():
            r.mark(label)

    def wait(self, server: str, status: str, since: str | float = 0.0, timeout: float = 15) -> None:
        for r in self.recs.values():
            r.wait_for(server, status, since, timeout)

    def sequences(self, server: str, since: str) -> dict[str, list[str]]:
        out = {}
        for who, r in self.recs.items():
            seq = [s for s in r.sequence(server, since) if not TRANSIENT.search(s)]
            out[who] = [s for i, s in enumerate(seq) if i == 0 or s != seq[i - 1]]
        return out

    def settled_rows(self, backend: str | None = None) -> dict[str, list[tuple]]:
        """``rows``, asked again (bounded) while they differ: a poll may land while haproxy runs a check,
        which it shows as "* L7STS" with code 0 and no last_chk."""
        deadline = time.monotonic() + 5
        while (rows := self.rows(backend))["engine"] != rows["haproxy"] and time.monotonic() < deadline:
            time.sleep(0.03)
        return rows

    def rows(self, backend: str | None = None) -> dict[str, list[tuple]]:
        return {who: [(c["server"], c["status"], c["check_status"], c["check_code"], c["last_chk"])
                      for c in r.last_checks() if backend is None or c["server"].startswith(backend + "/")]
                for who, r in self.recs.items()}

    def events(self) -> dict[str, dict[str, list[str]]]:
        """Event lines by backend (backends check at their own moments, so only each one's order
        is comparable), without the pid and the check durations (timings differ)."""
        def norm(line: str) -> str:
            line = re.sub(r"^\[(\w+)\]\s+\(\d+\) : ", r"[\1] ", line)
            return re.sub(r"check duration: \d+ms", "check duration: Xms", line)
        def by_backend(lines: list[str]) -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for line in (norm(x) for x in lines if _health_line(x)):
                be = re.search(r"(?i)(?:server |backend ')([\w.-]+)[/']", line).group(1)
                out.setdefault(be, []).append(line)
            return out

        return {"engine": by_backend(self.engine.events()[0]), "haproxy": by_backend(self.haproxy.events()[0])}

    def settled_events(self) -> dict[str, dict[str, list[str]]]:
        """``events``, read again (bounded) while they differ: haproxy writes its log lines a moment after
        its stats show the change the test waited for."""
        deadline = time.monotonic() + 5
        while (ev := self.events())["engine"] != ev["haproxy"] and time.monotonic() < deadline:
            time.sleep(0.05)
        return ev

    def in_flight(self, backend: str, server: str, n: int, timeout: float = 10) -> None:
        """Wait until ``n`` requests are being served by ``backend/server`` on both sides."""
        deadline = time.monotonic() + timeout
        while True:
            scur = [next(r["scur"] for r in stat_rows(t, backend) if r["svname"] == server)
                    for t in (self.engine, self.haproxy)]
            if scur == [n, n]:
                return
            assert time.monotonic() < deadline, f"{backend}/{server}: {scur} requests in flight, not {n} on each"
            time.sleep(0.02)


def kill_both(gens: list, fleet: Fleet, port: int) -> None:
    """Kill ``port`` while both traffic generators pause with nothing in flight: no request is then
    half answered (that one would fail on both sides whatever the configuration)."""
    rates = [g.rate for g in gens]
    for g in gens:
        g.rate = 0
    deadline = time.monotonic() + 5
    while any(g.sent > len(g.records) for g in gens) and time.monotonic() < deadline:
        time.sleep(0.01)
    fleet.kill(port)
    for g, r in zip(gens, rates):
        g.rate = r


def _health_line(line: str) -> bool:
    return any(w in line for w in (" : Server ", " : Health check for ", " : backend "))


def servers(fleet: Fleet, options: str, names: str = "s") -> str:
    return "".join(f"    server {names}{i} 127.0.0.1:{p} {options}\n" for i, p in enumerate(fleet.ports, 1))


def test_kill_and_revive_same_status_strings_detection_time_and_event_lines(haproxy_bin, fleet):
    backends = (f"backend b\n{servers(fleet, f'check inter {INTER}ms')}"
                f"backend logged\n    option log-health-checks\n{servers(fleet, f'check inter {INTER}ms')}")
    victim = fleet.ports[1]
    with Pair(haproxy_bin, backends) as pair:
        for name in ("b/s1", "b/s2", "b/s3", "logged/s2"):
            pair.wait(name, "UP")
        time.sleep(INTER / 1000)  # both fully UP and past their first checks
        fleet.kill(victim)
        pair.mark("kill")
        pair.wait("b/s2", "DOWN", "kill")
        pair.wait("logged/s2", "DOWN", "kill")
        pair.mark("restart")
        fleet.restart(victim)
        pair.wait("b/s2", "UP", "restart")
        pair.wait("logged/s2", "UP", "restart")
        seqs = pair.sequences("b/s2", "kill")
        assert seqs["engine"] == ["UP", "UP 2/3", "UP 1/3", "DOWN", "DOWN 1/2", "UP"]
        assert seqs["engine"] == seqs["haproxy"]
        detect = {who: r.seconds_between("kill", "b/s2", "DOWN") for who, r in pair.recs.items()}
        assert abs(detect["engine"] - detect["haproxy"]) <= INTER / 1000 + 0.1, detect
        events = pair.settled_events()  # the UP lines reach haproxy's log file a moment later
        assert events["engine"] == events["haproxy"]
        assert any("Health check for server logged/s2 failed" in line for line in events["engine"]["logged"])
        assert events["engine"]["b"][0].startswith("[WARNING] Server b/s2 is DOWN, reason: Layer4 connection problem")


EXPECT_RULES = {
    "status": "    option httpchk GET /health\n    http-check expect status 200\n",
    "rstatus": "    option httpchk GET /health\n    http-check expect rstatus ^2\n",
    "notstatus": "    option httpchk GET /health\n    http-check expect ! status 503\n",
    "string": "    option httpchk GET /health\n    http-check expect string OK\n",
    "notrstring": "    option httpchk GET /health\n    http-check expect ! rstring sick\n",
    "send": ("    option httpchk\n    http-check send meth GET uri /health ver HTTP/1.1 hdr Host lab\n"
             "    http-check expect status 200-299\n"),
    "plain": "    option httpchk GET /health\n",
}


def test_sick_server_same_check_status_code_and_lines(haproxy_bin, fleet):
    """/health answering 503 then hanging, under seven expect rules and a plain TCP check."""
    sick = fleet.ports[2]
    only = f"    server s3 127.0.0.1:{sick} check inter {INTER}ms\n"
    backends = f"backend b\n{only}" + "".join(f"backend {k}\n{rule}{only}" for k, rule in EXPECT_RULES.items())
    backends += f"backend hang\n    timeout check 200ms\n    option httpchk GET /health\n{only}"
    names = ["b", *EXPECT_RULES, "hang"]
    with Pair(haproxy_bin, backends) as pair:
        for be in names:
            pair.wait(f"{be}/s3", "UP")
        fleet.make_sick(sick, "fail")
        pair.mark("sick")
        for be in EXPECT_RULES:
            pair.wait(f"{be}/s3", "DOWN", "sick")
        time.sleep(2 * INTER / 1000)  # the TCP check keeps passing meanwhile
        rows = pair.settled_rows()
        assert rows["engine"] == rows["haproxy"]
        by_backend = {r[0].split("/")[0]: r[1:4] for r in rows["engine"]}
        assert by_backend["b"] == ("UP", "L4OK", None)
        assert by_backend["status"] == ("DOWN", "L7STS", 503)
        assert by_backend["string"] == ("DOWN", "L7RSP", None)
        fleet.make_healthy(sick)
        pair.mark("healed")
        for be in names:
            pair.wait(f"{be}/s3", "UP", "healed")
        fleet.make_sick(sick, "hang")
        pair.mark("hang")
        for be in ("hang", *EXPECT_RULES):  # every HTTP check now waits on the hanging /health
            pair.wait(f"{be}/s3", "DOWN", "hang")
        hang = pair.settled_rows("hang")
        assert hang["engine"] == hang["haproxy"]
        assert hang["engine"][0][1:3] == ("DOWN", "L7TOUT")
        events = pair.settled_events()
        for be in names:
            got, want = events["engine"].get(be), events["haproxy"].get(be)
            assert got == want, "\n".join(["backend " + be, "engine:", *(got or []), "haproxy:", *(want or [])])


@pytest.mark.parametrize("redispatch", [True, False])
def test_lost_requests_with_check_with_and_without_redispatch(haproxy_bin, fleet, redispatch):
    """Steady traffic while a server is killed and restarted 3 s later: redispatch loses nothing on either
    side; without it, both lose the requests of the detection window (503 after the retries)."""
    option = "    option redispatch\n" if redispatch else ""
    backends = f"backend b\n{option}{servers(fleet, f'check inter {INTER}ms')}"
    victim = fleet.ports[0]
    with Pair(haproxy_bin, backends) as pair:
        for i in (1, 2, 3):
            pair.wait(f"b/s{i}", "UP")
        gens = [TrafficGenerator(url, rate=15, duration=5, timeout=8, workers=32).start()
                for url in (pair.engine_url, pair.haproxy_url)]
        time.sleep(0.5)
        kill_both(gens, fleet, victim)
        pair.mark("kill")
        pair.wait("b/s1", "DOWN", "kill")
        # back after the 3 s of retries of the requests it failed: a quicker return would answer them
        time.sleep(3.2 - pair.recs["engine"].seconds_between("kill", "b/s1", "DOWN"))
        fleet.restart(victim)
        for g in gens:
            g.wait()
        failed = [sum(1 for r in g.run() if not r.ok) for g in gens]
        sent = [len(g.run()) for g in gens]
    assert min(sent) >= 40
    if redispatch:
        assert failed == [0, 0], f"engine lost {failed[0]}, haproxy lost {failed[1]}"
    else:  # the requests sent to the dead server before DOWN: a 503 after the retries, on both
        assert failed[0] > 0 and failed[1] > 0, f"engine lost {failed[0]}, haproxy lost {failed[1]}"
        assert abs(failed[0] - failed[1]) <= 2, f"engine lost {failed[0]}, haproxy lost {failed[1]}"


@pytest.mark.parametrize("on_error", ["mark-down", "fail-check", "sudden-death"])
def test_observe_layer7_counts_real_errors_like_haproxy(haproxy_bin, fleet, on_error):
    """A server answering / with 500 while /health is fine: only passive checks notice. After
    error-limit errors in a row, on-error acts; status strings and log lines as on HAProxy."""
    port = fleet.ports[0]
    opts = f"check inter 2s observe layer7 error-limit 3 on-error {on_error}"
    backends = f"backend b\n    option log-health-checks\n    server s1 127.0.0.1:{port} {opts}\n"
    with Pair(haproxy_bin, backends) as pair:
        pair.wait("b/s1", "UP")
        fleet.set_fail_rate(port, 1)
        try:
            for url in (pair.engine_url, pair.haproxy_url):
                for _ in range(3):
                    send_one(url)
            time.sleep(0.2)
            rows = pair.settled_rows()
        finally:
            fleet.set_fail_rate(port, 0)
        assert rows["engine"] == rows["haproxy"]
        want = {"mark-down": "DOWN", "fail-check": "UP 2/3", "sudden-death": "UP 1/3"}[on_error]
        assert rows["engine"][0][1:3] == (want, "HANA")
        events = pair.events()
        assert events["engine"] == events["haproxy"]
        hana = [line for line in events["engine"]["b"] if "Health analyze" in line]
        assert hana and 'info: "Detected 3 consecutive errors, last one was: Wrong http response"' in hana[0], hana


def send_one(url: str) -> int:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        e.close()
        return e.code


@pytest.mark.parametrize("shutdown", [True, False])
def test_on_marked_down_shutdown_sessions(haproxy_bin, fleet, shutdown):
    """A slow request is in flight when its server fails its check: with 'on-marked-down
    shutdown-sessions' the client gets a 502 at once (its answer had not begun), without it the
    answer still arrives."""
    from concurrent.futures import ThreadPoolExecutor

    port = fleet.ports[0]
    extra = " on-marked-down shutdown-sessions" if shutdown else ""
    backends = (f"backend b\n    option httpchk GET /health\n"
                f"    server s1 127.0.0.1:{port} check inter {INTER}ms fall 1{extra}\n")
    with Pair(haproxy_bin, backends) as pair, ThreadPoolExecutor(2) as pool:
        pair.wait("b/s1", "UP")
        futures = [pool.submit(outcome, url + "slow?ms=2500") for url in (pair.engine_url, pair.haproxy_url)]
        pair.in_flight("b", "s1", 1)  # the slow request is with the server on both sides
        fleet.make_sick(port)
        pair.mark("sick")
        pair.wait("b/s1", "DOWN", "sick")
        got = [f.result() for f in futures]
    assert got[0] == got[1] == (502 if shutdown else 200)


def outcome(url: str):
    """200 (or another status) when an answer came, "cut" when the connection closed without one."""
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", u.path + "?" + u.query)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (http.client.RemoteDisconnected, ConnectionResetError, http.client.IncompleteRead):
        return "cut"
    finally:
        conn.close()


def test_slowstart_ramps_the_weight_like_haproxy(haproxy_bin, fleet):
    """A server back UP with 'slowstart 4s': status, weight and throttle seen every 50 ms, as HAProxy shows them."""

    port = fleet.ports[0]
    backends = (f"backend b\n    server s1 127.0.0.1:{port} check inter 200ms slowstart 4s\n"
                f"    server s2 127.0.0.1:{fleet.ports[1]} check inter 200ms\n")
    with Pair(haproxy_bin, backends) as pair:
        pair.wait("b/s1", "UP")
        fleet.kill(port)
        pair.mark("kill")
        pair.wait("b/s1", "DOWN", "kill")
        pair.mark("restart")
        fleet.restart(port)
        seen: dict[str, list] = {"engine": [], "haproxy": []}
        deadline = time.monotonic() + 15  # from the restart until both ran their whole 4 s ramp
        while time.monotonic() < deadline and not all(v[-1:] == [("UP", 1, None)] and len(v) > 1
                                                      for v in seen.values()):
            for who, target in (("engine", pair.engine), ("haproxy", pair.haproxy)):
                row = next(r for r in stat_rows(target) if r["svname"] == "s1")
                value = (row["status"], row["weight"], row["throttle"])
                if value[0] == "UP" and (not seen[who] or seen[who][-1] != value):
                    seen[who].append(value)
            time.sleep(0.03)
    assert seen["engine"] == [("UP", 1, 7), ("UP", 1, 32), ("UP", 1, 57), ("UP", 1, 82), ("UP", 1, None)]
    assert seen["engine"] == seen["haproxy"]
