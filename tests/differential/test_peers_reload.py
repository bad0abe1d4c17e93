"""Differential: what a reload does to a stick table, with and without a one-peer ``peers`` section.

HAProxy 2.6 runs in master-worker mode (``haproxy -W -S master.sock -db -f cfg``): the table is filled
(requests tracked by ``track-sc0 src`` and ``set table``), ``reload`` goes to the master socket, and
``@1 show table`` asks the new worker once the old one has left. Without peers the new worker's table is
empty; with ``peers lab / peer me 127.0.0.1:PORT`` the entries survive with their counters and expiry,
whether the frontend's table names the section (``stick-table ... peers lab``) or the section declares the
table itself (``table t1 ...``, which HAProxy names ``lab/t1``).
HAProxy only hands its tables over once its initial resync is done (``show peers`` says
``resync_timeout=<PAST>``, about 5 s after start): the test waits for that, with a deadline.

The engine runs the same way (``python -m labsupport.balancer -W -S master.sock -f cfg``): its master hands
the peer socket to the new worker, and the old one teaches it its tables as it soft-stops. Dumps are compared with entry
addresses and expiry masked (expiry is checked apart: it keeps running, it is not renewed)."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import pytest

from labsupport.course.haproxy import send_command
from labsupport.ports import free_ports

pytestmark = pytest.mark.haproxy
DEADLINE = 30.0

CFG = """global
    localpeer me
    stats socket STATS level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:WEB
    STICK
    http-request track-sc0 srcTRACK
    http-request return status 200 content-type text/plain string ok
"""
TABLE = "type ip size 1k expire 5m store gpc0,http_req_cnt,http_req_rate(60s)"
SECTION = "peers lab\n    peer me 127.0.0.1:PEER\n"
MODES = {  # what the frontend writes, the peers section, the table's name
    "no-peers": (f"stick-table {TABLE}", "", "", "fe"),
    "bound-to-a-local-peer": (f"stick-table {TABLE} peers lab", "", SECTION, "fe"),
    "table-of-the-peers-section": ("", " table lab/t1", SECTION + f"    table t1 {TABLE}\n", "lab/t1"),
}


def config(web: int, peer: int, stats: str, mode: str) -> str:
    stick, track, section, _ = MODES[mode]
    text = CFG.replace("STICK", stick).replace("TRACK", track) + section
    return text.replace("WEB", str(web)).replace("PEER", str(peer)).replace("STATS", stats)


def fill(table: str) -> tuple[str, ...]:
    return (f"set table {table} key 127.0.0.9 data.gpc0 7", f"set table {table} key 10.0.0.3 data.http_req_cnt 11")


def masked(dump: str) -> list[str]:
    return sorted(re.sub(r"exp=\d+", "exp=X", re.sub(r"^0x[0-9a-f]+: ", "", line)) for line in dump.splitlines()
                  if line)


def expiries(dump: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"key=(\S+) use=\d+ exp=(\d+)", dump)}


def master(path: str, line: str) -> str:
    """One command to HAProxy's master CLI, which answers once the client has stopped writing."""
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(10)
        c.connect(path)
        c.sendall(line.encode() + b"\n")
        c.shutdown(socket.SHUT_WR)
        chunks = []
        while sum(map(len, chunks)) < 1 << 20:
            chunk = c.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode()


def workers(show_proc: str) -> list[str]:
    """The current workers' pids in the master's 'show proc' (the lines under '# workers')."""
    part = show_proc.split("# workers", 1)[-1].split("#", 1)[0]
    return re.findall(r"^(\d+)\s+worker\b", part, re.M)


def _get(port: int, n: int) -> None:
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
            while c.recv(65536):
                pass


def _wait(what: str, fn, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            last = fn()
        except OSError as e:  # the master socket is away while the master re-executes itself
            last = e
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def reload_in_master_worker(program: list[str], tmp, mode: str) -> tuple[str, str]:
    """(show table before the reload, after it, from the new worker): ``program -W -S master.sock -db -f cfg``,
    real HAProxy or the engine, driven the same way through the master CLI."""
    web, peer = free_ports(2)
    master_sock, stats = str(tmp / "master.sock"), str(tmp / "stats.sock")
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(config(web, peer, stats, mode))
    table = MODES[mode][3]
    proc = subprocess.Popen([*program, "-W", "-S", master_sock, "-db", "-f", str(cfg)], cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait("the worker's stats socket", lambda: os.path.exists(stats) and "fe" in send_command(stats, "show stat"))
        _get(web, 3)
        for line in fill(table):
            assert send_command(stats, line) == "\n"
        before = send_command(stats, f"show table {table}")
        if mode != "no-peers" and program[0] != sys.executable:  # the engine hands over at once
            _wait("the initial resync", lambda: "resync_timeout=<PAST>" in master(master_sock, "@1 show peers"))
        # the worker may answer before the master's own socket listens (a busy machine): wait for it too
        first = _wait("the master CLI", lambda: workers(master(master_sock, "show proc")))
        assert len(first) == 1, first
        master(master_sock, "reload")

        def new_worker_alone():
            procs = master(master_sock, "show proc")
            now = workers(procs)
            return "# old workers" not in procs and len(now) == 1 and now != first

        _wait("a new worker, the old one gone", new_worker_alone)
        after = master(master_sock, f"@1 show table {table}")
    finally:
        proc.terminate()
        proc.wait(timeout=DEADLINE)
    return before, after


@pytest.mark.parametrize("mode", list(MODES))
def test_a_reload_keeps_the_table_only_with_a_peers_section(haproxy_bin, tmp_path, mode):
    (tmp_path / "hx").mkdir()
    (tmp_path / "en").mkdir()
    hx_before, hx_after = reload_in_master_worker([haproxy_bin], tmp_path / "hx", mode)
    en_before, en_after = reload_in_master_worker([sys.executable, "-m", "labsupport.balancer"], tmp_path / "en", mode)
    with_peers = mode != "no-peers"
    assert masked(en_before) == masked(hx_before)
    assert len(masked(hx_before)) == 4  # the header and three keys
    if with_peers:
        assert masked(hx_after) == masked(hx_before)  # HAProxy's record: every entry, every counter
        # the expiry went on running across the reload (it was not renewed to 5m)
        assert all(expiries(hx_after)[k] < v for k, v in expiries(hx_before).items())
    else:
        assert masked(hx_after) == ["# table: fe, type: ip, size:1024, used:0"]  # HAProxy's record: empty
    assert masked(en_after) == masked(hx_after)
    if with_peers:
        assert all(expiries(en_after)[k] <= v for k, v in expiries(en_before).items())
