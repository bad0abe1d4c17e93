"""The stick table's arithmetic without sockets: HAProxy's freq_ctr rates, keys, the size limit."""
from __future__ import annotations

from labsupport.engine.sticktable import FreqCtr, StickTable, TableConfig, table_key


def test_a_rate_weights_the_previous_period_by_what_is_left_of_the_current_one():
    f, t0 = FreqCtr(), 10_000_000  # (times are HAProxy's now_ms: far from 0)
    for _ in range(10):
        f.update(1000, now=t0)
    assert f.read(1000, now=t0 + 999) == 10
    assert f.read(1000, now=t0 + 1500) == 5  # half of the burst's period still counts
    f.update(1000, now=t0 + 1500)
    assert f.read(1000, now=t0 + 1500) == 6
    assert f.read(1000, now=t0 + 2250) == 1  # 1 * 750/1000, only the lone event: the low-rate rule keeps 1
    assert f.read(1000, now=t0 + 3001) == 0


def test_a_lone_event_reads_one_until_the_period_after_it_is_over():
    f, t0 = FreqCtr(), 10_000_000
    f.update(2000, now=t0)
    assert [f.read(2000, now=t0 + t) for t in (0, 1999, 3000, 4000, 4001)] == [1, 1, 1, 1, 0]


def test_two_periods_without_events_start_afresh():
    f, t0 = FreqCtr(), 10_000_000
    f.update(1000, 3, now=t0)
    f.update(1000, now=t0 + 2500)
    assert (f.prev_ctr, f.curr_ctr, f.curr_tick) == (0, 1, t0 + 2500)


def test_keys_as_each_table_type_reads_a_sample():
    assert table_key("ip", "127.0.0.2") == "127.0.0.2"
    assert table_key("ip", "::ffff:10.0.0.1") == "10.0.0.1"
    assert table_key("ip", "::1") is None
    assert table_key("ipv6", "10.0.0.1") == "::ffff:a00:1"
    assert table_key("integer", "127.0.0.1") == 2130706433
    assert table_key("string", "abcdef", 4) == "abcd"


def test_a_full_table_drops_its_oldest_unused_entry_or_refuses_with_nopurge():
    t = StickTable(TableConfig("fe", "ip", 2, store=(("gpc0", 0),)))
    a = t.get("10.0.0.1")
    a.use = 1  # held by a request: never dropped
    t.get("10.0.0.2")
    t.get("10.0.0.3")
    assert list(t.entries) == ["10.0.0.1", "10.0.0.3"]
    full = StickTable(TableConfig("fe", "ip", 1, nopurge=True))
    assert full.get("10.0.0.1") is not None and full.get("10.0.0.2") is None


def test_text_keys_are_escaped_as_haproxys_show_table_prints_them():
    """tests/vectors/show-table.json, case 'escapes': HAProxy 2.6.12's answer for the key that
    tests/support/show_table_capture.py sent (a space, '=', two backslashes, a tab)."""
    import json
    import re
    import socket

    from support.paths import ROOT

    from labsupport.engine.balancer import Balancer
    from labsupport.engine.sticktable import dump_text
    from labsupport.ports import free_ports

    vector = next(v for v in json.loads((ROOT / "tests" / "vectors" / "show-table.json").read_text())["vectors"]
                  if v["case"] == "escapes")
    assert dump_text("bob key=1\\\\x\tz") == "bob\\ key\\=1\\\\\\\\x\\tz" and dump_text("a\x01\x1bb\0c") == "a\\x01\\eb"
    port, = free_ports(1)
    text = ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
            + vector["config"].replace("PORT", str(port)).replace("@s1", "127.0.0.1:1"))
    with Balancer.from_text(text) as lb:
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Api-Key: bob key=1\\\\x\tz\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
        answer = lb.command(vector["command"])
    pointer = re.compile(r"^0x[0-9a-f]+:", re.M)
    assert pointer.sub("0x:", answer) == pointer.sub("0x:", vector["answer"])
