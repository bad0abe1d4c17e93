"""Stick tables on real HAProxy 2.6 and on the engine, same configuration, same requests: which server each
client sticks to while servers leave and come back, which requests of a burst get 429 from a rate limit,
``show table`` after a known sequence (entry addresses and expiry times normalised), what ``clear
table`` and ``set table`` change, the size limit, expiry, and haproxy -c's messages for stick lines.

Clients come from several loopback addresses (127.0.0.2, .3 ...): each is a client of its own for
``src``. Times never decide an assertion: a burst takes far less than the 10 s rate period."""
from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from support.routing import NamedServer

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, send_command

from .test_config import run_engine, run_haproxy

pytestmark = pytest.mark.haproxy
TIMEOUT = 5.0
DEFAULTS = ("defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n")


def ask(port: int, src: str = "127.0.0.1", path: str = "/") -> str:
    """One request from address ``src``: "200 s2" (the status and the server that answered) or "429"."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT, source_address=(src, 0)) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode()
    return f"{status} {body.decode()}" if status == "200" else status


def normalise(text: str) -> str:
    """Entry addresses differ by nature, expiry times by a few ms."""
    return re.sub(r"exp=\d+", "exp=X", re.sub(r"0x[0-9a-f]+:", "0xADDR:", text))


class Pair:
    """The same configuration on the engine and on HAProxy; ``both(f)`` runs f(port) on each."""

    def __init__(self, text: str, binary: str, servers: dict[str, NamedServer]) -> None:
        self.servers = servers
        self.mine, self.theirs = free_ports(2)
        text = text.replace("PORT", str(self.mine))
        for name, s in servers.items():
            text = text.replace(f"@{name}", f"127.0.0.1:{s.port}")
        self.lb = Balancer.from_text(text).start()
        self.hx = HAProxy.from_text(text, "stick.cfg", port_map={self.mine: self.theirs}, binary=binary).start()

    def both(self, f):
        return f(self.mine), f(self.theirs)

    def command(self, line: str) -> tuple[str, str]:
        return normalise(self.lb.command(line)), normalise(self.hx.command(line))

    def close(self) -> None:
        self.lb.stop()
        self.hx.stop()
        for s in self.servers.values():
            s.close()


@pytest.fixture
def make(haproxy_bin):
    made = []

    def factory(text: str, names=("s1", "s2", "s3")) -> Pair:
        pair = Pair(text, haproxy_bin, {n: NamedServer(n) for n in names})
        made.append(pair)
        return pair
    yield factory
    for pair in made:
        pair.close()


CLIENTS = [f"127.0.0.{i}" for i in range(2, 8)]


def _round(pair: Pair) -> tuple[list[str], list[str]]:
    return pair.both(lambda port: [ask(port, src) for src in CLIENTS])


@pytest.mark.parametrize("stick", [True, False], ids=["stick-on-src", "roundrobin-only"])
def test_clients_keep_their_server_while_servers_leave_and_return(make, stick):
    rules = "    stick-table type ip size 100 expire 1m\n    stick on src\n" if stick else ""
    pair = make(DEFAULTS + "frontend fe\n    bind 127.0.0.1:PORT\n    default_backend be\n"
                "backend be\n    balance roundrobin\n" + rules +
                "    server s1 @s1 check inter 1m\n    server s2 @s2 check inter 1m\n    server s3 @s3 check inter 1m\n")
    assert [str(w) for w in pair.lb.warnings] == []
    steps = [None, None, "disable server be/s2", "set server be/s3 health down", "enable server be/s2",
             "set server be/s3 health up"]
    rounds = []
    for step in steps:
        if step is not None:
            ours, theirs = pair.command(step)
            assert ours == theirs, step
        ours, theirs = _round(pair)
        assert ours == theirs, step
        rounds.append(theirs)
        if stick:
            assert pair.command("show table be")[0] == pair.command("show table be")[1], step
    # the oracle: with 'stick on src' each client keeps its server from one round to the next, and a
    # client moved away from a server that left stays where it went once that server is back
    assert (rounds[0] == rounds[1] and rounds[-1] == rounds[-2]) == stick


def test_option_persist_keeps_a_client_on_a_server_in_maintenance(make):
    pair = make(DEFAULTS + "frontend fe\n    bind 127.0.0.1:PORT\n    default_backend be\n"
                "backend be\n    option persist\n    option redispatch\n    stick-table type ip size 100\n"
                "    stick on src\n    server s1 @s1\n    server s2 @s2\n", names=("s1", "s2"))
    for step in (None, "disable server be/s1"):
        if step:
            pair.command(step)
        ours, theirs = pair.both(lambda port: [ask(port, src) for src in CLIENTS[:4]])
        assert ours == theirs, step


RATE = DEFAULTS + """frontend fe
    bind 127.0.0.1:PORT
    stick-table type ip size 100 expire 1m store http_req_rate(10s),http_req_cnt,conn_cur,conn_cnt,http_err_rate(10s),http_err_cnt,gpc0,gpc0_rate(10s)
    http-request track-sc0 src
    http-request sc-inc-gpc0(0) if { path /login }
    http-request deny deny_status 403 if { sc_get_gpc0(0) gt 2 }
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 5 }
    default_backend be
backend be
    server s1 @s1
"""
BURST = [("127.0.0.2", "/")] * 4 + [("127.0.0.3", "/")] + [("127.0.0.2", "/")] * 4 + \
    [("127.0.0.4", "/login")] * 4 + [("127.0.0.3", "/nothere")] + [("127.0.0.2", "/")] * 2


def test_rate_limit_denies_the_same_requests_of_a_burst(make):
    pair = make(RATE, names=("s1",))
    assert [str(w) for w in pair.lb.warnings] == []
    ours, theirs = pair.both(lambda port: [ask(port, src, path) for src, path in BURST])
    assert ours == theirs
    assert theirs.count("429") == 5  # the oracle: .2's 6th request onwards
    for line in ("show table", "show table fe", "show table fe data.http_req_rate gt 5",
                 "show table fe key 127.0.0.4", "show table fe data.gpc0 ge 1 data.http_err_cnt eq 0"):
        assert pair.command(line)[0] == pair.command(line)[1], line


def test_clear_and_set_table_change_who_is_let_in(make):
    pair = make(RATE, names=("s1",))
    pair.both(lambda port: [ask(port, src, path) for src, path in BURST])
    for line, requests in [
            ("clear table fe key 127.0.0.2", [("127.0.0.2", "/")]),
            ("set table fe key 127.0.0.3 data.http_req_rate 40", [("127.0.0.3", "/")]),
            ("set table fe key 127.0.0.4 data.gpc0 0", [("127.0.0.4", "/")]),
            ("set table fe key 127.0.0.9 data.gpc0 7 data.http_req_cnt 3", [("127.0.0.9", "/")]),
            ("clear table fe data.http_req_rate gt 5", [("127.0.0.3", "/")]),
            ("clear table fe", [("127.0.0.2", "/"), ("127.0.0.4", "/login")])]:
        assert pair.command(line)[0] == pair.command(line)[1], line
        ours, theirs = pair.both(lambda port: [ask(port, src, path) for src, path in requests])
        assert ours == theirs, line
        assert pair.command("show table fe")[0] == pair.command("show table fe")[1], line


# the runtime API's answers, errors included, on three tables of three key types
TABLES = DEFAULTS + """frontend fe
    bind 127.0.0.1:PORT
    stick-table type ip size 1m expire 30s store http_req_rate(10s),conn_cur,gpc0,server_id
    http-request track-sc0 src
    default_backend be
backend be
    stick-table type string len 8 size 10 store gpc0,http_req_cnt
    server s1 @s1
backend t3
    stick-table type integer size 10 nopurge
"""
COMMANDS = [
    "show table", "show table fe", "set table fe key 127.0.0.5 data.gpc0 3",
    "set table fe key 127.0.0.6 data.gpc0 1 data.conn_cur 2 data.http_req_rate 9", "set table fe key 1.2.3.4",
    "set table fe key 127.0.0.7 data.gpc0 -5", "set table fe key notanip data.gpc0 1", "show table fe",
    "show table fe data.gpc0 gt 1", "show table fe data.gpc0 eq 1 data.conn_cur eq 2",
    "show table fe data.gpc0 ge 1 data.conn_cur ne 2", "show table fe key 127.0.0.9",
    "show table fe key 127.0.0.6 data.gpc0 gt 5", "show table fe data.http_req_rate gt 5",
    "set table fe key 127.0.0.7 data.bogus 1", "set table fe key 127.0.0.7 data.server_key 1",
    "set table fe key 127.0.0.7 data.gpc1 1", "set table fe key 127.0.0.7 data.gpc0",
    "set table fe key 127.0.0.7 data.gpc0 x", "set table fe key", "set table fe data.gpc0 1",
    "set table nosuch key 1 data.gpc0 1", "set table", "show table fe data.gpc0 foo 1", "show table fe data.gpc0 gt",
    "show table fe data.nope gt 1", "show table fe data.gpc1 gt 1", "show table fe key", "show table fe foo",
    "set table be key averyveryverylongkey data.gpc0 4", "show table be", "set table t3 key 42 data.server_id 1",
    "set table t3 key abc data.server_id 1", "show table t3", "clear table fe key 127.0.0.5",
    "clear table fe data.gpc0 eq 1", "show table fe", "clear table fe key", "clear table", "clear table nosuch",
    "clear table fe key 127.0.0.99", "clear table fe data.gpc0 gt 0 key 127.0.0.1",
    "set table fe key 127.0.0.8 data.gpc0 2 data.bogus 1",
    "show table fe data.gpc0 gt 0 data.gpc0 gt 0 data.gpc0 gt 0 data.gpc0 gt 0 data.gpc0 gt 0",
    "show table fe", "set table fe", "show table fe", "clear table be", "show table be",
]


def test_table_commands_answer_like_haproxy(make):
    pair = make(TABLES, names=("s1",))
    pair.both(lambda port: ask(port))
    for line in COMMANDS:
        ours, theirs = pair.command(line)
        assert ours == theirs, f"{line!r}:\nhaproxy: {theirs!r}\nengine:  {ours!r}"


@pytest.mark.parametrize("nopurge", ["", " nopurge"])
def test_a_full_table_makes_room_as_haproxy_does(make, nopurge):
    pair = make(DEFAULTS + f"frontend fe\n    bind 127.0.0.1:PORT\n    stick-table type ip size 4 expire 1m{nopurge} "
                "store http_req_cnt\n    http-request track-sc0 src\n    default_backend be\n"
                "backend be\n    server s1 @s1\n", names=("s1",))
    for src in CLIENTS:
        ours, theirs = pair.both(lambda port: ask(port, src))
        assert ours == theirs
    assert pair.command("show table fe")[0] == pair.command("show table fe")[1]


def test_entries_expire_on_both(make):
    pair = make(DEFAULTS + "frontend fe\n    bind 127.0.0.1:PORT\n    stick-table type ip size 10 expire 300ms "
                "store http_req_cnt\n    http-request track-sc0 src\n    default_backend be\n"
                "backend be\n    server s1 @s1\n", names=("s1",))
    pair.both(lambda port: ask(port, "127.0.0.2"))
    assert pair.command("show table fe")[0] == pair.command("show table fe")[1]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ours, theirs = pair.command("show table fe")
        if "used:0" in ours and "used:0" in theirs:
            break
        time.sleep(0.05)
    assert pair.command("show table fe") == ("# table: fe, type: ip, size:10, used:0\n\n",) * 2


# haproxy -c on stick lines: (where, line), where 'be' is the backend and 'fe' the frontend
LINES = [
    ("be", "stick-table type ipx size 1k"), ("be", "stick-table type ip"), ("be", "stick-table size 1k"),
    ("be", "stick-table type ip size 1k store foo"), ("be", "stick-table type ip size 1k expire 10q"),
    ("be", "stick-table type ip size 1x"), ("be", "stick-table type ip size 1k len 3"),
    ("be", "stick-table type string len 0 size 1k"), ("be", "stick-table type ip size 1k store http_req_rate"),
    ("be", "stick-table type ip size 1k store http_req_rate(10x)"), ("be", "stick-table type ip size 1k store gpc0(2)"),
    ("be", "stick-table type ip size 1k foo"), ("be", "stick-table type ip size 1k peers p"),
    ("be", "stick-table type ip size 1k\n    stick-table type ip size 2k"),
    ("be", "stick on src table nosuch"), ("be", "stick on src"), ("be", "stick foo src"), ("be", "stick on"),
    ("be", "stick-table type ip size 1k\n    stick on src foo"),
    ("be", "stick-table type ip size 1k\n    stick on nosuchfetch"),
    ("be", "http-request track-sc0 src table nosuch"), ("be", "http-request track-sc0"),
    ("be", "http-request track-sc5 src"), ("be", "http-request track-sc0 src"),
    ("be", "stick-table type ip size 1k\n    http-request sc-inc-gpc0(3)"),
    ("fe", "stick on src"), ("def", "stick-table type ip size 1k"), ("def", "stick on src"),
    # accepted
    ("be", "stick-table type ip size 1k\n    stick match src table be unless { path /x }"),
    ("be", "stick-table type ip size 1k expire 30s nopurge store conn_cur,http_req_rate(10s),gpc0,gpc0_rate(1m)"),
    ("be", "stick-table type string len 64 size 1m\n    stick store-request req.hdr(x-user)\n    stick match req.hdr(x-user)"),
    ("be", "stick-table type integer size 10 store server_id\n    stick match src"),
    ("be", "stick-table type ipv6 size 10\n    stick on src if { path_beg /app }"),
    ("be", "stick-table type ip size 1k store http_req_rate(10s)\n    http-request track-sc1 src\n"
           "    http-request deny if { sc1_http_req_rate gt 10 } || { src_http_req_rate gt 20 }"),
    ("fe", "stick-table type ip size 1k store gpc0\n    http-request track-sc2 src table be\n"
           "    http-request sc-inc-gpc0(2)"),
]


@pytest.mark.parametrize("where,line", LINES, ids=[f"{w}:{ln}" for w, ln in LINES])
def test_stick_lines_agree_with_haproxy(haproxy_bin, tmp_path, where, line):
    parts = {"be": "", "fe": "", "def": ""}
    parts[where] = f"    {line}\n"
    text = (DEFAULTS + parts["def"] + "backend be\n    server s1 127.0.0.1:1\n" + parts["be"] +
            "frontend fe\n    bind 127.0.0.1:9\n" + parts["fe"] + "    default_backend be\n")
    if "track-sc2 src table be" in line:  # the frontend tracks in the backend's table
        text = text.replace("backend be\n", "backend be\n    stick-table type ip size 1k store gpc0\n", 1)
    path = tmp_path / "stick.cfg"
    path.write_text(text)
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


def test_a_table_shared_by_two_backends_names_servers_by_name(make):
    """2.6 looks a sticky server up by its name (server_key) first, then by its id (server_id)."""
    pair = make(DEFAULTS + "frontend fe\n    bind 127.0.0.1:PORT\n    use_backend be2 if { path_beg /two }\n"
                "    default_backend be1\nbackend be1\n    stick-table type ip size 10\n    stick on src\n"
                "    server a @a\n    server b @b\nbackend be2\n    stick match src table be1\n"
                "    server b @b\n    server a @a\n", names=("a", "b"))
    requests = [("127.0.0.2", "/"), ("127.0.0.3", "/"), ("127.0.0.2", "/two"), ("127.0.0.3", "/two")]
    ours, theirs = pair.both(lambda port: [ask(port, src, path) for src, path in requests])
    assert ours == theirs
    assert theirs[2:] == theirs[:2]  # the oracle: by name, so be2 sends each client to the same server
    line = "set table be1 key 127.0.0.4 data.server_id 2"  # an id alone: b in be1, a in be2
    assert pair.command(line)[0] == pair.command(line)[1]
    ours, theirs = pair.both(lambda port: [ask(port, "127.0.0.4", path) for path in ("/two", "/", "/two")])
    assert ours == theirs
    assert pair.command("show table be1")[0] == pair.command("show table be1")[1]


@pytest.mark.parametrize("redispatch", ["option redispatch", "no option redispatch"])
def test_a_dead_sticky_server_without_checks(make, redispatch):
    """The table sends a client to a server that refuses connections (no 'check', so it is not DOWN): the
    retries stay on it (SF_DIRECT), then 'option redispatch' moves the request on the last retry and the
    table learns the new server; without it, 503 and the table keeps the dead one."""
    dead = free_ports(1)[0]
    pair = make(DEFAULTS + f"frontend fe\n    bind 127.0.0.1:PORT\n    default_backend be\nbackend be\n"
                f"    retries 2\n    {redispatch}\n    timeout connect 300ms\n    stick-table type ip size 10\n"
                f"    stick on src\n    server s1 127.0.0.1:{dead}\n    server s2 @s2\n    server s3 @s3\n",
                names=("s2", "s3"))
    line = "set table be key 127.0.0.2 data.server_id 1"
    assert pair.command(line)[0] == pair.command(line)[1]
    ours, theirs = pair.both(lambda port: [ask(port, "127.0.0.2"), ask(port, "127.0.0.3")])
    assert ours == theirs
    assert theirs[0] == ("200 s2" if redispatch == "option redispatch" else "503")
    assert pair.command("show table be")[0] == pair.command("show table be")[1]
    stats = [[tuple(r.split(",")[i] for i in (1, 13, 15, 16)) for r in csv.splitlines()
              if r.startswith("be,")] for csv in (pair.lb.command("show stat"), pair.hx.command("show stat"))]
    assert stats[0] == stats[1]  # econ, wretr, wredis of each server and the backend


SLIDING = DEFAULTS + """frontend fe
    bind 127.0.0.1:PORT
    stick-table type ip size 100 expire 1m store http_req_rate(2s)
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc0_http_req_rate gt 3 }
    default_backend be
backend be
    server s1 @s1
"""
# (seconds from the start, client): a burst, then requests placed at least 0.7 s away from the
# moments the 2 s sliding window changes its verdict (see the test's docstring)
TIMELINE = [(0.0, "127.0.0.2")] * 12 + [(0.1, "127.0.0.3")] * 2 + [
    (2.9, "127.0.0.2"), (3.05, "127.0.0.3"), (4.3, "127.0.0.2"), (5.0, "127.0.0.2"), (5.2, "127.0.0.2"),
    (5.3, "127.0.0.2"), (5.4, "127.0.0.2")]


def _play(port: int) -> list[str]:
    start = time.monotonic()
    out = []
    for at, src in TIMELINE:
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        out.append(ask(port, src).split()[0])
    return out


def test_the_sliding_window_lets_a_client_in_again_at_the_same_request(make):
    """HAProxy's rate over a period P is the current period's count plus the previous period's weighted
    by what is left of the current one. .2 sends 12 at once (3 let in, 9 denied: denied requests count
    too); at 2.9 s, 0.9 s into the next period, its rate reads 1 + int(12 * 1.1/2) = 7: still denied
    (until 3.5 s, when int(12 * 0.5/2) = 3); at 4.3 s only that one request weighs (1 + int(1 * 1.7/2) =
    1): let in, until its fourth request of that period."""
    pair = make(SLIDING, names=("s1",))
    results: dict[int, list[str]] = {}
    threads = [threading.Thread(target=lambda p=p: results.__setitem__(p, _play(p))) for p in (pair.mine, pair.theirs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results[pair.mine] == results[pair.theirs]
    assert results[pair.theirs] == ["200"] * 3 + ["429"] * 9 + ["200", "200"] + ["429", "200", "200", "200", "200",
                                                                               "429", "429"]
    assert pair.command("show table fe")[0] == pair.command("show table fe")[1]


def test_below_level_operator_a_table_shows_its_head_only(haproxy_bin, tmp_path):
    """A 'level user' socket: the list and each table's head, not its entries; nothing changes."""
    server = NamedServer("s1")
    mine, theirs = free_ports(2)
    text = TABLES.replace("PORT", str(mine)).replace("@s1", f"127.0.0.1:{server.port}")
    sock = tmp_path / "user.sock"
    lb = Balancer.from_text(text).start()
    hx = HAProxy.from_text(f"global\n    stats socket {sock} level user\n" + text, "stick.cfg",
                           port_map={mine: theirs}, binary=haproxy_bin, keep_sockets=True).start()
    try:
        ask(mine), ask(theirs)
        for line in ("show table", "show table fe", "show table fe data.gpc0 ge 0", "show table fe key 127.0.0.1",
                     "set table fe key 127.0.0.5 data.gpc0 3", "clear table fe", "clear table fe key 127.0.0.1",
                     "clear table fe data.gpc0 ge 0"):
            ours, real = normalise(lb.command(line, level="user")), normalise(send_command(sock, line))
            assert ours == real, f"{line!r}:\nhaproxy: {real!r}\nengine:  {ours!r}"
        assert normalise(lb.command("show table fe")) == normalise(hx.command("show table fe"))
    finally:
        lb.stop()
        hx.stop()
        server.close()


def test_a_cookie_wins_over_the_table(make):
    """Cookie persistence runs before the sticking rules: the cookie's server answers, and the table then
    stores that server for the client."""
    pair = make(DEFAULTS + "frontend fe\n    bind 127.0.0.1:PORT\n    default_backend be\nbackend be\n"
                "    cookie SRV insert indirect nocache\n    stick-table type ip size 10\n    stick on src\n"
                "    server s1 @s1 cookie c1\n    server s2 @s2 cookie c2\n", names=("s1", "s2"))

    def send(port: int, cookie: str | None) -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT, source_address=("127.0.0.2", 0)) as c:
            extra = f"Cookie: SRV={cookie}\r\n" if cookie else ""
            c.sendall(f"GET / HTTP/1.1\r\nHost: lab\r\n{extra}Connection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.rsplit(b"\r\n", 1)[-1].decode()

    for cookie in (None, "c2", None, "c1", None):
        ours, theirs = pair.both(lambda port: send(port, cookie))
        assert ours == theirs, cookie
        assert pair.command("show table be")[0] == pair.command("show table be")[1], cookie
