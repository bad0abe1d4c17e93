"""Lesson 08's stick-table reader: HAProxy 2.6.12's own ``show table`` answers (tests/vectors/show-table.json)
read into rows, the errors for a table that is not there, and the same reading on a live engine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.sessions_lab import ratelimit_engine

from labsupport.course.traffic.sender import send
from labsupport.errors import CommandError, UsageError
from labsupport.lessons.sessions import tables

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "show-table.json").read_text())["vectors"]


def answer(case: str, command: str) -> str:
    return next(v["answer"] for v in VECTORS if v["case"] == case and v["command"] == command)


class Recorded:
    """A balancer that answers the runtime API as HAProxy did in one captured case."""

    def __init__(self, case: str) -> None:
        self.case, self.asked = case, []

    def command(self, line: str) -> str:
        self.asked.append(line)
        return answer(self.case, line)


def test_the_rate_limit_table_as_haproxy_printed_it():
    t = tables.parse_show_table(answer("ratelimit", "show table shop"))
    assert (t.name, t.type, t.size, t.used) == ("shop", "ip", 102400, 3)
    assert t.columns == ["key", "use", "exp", "gpc0", "conn_cur", "http_req_rate(10s)", "http_err_rate(10s)"]
    assert t.column("key") == ["127.0.0.2", "127.0.0.3", "127.0.0.10"]  # HAProxy's order: the address as a number
    assert t.row("127.0.0.2") == {"key": "127.0.0.2", "use": 0, "exp": 29.995, "gpc0": 0, "conn_cur": 0,
                                  "http_req_rate(10s)": 25, "http_err_rate(10s)": 5}  # 5 answers were 429
    assert t.row("127.0.0.3")["gpc0"] == 4  # set table shop key 127.0.0.3 data.gpc0 4
    assert t.rates() == ["http_req_rate(10s)", "http_err_rate(10s)"]
    assert t.title == "table shop (type ip, 3 of 102400 entries used)"
    text = repr(t)
    assert text.splitlines()[1].split() == t.columns and "127.0.0.10  0    30.0" in text
    assert "<th" in t._repr_html_()


def test_a_filtered_answer_and_an_empty_table():
    one = tables.parse_show_table(answer("ratelimit", "show table shop data.http_req_rate gt 20"))
    assert one.column("key") == ["127.0.0.2"] and one.used == 3  # used counts the whole table
    empty = tables.parse_show_table(answer("ratelimit-empty", "show table shop"))
    assert len(empty) == 0 and empty.columns == ["key", "use", "exp"] and empty.used == 0


def test_stick_on_src_gives_a_server_column():
    t = tables.parse_show_table(answer("stick-on-src", "show table be"))
    assert t.columns == ["key", "use", "exp", "server", "gpc0_rate(500ms)", "conn_cnt", "conn_rate(1m)",
                         "http_req_cnt", "gpc1"]
    assert t.column("server") == ["s1", "s2", "s3", "s1"]  # roundrobin, then sticky


def test_ipv6_string_and_integer_keys():
    assert tables.parse_show_table(answer("types", "show table per_ip")).column("key") == ["::ffff:127.0.0.2",
                                                                                   "::ffff:127.0.0.3"]
    t = tables.parse_show_table(answer("types", "show table per_key"))
    assert "key=bob\\ key" in answer("types", "show table per_key")  # HAProxy escapes the space
    assert t.column("key") == ["alice", "bob key"] and t.column("exp") == [0.0, 0.0]  # no expire: 0
    assert t.columns[-2:] == ["http_req_rate(2s)", "http_err_cnt"]
    assert tables.parse_show_table(answer("types", "show table per_int")).column("key") == [0, 1, 2]
    escaped = tables.parse_show_table(answer("escapes", "show table per_key"))
    assert escaped.column("key") == ["bob key=1\\\\x\tz"] and escaped.column("http_req_rate(2s)") == [1]


def test_the_pieces():
    assert [tables.period_text(ms) for ms in (10000, 60000, 500, 2000, 3_600_000, 86_400_000, 90_000, 1500)] == \
        ["10s", "1m", "500ms", "2s", "1h", "1d", "90s", "1500ms"]
    assert tables.unescape(r"a\ b\=c\\d\x01\t") == "a b=c\\d\x01\t"
    assert tables.parse_entry("0x1: key=a\\=b use=1 exp=0 gpc0=3 gpc_rate(1000)[1]=2", "string") == \
        {"key": "a=b", "use": 1, "exp": 0.0, "gpc0": 3, "gpc_rate(1s)[1]": 2}
    assert tables.parse_entry("0x2: key=10.0.0.1 use=0 exp=5 server_id=2 server_key=-")["server_key"] is None
    assert tables.parse_entry("# table: x, type: ip, size:1, used:0") is None


def test_table_names_in_haproxys_order():
    assert tables.table_names(Recorded("types")) == ["per_int", "per_key", "per_ip"]  # the last declared first
    assert tables.table_names(Recorded("ratelimit")) == ["shop"]


def test_one_table_may_go_unnamed_several_may_not():
    lb = Recorded("ratelimit")
    assert tables.show_table(lb).name == "shop" and lb.asked == ["show table", "show table shop"]
    with pytest.raises(UsageError, match=r"3 stick tables \('per_int', 'per_key', 'per_ip'\): say which one, "
                                         r"e.g. show_table\(lb, 'per_int'\)"):
        tables.show_table(Recorded("types"))


def test_a_table_that_is_not_there_names_those_that_are():
    class Typo(Recorded):
        def command(self, line: str) -> str:
            return answer("ratelimit", "show table nosuch") if line == "show table shoop" else super().command(line)

    with pytest.raises(UsageError) as e:
        tables.show_table(Typo("ratelimit"), "shoop")
    assert str(e.value) == ("no stick table named 'shoop'; this balancer's tables: 'shop' (a table is named after "
                            "the frontend or backend that declares it)")
    with pytest.raises(UsageError, match="a table's name is one word"):
        tables.show_table(Recorded("ratelimit"), "shop key 127.0.0.2")


def test_other_answers_are_command_errors():
    with pytest.raises(CommandError, match="not a table"):
        tables.parse_show_table("Unknown command\n")
    with pytest.raises(CommandError, match="level operator or admin"):
        tables.parse_show_table("# table: shop, type: ip, size:10, used:1\n"
                         "# contents not dumped due to insufficient privileges\n")


@pytest.fixture(scope="module")
def shop():
    """ratelimit.cfg on the engine, on a free port, its three servers one Flask server."""
    with ratelimit_engine() as lab:
        yield lab


def test_a_live_engine(shop):
    lb, url = shop
    assert tables.table_names(lb) == ["shop"] and len(tables.show_table(lb, "shop")) == 0
    run = send(url, 23, source="127.0.0.2", progress=False)
    # track-sc0 counts a request before the deny reads the rate: the 21st reads 21 > 20, and is the first 429
    assert [r.status for r in sorted(run.results, key=lambda r: r.n)] == [200] * 20 + [429] * 3
    send(url, 2, source="127.0.0.3", progress=False)
    lb.command("set table shop key 127.0.0.3 data.gpc0 7")
    t = tables.show_table(lb)
    assert t.column("key") == ["127.0.0.2", "127.0.0.3"]
    assert {k: t.row(k)["http_req_rate(10s)"] for k in t.column("key")} == {"127.0.0.2": 23, "127.0.0.3": 2}
    assert t.row("127.0.0.2")["http_err_rate(10s)"] == 3 and t.row("127.0.0.3")["gpc0"] == 7
    assert 0 < t.row("127.0.0.2")["exp"] <= 30
    with pytest.raises(UsageError, match="this balancer's tables: 'shop'"):
        tables.show_table(lb, "carts")
    lb.command("clear table shop")
    assert len(tables.show_table(lb)) == 0
