"""DNS health checks (labsupport/course/dnshealth.py, DNSServer(health=...)) and the DNS server as a process
(labsupport/course/dnsprocess.py): an address leaves the answers after ``fall`` failed checks and comes back
after ``rise`` passed ones; when every address is down all are answered; the process starts, answers, logs,
and refuses bad arguments with one clear line. Everything runs on 127.0.0.x with real sockets."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest
from support.netns import wait_until

from labsupport.course.dnshealth import HealthChecker
from labsupport.course.dnsprocess import DNSProcess
from labsupport.course.dnsserver import DNSServer
from labsupport.errors import LabError, UsageError

ROOT = Path(__file__).resolve().parents[2]
UP, DOWN = "127.0.0.5", "127.0.0.6"


def _ask(port: int, name: str = "www.lab", ecs: str | None = None) -> list[str]:
    q = dns.message.make_query(name, "A")
    if ecs:
        address, prefix = ecs.split("/")
        q.use_edns(0, 0, 1232, options=[dns.edns.ECSOption(address, int(prefix))])
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=3)
    return [x.address for rr in r.answer for x in rr]


@pytest.fixture()
def listener():
    """A TCP listener on 127.0.0.5 (a free port); nothing listens on 127.0.0.6 at that port."""
    s = socket.socket()
    s.bind((UP, 0))
    s.listen(16)
    yield s
    s.close()


def _listen_again(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((DOWN, port))
    s.listen(16)
    return s


def test_fall_failures_take_an_address_down_and_rise_passes_bring_it_back():
    checker = HealthChecker(80, inter=1, fall=3, rise=2)
    checker.watch(["10.0.0.1"])
    assert checker.up("10.0.0.1") and checker.status("10.0.0.1") == "UP"
    assert checker.record("10.0.0.1", False, "connection refused") is None
    assert checker.record("10.0.0.1", False, "connection refused") is None
    assert checker.status("10.0.0.1") == "UP 1/3"
    assert checker.record("10.0.0.1", False, "connection refused") == "DOWN"
    assert not checker.up("10.0.0.1")
    assert checker.record("10.0.0.1", True) is None and checker.status("10.0.0.1") == "DOWN 1/2"
    assert checker.record("10.0.0.1", True) == "UP" and checker.up("10.0.0.1")
    assert [e["state"] for e in checker.events()] == ["DOWN", "UP"]
    assert "3 checks failed" in str(checker.changes()) and "connection refused" in str(checker.changes())
    assert checker.up("10.9.9.9")  # never watched: always answered


def test_check_addr_checks_a_relay_at_the_balancer_behind_it():
    checker = HealthChecker(80, fall=1, addr={"10.0.1.202": "10.0.2.10"})
    checker.watch(["10.0.1.202", "10.0.2.10"])
    assert checker.target("10.0.1.202") == "10.0.2.10"
    checker.record("10.0.2.10", False, "timeout")
    assert not checker.up("10.0.1.202") and not checker.up("10.0.2.10")
    assert "1 addresses" in repr(checker)


def test_a_dead_address_is_left_out_then_back_and_all_down_answers_all(listener):
    port = listener.getsockname()[1]
    health = {"port": port, "inter": 0.1, "fall": 2, "rise": 2, "timeout": 0.5}
    with DNSServer({"www.lab.": [UP, DOWN]}, ttl=1, order="fixed", health=health) as server:
        assert _ask(server.port) in ([UP, DOWN], [UP])  # before fall checks failed, or just after
        wait_until("127.0.0.6 DOWN", lambda: not server.health.up(DOWN))
        assert server.health.events()[0]["rule"] == "2 checks failed"
        assert _ask(server.port) == [UP]
        again = _listen_again(port)
        try:
            wait_until("127.0.0.6 back UP", lambda: server.health.up(DOWN))
            assert _ask(server.port) == [UP, DOWN]
        finally:
            again.close()
        listener.close()
        wait_until("both DOWN", lambda: not server.health.up(UP) and not server.health.up(DOWN))
        assert _ask(server.port) == [UP, DOWN]  # all down: all answered, as if unchecked (PowerDNS's fallback)
        log = str(server.health_log())
        assert "DOWN" in log and "UP" in log and "connection refused" in log


def test_views_and_pick_first_answer_the_nearest_healthy_region(listener):
    port = listener.getsockname()[1]
    regions = {"europe": "10.1.0.0/16", "america": "10.2.0.0/16"}
    views = {"europe": {"www.lab.": [DOWN, UP]}, "america": {"www.lab.": [UP, DOWN]}}
    health = {"port": port, "inter": 0.1, "fall": 1, "rise": 1}
    with DNSServer({"www.lab.": [UP, DOWN]}, regions=regions, views=views, pick="first", health=health) as server:
        assert _ask(server.port, ecs="10.2.0.0/24") == [UP]
        wait_until("127.0.0.6 DOWN", lambda: not server.health.up(DOWN))
        assert _ask(server.port, ecs="10.1.0.0/24") == [UP]  # europe's first choice is down: the next
        assert _ask(server.port, ecs="10.3.0.0/24") == [UP]  # no region: the zone's list, first healthy


def test_bad_health_and_view_settings_are_refused_plainly():
    with pytest.raises(UsageError, match="fall 0: give a whole number from 1 up"):
        HealthChecker(80, fall=0)
    with pytest.raises(UsageError, match="port 70000"):
        HealthChecker(70000)
    with pytest.raises(LabError, match="unknown pick 'best'"):
        DNSServer(pick="best")
    with pytest.raises(LabError, match="view for region 'mars': no such region"):
        DNSServer(views={"mars": {"shop.lab.": ["127.0.0.2"]}})
    with pytest.raises(LabError, match="www.lab. is not in the zone"):
        DNSServer(regions={"europe": "10.1.0.0/16"}, views={"europe": {"www.lab.": ["127.0.0.2"]}})
    with pytest.raises(LabError, match="health: .*unexpected keyword argument 'every'"):
        DNSServer(health={"port": 80, "every": 1})


def test_without_health_nothing_changes():
    with DNSServer(ttl=30, order="cyclic") as server:
        assert server.health is None
        assert _ask(server.port, "shop.lab") == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        assert _ask(server.port, "shop.lab") == ["127.0.0.3", "127.0.0.4", "127.0.0.2"]
        assert "no health checks" in str(server.health_log())


def test_the_process_starts_answers_and_logs_queries_and_health_changes(listener):
    port = listener.getsockname()[1]
    proc = DNSProcess(None, zone={"www.lab.": [UP, DOWN]}, ttl=2, order="fixed",
                      health={"port": port, "inter": 0.1, "fall": 2, "rise": 2})
    try:
        dns_port = int(proc.address.rsplit(":", 1)[1])
        assert proc.running and proc.health == {"port": port, "inter": 0.1, "fall": 2, "rise": 2}
        proc.wait_for(lambda e: e.get("event") == "health" and e["address"] == DOWN and e["state"] == "DOWN",
                      10, "DOWN for 127.0.0.6")
        assert _ask(dns_port) == [UP]
        query = proc.wait_for(lambda e: e.get("event") == "query", 10, "query")
        assert query["client"] == "127.0.0.1" and query["answer"] == UP and query["ttl"] == 2
        proc.set_ttl(30)
        r = dns.query.udp(dns.message.make_query("www.lab", "A"), "127.0.0.1", port=dns_port, timeout=3)
        assert r.answer[0].ttl == 30
        assert "127.0.0.6" in str(proc.health_log()) and "www.lab." in str(proc.log())
        with pytest.raises(LabError, match="TTL -1"):
            proc.set_ttl(-1)
    finally:
        proc.stop()
    assert not proc.running


@pytest.mark.parametrize("args, message", [
    (["--ttl", "x"], "argument --ttl: invalid int value: 'x'"),
    (["--listen", "nowhere"], "listen 'nowhere': expected ADDRESS:PORT"),
    (["--record", "www.lab"], "--record 'www.lab': expected NAME=ADDRESS"),
    (["--record", "www.lab=1.2.3"], "'1.2.3' is not an IP address"),
    (["--inter", "1"], "--inter, --fall and --rise set the health checks: give --check-port too"),
    (["--config-json", "{\"zones\": {}}"], "unknown config key 'zones'"),
    (["--config-json", "[1"], "--config-json: not JSON"),
    (["--config", "/nonexistent/dns.json"], "--config /nonexistent/dns.json: No such file or directory"),
    (["--check-port", "80", "--fall", "0"], "fall 0: give a whole number from 1 up"),
])
def test_bad_arguments_give_one_clear_line(args, message):
    done = subprocess.run([sys.executable, "-m", "labsupport.course.dnsprocess", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("dnsprocess: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1


def test_the_wrapper_reports_a_failed_start_plainly():
    with pytest.raises(LabError, match=r"did not start: .*'1\.2\.3' is not an IP address"):
        DNSProcess(None, zone={"www.lab.": ["1.2.3"]})
    with pytest.raises(UsageError, match="unknown setting 'zones'"):
        DNSProcess(None, zones={})
