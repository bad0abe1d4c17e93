"""Servers added and removed at run time, in the engine alone: the algorithms take a new server and drop a
deleted one (sequences of picks), ``ServerRT.set_addr`` words what changed, and the runtime commands answer
odd input without a traceback (their answers next to real HAProxy 2.6's: tests/differential/
test_dynamic_servers.py)."""
from __future__ import annotations

import pytest
from support.runtime_api import CONFIG

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.engine import hashing
from labsupport.engine.balance import make_algorithm
from labsupport.engine.config import Proxy, ServerConfig
from labsupport.engine.prometheus import exposition
from labsupport.engine.proxy.state import BackendRT
from labsupport.errors import UsageError

DYNAMIC = ["roundrobin", "leastconn", "first", "random", "source+consistent"]
SOURCES = [f"10.0.{i // 250}.{i % 250}" for i in range(300)]


def proxy(balance: str, weights, disabled=()) -> Proxy:
    algo, _, hashed = balance.partition("+")
    servers = tuple(ServerConfig(f"s{i}", "127.0.0.1", 8000 + i, weight=w, id=i, disabled=f"s{i}" in disabled)
                    for i, w in enumerate(weights, 1))
    return Proxy(kind="backend", name="be", balance=algo, servers=servers, hash_type=hashed or "map-based")


def picks(alg, n: int, src: str | None = None) -> list[str | None]:
    out = []
    for _ in range(n):
        name = alg.pick(src=src)
        if name is not None:
            alg.release(name)
        out.append(name)
    return out


def by_source(alg) -> list[str | None]:
    return [alg.choose(src=s) for s in SOURCES]


@pytest.mark.parametrize("balance", DYNAMIC)
def test_an_added_server_in_maintenance_takes_no_traffic_until_enabled(balance):
    alg = make_algorithm(proxy(balance, (3, 2)), seed=7)
    alg.add_server("s3", 3, 4, node_id=3)
    assert not alg.is_usable("s3") and alg.weight("s3") == 4 and alg.initial_weight("s3") == 4
    assert "s3" not in picks(alg, 30) + by_source(alg)
    alg.set_usable("s3", True)
    if balance == "first":  # the lowest id with room: s3 once the others are full
        alg.set_maxconn("s1", 1)
        alg.set_maxconn("s2", 1)
        alg.take("s1")
        alg.take("s2")
    assert "s3" in picks(alg, 30) + by_source(alg)


@pytest.mark.parametrize("balance", ["roundrobin", "leastconn", "first", "source+consistent"])
def test_adding_then_enabling_is_enabling_a_server_the_config_had_disabled(balance):
    """The same picks as a server of the configuration that starts disabled and is then enabled."""
    added = make_algorithm(proxy(balance, (3, 2)))
    configured = make_algorithm(proxy(balance, (3, 2, 4), disabled=("s3",)))
    assert picks(added, 7) == picks(configured, 7)
    added.add_server("s3", 3, 4, node_id=3)
    for alg in (added, configured):
        alg.set_usable("s3", True)
    assert picks(added, 40) == picks(configured, 40)
    assert by_source(added) == by_source(configured)


def test_roundrobin_shares_a_cycle_by_weight_after_an_add_and_a_delete():
    alg = make_algorithm(proxy("roundrobin", (3, 2)))
    picks(alg, 4)  # mid-cycle
    alg.add_server("s3", 3, 5)
    alg.set_usable("s3", True)
    seq = picks(alg, 100)
    assert {n: seq.count(n) for n in ("s1", "s2", "s3")} == {"s1": 30, "s2": 20, "s3": 50}
    alg.set_usable("s1", False)
    alg.remove_server("s1")
    seq = picks(alg, 70)
    assert {n: seq.count(n) for n in set(seq)} == {"s2": 20, "s3": 50}
    assert "s1" not in alg.servers


@pytest.mark.parametrize("balance", DYNAMIC)
def test_a_deleted_server_is_gone_from_every_pick(balance):
    alg = make_algorithm(proxy(balance, (1, 1, 1)), seed=3)
    picks(alg, 5)
    alg.remove_server("s2")  # usable until now: it leaves the rotation first
    assert "s2" not in picks(alg, 60) + by_source(alg)
    assert alg.servers == ("s1", "s3")
    with pytest.raises(Exception, match="No such server 's2'"):
        alg.weight("s2")


def test_consistent_hash_after_a_delete_maps_like_a_backend_built_without_the_server():
    alg = make_algorithm(proxy("source+consistent", (2, 1, 3)))
    alg.set_usable("s2", False)
    alg.remove_server("s2")
    without = Proxy(kind="backend", name="be", balance="source", hash_type="consistent",
                    servers=(ServerConfig("s1", "127.0.0.1", 1, weight=2, id=1),
                             ServerConfig("s3", "127.0.0.1", 3, weight=3, id=3)))
    assert by_source(alg) == by_source(make_algorithm(without))


def test_an_added_servers_ring_points_come_from_id_0_unless_its_id_was_given():
    """2.6 hashes an added server's points before numbering it: from id 0, unless 'id' gave one."""
    ring_given, ring_zero = hashing.Ring(), hashing.Ring()
    ring_given.set("s3", 3, 16)
    ring_zero.set("s3", 0, 16)
    alg = make_algorithm(proxy("source+consistent", (1,)))
    alg.add_server("s3", 3, 1, node_id=0)
    alg.set_usable("s3", True)
    points = {k for k, _, name in alg._ring[False]._points if name == "s3"}
    assert points == {k for k, _, _ in ring_zero._points}
    assert points != {k for k, _, _ in ring_given._points}


def test_adding_a_name_twice_is_refused():
    alg = make_algorithm(proxy("roundrobin", (1,)))
    with pytest.raises(UsageError, match="already has that server"):
        alg.add_server("s1", 2, 1)


# --------------------------------------------------------------------------- the runtime commands
@pytest.fixture()
def lb(tmp_path):
    port, s1, s2 = free_ports(3)
    cfg = tmp_path / "dyn.cfg"
    cfg.write_text(CONFIG.format(dir=tmp_path, port=port, s1=s1, s2=s2))
    balancer = Balancer.from_file(str(cfg)).start()
    try:
        yield balancer
    finally:
        balancer.stop()


def test_set_addr_says_what_changed_and_moves_the_server():
    srv = BackendRT(proxy("roundrobin", (1, 1)), 1).servers["s2"]
    host, port = srv.addr
    assert srv.set_addr(host, str(port), "test") == "no need to change the addr, no need to change the port by 'test'"
    assert srv.set_addr("127.0.0.9", None, "DNS") == f"IP changed from '{host}' to '127.0.0.9' by 'DNS'"
    assert srv.set_addr("::1", "70000", "x") == (f"IP changed from '127.0.0.9' to '::1', port changed from '{port}' "
                                                 f"to '{70000 & 0xFFFF}' by 'x'")
    assert srv.addr == ("::1", 70000 & 0xFFFF)
    assert srv.set_addr("nonsense", "1", "x") == "Invalid addr 'nonsense' by 'x'"
    assert srv.set_addr("::1", "a12", "x") == "no need to change the addr, problem converting port 'a12' to an int by 'x'"
    assert srv.set_addr("::ffff:127.0.0.1", "9x", "x") == ("IP changed from '::1' to '::ffff:127.0.0.1', port changed from "
                                                          f"'{70000 & 0xFFFF}' to '9' by 'x'")  # strtol reads '9x' as 9
    assert srv.addr == ("::ffff:127.0.0.1", 9)


ODD = ["add server be/x 127.0.0.1:1 weight", "add server be/x 127.0.0.1:1 id", "add server be/x 127.0.0.1:1 id 99999999999",
       "add server be/x 127.0.0.1:1 inter 5x", "add server be/x 127.0.0.1:1 rise", "add server be/x 127.0.0.1:1 on-error",
       "add server be/x 127.0.0.1:1 observe", "add server be/x 127.0.0.1:1 ca-file", "add server be/x [::1",
       "add server be/x [::1]:", "add server be/x 127.0.0.1:²", "add server be/x :", "add server be/x ²:1",
       "add server be/x 127.0.0.1:1 track be/s1", "add server be/y 127.0.0.1:1 track nob/s1", "add server be/x 1.2.3.4.5:1",
       "add server be/x 127.0.0.1:+1", "del server be/", "del server /s1", "set server be/s1 addr 127.0.0.1 port",
       "set server be/s1 addr 127.0.0.1 port -5", "set server be/s1 addr ² port ²", "enable agent", "disable agent be"]


def test_odd_input_gets_an_answer_never_a_traceback(lb):
    for line in ODD:
        answer = lb.command(line)
        assert isinstance(answer, str) and answer and "Traceback" not in answer, (line, answer)
    assert "# pxname" in lb.command("show stat")


def test_an_added_server_gets_the_lowest_free_id_and_goes_with_del(lb):
    assert lb.command("add server be/s3 127.0.0.1:1 id 5") == "New server registered.\n\n"
    assert lb.command("add server be/s4 127.0.0.1:1") == "New server registered.\n\n"
    state = lb.command("show servers state be").split("\n")[2:-2]
    assert [line.split()[2:4] for line in state] == [["1", "s1"], ["2", "s2"], ["5", "s3"], ["3", "s4"]]
    assert [line.split()[6] for line in state][2:] == ["1", "1"]  # in maintenance
    assert lb.command("del server be/s3") == "Server deleted.\n"
    assert lb.command("add server be/s5 127.0.0.1:1") == "New server registered.\n\n"
    state = lb.command("show servers state be").split("\n")[2:-2]
    assert [line.split()[2:4] for line in state] == [["1", "s1"], ["2", "s2"], ["3", "s4"], ["4", "s5"]]
    assert lb.command("del server be/s2") == "Only servers in maintenance mode can be deleted.\n"


def test_the_stats_page_metrics_and_snapshot_show_added_servers_and_forget_deleted_ones(lb):
    for line in ("add server be/s3 127.0.0.1:1 weight 4", "add server be/s4 127.0.0.1:2 check", "enable server be/s3",
                 "add server be/s5 127.0.0.1:3", "del server be/s5"):
        assert lb.command(line) in ("New server registered.\n\n", "\n", "Server deleted.\n"), line
    snap = lb.snapshot()
    assert [r["svname"] for r in snap["servers"]] == ["s1", "s2", "s3", "s4"]
    assert snap.server("be", "s3")["status"] == "no check" and snap.server("be", "s4")["status"] == "MAINT"
    page = snap.html(admin=True)
    assert ">s3<" in page and ">s4<" in page and ">s5<" not in page
    metrics = exposition(snap["rows"])
    assert 'server="s3"' in metrics and 'server="s5"' not in metrics
    assert "s3" in lb.stats_csv() and "s5" not in lb.stats_csv()
