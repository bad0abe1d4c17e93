"""Stick tables across a reload through the local peer (proxy/peers.py): an old engine hands its bound
tables to a new one over the peer socket (as a master process hands the socket over), a garbage client
is refused with a log line, and ``Balancer.reload`` keeps bound tables and empties the others."""
from __future__ import annotations

import asyncio
import re
import socket

from labsupport.balancer import Balancer
from labsupport.engine.config import parse
from labsupport.engine.proxy import peers
from labsupport.engine.proxy.engine import Engine
from labsupport.ports import free_ports

CFG = """global
    localpeer me
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:WEB
    stick-table type ip size 1k expire 1m store gpc0,http_req_cnt,http_req_rate(10s) peers lab
    http-request track-sc0 src
    http-request track-sc1 src table lab/t1
    http-request return status 200 content-type text/plain string ok
backend plain
    stick-table type string len 16 size 10 expire 1m store gpc0
peers lab
    peer me 127.0.0.1:PEER
    table t1 type ip size 1k expire 1m store gpc1,conn_cnt
"""


def _text(web: int, peer: int) -> str:
    return CFG.replace("WEB", str(web)).replace("PEER", str(peer))


def _entries(dump: str) -> list[str]:
    """'show table' lines without the made-up addresses; expiry rounded to the minute's part left."""
    out = []
    for line in dump.splitlines():
        line = re.sub(r"^0x[0-9a-f]+: ", "", line)
        m = re.search(r"exp=(\d+)", line)
        if m:  # a minute's expiry, read a little later: compare by the second
            line = line.replace(m.group(0), f"exp~{round(int(m.group(1)) / 1000)}s")
        out.append(line)
    return out


def _get(port: int, n: int) -> None:
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
            while c.recv(65536):
                pass


def test_an_old_engine_teaches_its_bound_tables_to_the_new_one_over_the_handed_socket():
    web1, web2, peer = free_ports(3)

    async def main():
        loop = asyncio.get_running_loop()
        listening = socket.create_server(("127.0.0.1", peer))  # what the master process holds
        old = Engine(parse(_text(web1, peer)), loop)
        old.inherited = {("127.0.0.1", peer): listening.dup()}
        await old.start()
        await loop.run_in_executor(None, _get, web1, 3)
        for line in ("set table fe key 127.0.0.9 data.gpc0 7 data.http_req_rate 4",
                     "set table lab/t1 key 10.1.2.3 data.gpc1 5", "set table plain key abc data.gpc0 2"):
            assert old.runtime.execute(line) == "\n"
        before = {t: old.runtime.execute(f"show table {t}") for t in ("fe", "lab/t1", "plain")}
        new = Engine(parse(_text(web2, peer)), loop)
        new.inherited = {("127.0.0.1", peer): listening.dup()}
        listening.close()
        await new.start()
        assert "used:0" in new.runtime.execute("show table fe")
        assert await peers.teach(old) == 4
        after = {t: new.runtime.execute(f"show table {t}") for t in ("fe", "lab/t1", "plain")}
        notes = [line for _, level, line in new.events.since(0)[0] if "Peers section" in line]
        await old.stop()
        await new.stop()
        return before, after, notes

    before, after, notes = asyncio.run(main())
    for t in ("fe", "lab/t1"):
        assert _entries(after[t]) == _entries(before[t])
    assert "key=127.0.0.1 use=0 exp~60s gpc0=0 http_req_cnt=3 http_req_rate(10000)=3" in _entries(after["fe"])
    assert "key=127.0.0.9 use=0 exp~60s gpc0=7 http_req_cnt=0 http_req_rate(10000)=4" in _entries(after["fe"])
    assert "used:1" in before["plain"] and "used:0" in after["plain"]  # no peers: a new process starts empty
    assert notes and "learned 4 entries from the previous process" in notes[0]


def test_a_garbage_client_is_closed_with_a_located_log_line():
    web, peer = free_ports(2)

    async def main():
        loop = asyncio.get_running_loop()
        eng = Engine(parse(_text(web, peer)), loop)
        await eng.start()
        answers = []
        for junk in (b"hello\n", b"LABPEERS 1 lab\n{not json\n", b"LABPEERS 1 lab\n" + b"x" * 200_000,
                     b"LABPEERS 1 lab\n[1, 2]\n",
                     b'LABPEERS 1 lab\n{"table": "fe", "type": "ip", "key": 12, "data": {}}\n',
                     b'LABPEERS 1 lab\n{"table": "fe", "type": "ip", "key": "1.2.3.4", "data": {"gpc0": "x"}}\n',
                     b"LABPEERS 1 lab\n" + b"[" * 30000 + b"\n",
                     b'LABPEERS 1 lab\n{"table": ["fe"], "type": "ip"}\n{"table": "fe", "type": "ip", "key": '
                     b'"1.2.3.4", "exp": 5, "data": {"gpc0": [1]}}\n'):
            r, w = await asyncio.open_connection("127.0.0.1", peer)
            w.write(junk)
            await w.drain()
            answers.append(await asyncio.wait_for(r.read(), 10))
            w.close()
        deadline = loop.time() + 10
        while loop.time() < deadline:
            lines = [line for _, level, line in eng.events.since(0)[0] if level == "WARNING"]
            if len(lines) >= 8:
                break
            await asyncio.sleep(0.05)
        await eng.stop()
        return answers, lines

    answers, lines = asyncio.run(main())
    assert answers == [b""] * 8  # no OK: each connection closed
    assert len(lines) == 8
    assert all(re.search(r"Peers section 'lab': 127\.0\.0\.1:\d+: .+ \(at (its greeting|message [12])\); "
                         r"connection closed\.$", line) for line in lines), lines
    assert "expected 'LABPEERS 1 lab'" in lines[0] and "not a JSON record" in lines[1]
    assert "line longer than 65536 bytes" in lines[2] and "is not a counter" in lines[5]
    assert "not a JSON record" in lines[6] and "[1] is not a counter (at message 2)" in lines[7]


def test_balancer_reload_keeps_bound_tables_and_empties_the_others():
    web, peer = free_ports(2)
    with Balancer.from_text(_text(web, peer)).start() as lb:
        _get(web, 2)
        lb.command("set table plain key abc data.gpc0 2")
        lb.reload(_text(web, peer).replace("size 10 ", "size 20 "))
        assert "key=127.0.0.1" in lb.command("show table fe")
        assert "http_req_cnt=2" in lb.command("show table fe")
        assert "key=127.0.0.1 " in lb.command("show table lab/t1")
        assert "used:0" in lb.command("show table plain")
        # a table no longer bound to the section starts empty, as without peers
        lb.reload(_text(web, peer).replace(" peers lab", ""))
        assert "used:0" in lb.command("show table fe")
        assert "used:1" in lb.command("show table lab/t1")


def test_a_taken_peer_port_is_a_port_in_use_error_and_nothing_stays_open():
    from labsupport.errors import PortInUseError

    web, peer = free_ports(2)

    async def main():
        eng = Engine(parse(_text(web, peer)), asyncio.get_running_loop())
        try:
            await eng.start()
        except PortInUseError as e:
            return str(e), eng.listeners
        raise AssertionError("started on a taken port")

    with socket.create_server(("127.0.0.1", peer)):  # taken without SO_REUSEPORT
        text, listeners = asyncio.run(main())
    assert "peers section 'lab' cannot listen on it for its local peer" in text and str(peer) in text
    assert listeners == {}
