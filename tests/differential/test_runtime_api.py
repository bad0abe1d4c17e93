"""The runtime API (``stats socket``) of the engine against real HAProxy 2.6: same config, same commands
through real UNIX sockets, the same answers byte for byte (or field by field where values must vary:
pids, times, ports), and the same effects on the stats and on where requests go.

Both sides run one config with three sockets (admin, operator, user); server s1 is checked every 60 s
(so after its first check its state only changes when a command changes it), s2 is not checked.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support.procs import start_together
from support.rawclient import request, server_of
from support.runtime_api import CONFIG

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv, send_command

# answers compared byte for byte, at level admin (errors, usage messages, help)
SAME_ANSWERS = [
    "help", "help show", "help set", "foo", "show foo", "sho stat", "shw stat", "set srever be/s1 state drain",
    "clear foo", "enable", "show", "set server", "set server be/s1", "set server be/s1 foo",
    "set server be/s1 state", "set server be/s1 state bogus", "set server be/zz state drain",
    "set server nob/s1 state drain", "set server be state drain", "set server be/s1 weight 300",
    "set server be/s1 weight abc", "set server be/s1 weight", "set server be/s1 health bogus",
    "enable server", "disable server nob/x", "enable server be/zz", "set maxconn server be/s1",
    "set maxconn server", "set maxconn server be/s1 abc", "get weight", "get weight be/s9",
    "get weight be/s1", "set weight be/s1", "enable health", "enable health be/zz", "enable health be/s2",
    "show servers state nob", "show cli level", "operator; show cli level", "user; set server be/s1 state drain",
]
# commands every level may try: what operator and user sockets answer
LEVEL_COMMANDS = [
    "show cli level", "set server be/s1 state drain", "set server be/s1 weight 2", "set server be/s1 health up",
    "enable server be/s1", "disable server be/s1", "enable health be/s1", "disable health be/s1",
    "set maxconn server be/s1 5", "clear counters all", "get weight be/s1", "set weight be/s1 1",
    "set server be/zz state drain", "set server", "get weight be/zz",
]
STATE_COLUMNS = ("status", "weight", "act", "bck", "slim", "check_status", "check_rise", "check_fall",
                 "check_health", "uweight")


def start(haproxy_bin: str, tmp: Path):
    """Backends s1, s2 (a real haproxy answering its name), then haproxy and the engine on one config."""
    *be_ports, haproxy_port, engine_port = free_ports(4)  # one call: two calls may hand out the same port twice
    backends = ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
                + "".join(f"listen s{i}\n    bind 127.0.0.1:{p}\n    http-request return status 200 "
                          f"content-type text/plain string s{i}\n" for i, p in enumerate(be_ports, 1)))
    ports = [haproxy_port, engine_port]
    sides = []
    for name, port in (("haproxy", ports[0]), ("engine", ports[1])):
        (tmp / name).mkdir()
        sides.append(CONFIG.format(dir=tmp / name, port=port, s1=be_ports[0], s2=be_ports[1]))
    procs = start_together((HAProxy.from_text(backends, "backends.cfg", binary=haproxy_bin),
                            HAProxy.from_text(sides[0], "runtime.cfg", binary=haproxy_bin, keep_sockets=True),
                            Balancer.from_text(sides[1])))
    return procs, ports


@pytest.fixture()
def pair(haproxy_bin, tmp_path):
    """(haproxy's socket dir, engine's socket dir, haproxy port, engine port), s1 checked once on both."""
    procs, ports = start(haproxy_bin, tmp_path)
    try:
        dirs = (tmp_path / "haproxy", tmp_path / "engine")
        for d in dirs:
            wait_for(d, lambda rows: row(rows, "s1")["check_status"] == "L4OK", "s1's first check")
        yield dirs[0], dirs[1], ports[0], ports[1]
    finally:
        for p in reversed(procs):
            p.stop()


def ask(d: Path, cmd: str, level: str = "admin") -> str:
    return send_command(d / f"{level}.sock", cmd)


def row(rows: list[dict], svname: str) -> dict:
    return next(r for r in rows if r["svname"] == svname)


def stat(d: Path) -> list[dict]:
    return parse_stat_csv(ask(d, "show stat"))


def wait_for(d: Path, cond, what: str, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = stat(d)
        if cond(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{d.name}: {what} never happened: {[(r['svname'], r['status']) for r in rows]}")
        time.sleep(0.05)


def same_state(hx: Path, en: Path, cmd: str, timeout: float = 5.0) -> None:
    """Wait until the engine's servers show haproxy's state columns and 'show servers state' (a check
    result may land a moment apart on the two sides), or fail with the last difference."""
    deadline = time.monotonic() + timeout
    while True:
        want = [[r[c] for c in ("svname", *STATE_COLUMNS)] for r in stat(hx)]
        got = [[r[c] for c in ("svname", *STATE_COLUMNS)] for r in stat(en)]
        if got == want and servers_state(en) == servers_state(hx):
            return
        if time.monotonic() > deadline:
            assert got == want, f"after '{cmd}'"
            assert servers_state(en) == servers_state(hx), f"after '{cmd}'"
        time.sleep(0.05)


def servers_state(d: Path) -> list[list[str]]:
    """``show servers state`` lines as fields, less what must differ (time since change, port)."""
    lines = ask(d, "show servers state").split("\n")
    assert lines[0] == "1" and lines[1].startswith("# be_id be_name srv_id"), lines[:2]
    out = [lines[1].split()]
    for line in lines[2:]:
        if line:
            f = line.split()
            out.append(f[:9] + f[10:18] + f[19:])
    return out


def test_answers_are_haproxys_byte_for_byte(pair):
    hx, en, _, _ = pair
    for cmd in SAME_ANSWERS:
        assert ask(en, cmd) == ask(hx, cmd), cmd


@pytest.mark.parametrize("level", ["operator", "user"])
def test_lower_levels_refuse_what_haproxy_refuses(pair, level):
    hx, en, _, _ = pair
    for cmd in LEVEL_COMMANDS:
        assert ask(en, cmd, level) == ask(hx, cmd, level), f"{level}: {cmd}"
    assert ask(en, "clear counters", level) == ask(hx, "clear counters", level)
    # below operator, HAProxy hides the servers' addresses
    assert [r["addr"] for r in parse_stat_csv(ask(en, "show stat", level))] == \
        [r["addr"] for r in parse_stat_csv(ask(hx, "show stat", level))]


def test_show_stat_typed_and_json_fill_the_same_fields_with_the_same_tags(pair):
    hx, en, _, _ = pair
    assert ask(en, "show stat").split("\n")[0] == ask(hx, "show stat").split("\n")[0]

    # every line but the value: object, proxy id, server id, position, name, tags and type
    want = [line.split(":", 3)[:3] for line in ask(hx, "show stat typed").split("\n") if line]
    got = [line.split(":", 3)[:3] for line in ask(en, "show stat typed").split("\n") if line]
    assert got == want

    def shape_json(text: str) -> list:
        return [[{k: v for k, v in f.items() if k != "value"} | {"type": f["value"]["type"]} for f in r]
                for r in json.loads(text)]

    assert shape_json(ask(en, "show stat json")) == shape_json(ask(hx, "show stat json"))
    for cmd in ("show stat 3 4 -1", "show stat -1 2 -1", "show stat 2 1 -1"):
        assert [(r["pxname"], r["svname"]) for r in parse_stat_csv(ask(en, cmd))] == \
            [(r["pxname"], r["svname"]) for r in parse_stat_csv(ask(hx, cmd))], cmd


def test_show_info_has_haproxys_fields_in_its_order(pair):
    hx, en, _, _ = pair
    names = [[line.split(":", 1)[0] for line in ask(d, "show info").split("\n")] for d in (hx, en)]
    assert names[1] == names[0]
    assert len(names[0]) == 71  # 69 fields, the empty line that ends the answer, and the final ''


def test_commands_change_state_stats_and_traffic_as_on_haproxy(pair):
    hx, en, hx_port, en_port = pair
    assert servers_state(en) == servers_state(hx)
    steps = ["set server be/s1 state drain", "set server be/s1 state ready", "set server be/s1 state maint",
             "enable server be/s1", "disable server be/s2", "enable server be/s2",
             "set server be/s1 health down", "set server be/s1 health up", "set server be/s2 health down",
             "set server be/s2 health up", "set server be/s1 weight 50%", "set server be/s1 weight 3",
             "set weight be/s1 1", "disable health be/s1", "enable health be/s1", "set maxconn server be/s2 7",
             "set maxconn server be/s2 0"]
    for cmd in steps:
        assert ask(en, cmd) == ask(hx, cmd) == "\n", cmd
        same_state(hx, en, cmd)
        assert ask(en, "get weight be/s1") == ask(hx, "get weight be/s1"), cmd
        # the next requests go where haproxy's go
        seqs = [[server_of(request(port)) for _ in range(6)] for port in (hx_port, en_port)]
        assert seqs[1] == seqs[0], f"after '{cmd}': haproxy {seqs[0]}, engine {seqs[1]}"


def test_clear_counters_resets_the_maxima_and_all_resets_every_counter(pair):
    hx, en, hx_port, en_port = pair
    for port in (hx_port, en_port):
        for _ in range(4):
            request(port)
    columns = ("stot", "lbtot", "hrsp_2xx", "req_tot", "smax", "rate_max", "bin")
    for cmd in ("clear counters", "clear counters all"):
        assert ask(en, cmd) == ask(hx, cmd) == "\n"
        want, got = stat(hx), stat(en)
        for r_want, r_got in zip(want, got):
            for c in columns:
                if c == "bin":  # bytes differ (header case); both zero or both not
                    assert ((r_got[c] or 0) > 0) == ((r_want[c] or 0) > 0), (cmd, r_got["svname"], c)
                else:
                    assert r_got[c] == r_want[c], (cmd, r_got["svname"], c, r_got[c], r_want[c])


def test_the_socket_answers_socat_like_a_real_one(pair, tmp_path):
    import shutil
    import subprocess

    socat = shutil.which("socat")
    if socat is None:
        pytest.skip("socat is not installed (sudo apt-get install socat)")
    hx, en, _, _ = pair
    outs = [subprocess.run([socat, "stdio", f"unix-connect:{d / 'admin.sock'}"], input="show cli level\n",
                           capture_output=True, text=True, timeout=10).stdout for d in (hx, en)]
    assert outs[1] == outs[0] == "admin\n\n"
