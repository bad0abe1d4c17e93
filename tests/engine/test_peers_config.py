"""``peers`` sections read as HAProxy 2.6 reads them (config/peers.py): the local peer, the tables a
section declares, HAProxy's alerts and warnings (located), and the engine's own notes (remote peers)."""
from __future__ import annotations

import socket

from labsupport.engine.config import check
from labsupport.engine.config.parser import analyse

HEAD = ("global\n    localpeer me\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n"
        "    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:18000\n"
        "    stick-table type ip size 1k expire 1m store gpc0 peers lab\n    http-request track-sc0 src\n")
# HEAD has 11 lines: the peers section starts at line 12


def _messages(text: str, **kw):
    result = analyse(text, "lab.cfg", **kw)
    return result, [(m.level, m.text, m.line) for m in result.messages]


def test_a_section_with_its_local_peer_binds_the_table_without_a_word():
    result, msgs = _messages(HEAD + "peers lab\n    peer me 127.0.0.1:10000\n")
    assert msgs == []
    cfg = result.config
    assert cfg.proxy("fe").stick_table.peers == "lab"
    (sec,) = cfg.peers
    assert (sec.name, sec.address, sec.local.line) == ("lab", ("127.0.0.1", 10000), 13)


def test_the_local_peer_name_is_localpeer_then_dash_L_then_the_host_name():
    text = HEAD.replace("global\n    localpeer me\n", "") + "peers lab\n    peer me 127.0.0.1:10000\n"
    result, _ = _messages(text, localpeer="me")
    assert result.config.peers[0].local.name == "me"
    host = socket.gethostname()
    result, msgs = _messages(text.replace("peer me", f"peer {host}"))
    assert msgs == [] and result.config.peers[0].local.name == host
    # -L wins over 'localpeer', with HAProxy's warning
    result, msgs = _messages(HEAD + "peers lab\n    peer L 127.0.0.1:10000\n", localpeer="L")
    assert msgs[0] == ("WARNING", "parsing [lab.cfg:2] : 'localpeer' ignored since it is already set by using "
                       "the '-L' command line argument.", 2)
    assert result.config.peers[0].local.name == "L"


def test_a_section_without_the_local_peer_is_removed_and_the_table_stays_local():
    result, msgs = _messages(HEAD + "peers lab\n    peer other 127.0.0.1:10000\n")
    assert msgs == [("WARNING", "Removing incomplete section 'peers lab' (no peer named 'me').", None)]
    assert result.config.peers == () and result.config.proxy("fe").stick_table.peers == ""


def test_an_empty_section_has_no_local_peer_to_find():
    _, msgs = _messages(HEAD + "peers lab\n")
    assert msgs[0] == ("ALERT", "Proxy 'fe': unable to find local peer 'me' in peers section 'lab'.", 10)
    _, msgs = _messages(HEAD.replace("peers lab", "peers nope") + "peers lab\n    peer me 127.0.0.1:10000\n")
    assert msgs[0] == ("ALERT", "Proxy 'fe': unable to find sync peers 'nope'.", 10)


def test_a_remote_peer_is_a_located_engine_warning():
    result, msgs = _messages(HEAD + "peers lab\n    peer me 127.0.0.1:10000\n    peer other 10.0.0.2:10000\n")
    (level, text, line), = msgs
    assert (level, line) == ("WARNING", 14)
    assert text.startswith("parsing [lab.cfg:14] : 'peer other' : the course engine does not speak HAProxy's "
                           "peers protocol")
    assert "not shared with 'other' (10.0.0.2:10000)" in text
    assert result.config.proxy("fe").stick_table.peers == "lab"  # kept across reloads all the same


def test_a_table_line_makes_a_table_named_after_the_section():
    text = (HEAD.replace(" peers lab", "") + "    http-request track-sc1 src table lab/t1\n"
            "peers lab\n    bind 127.0.0.1:10000\n    server me\n"
            "    table t1 type ip size 1k expire 1m store http_req_rate(10s),gpc0\n")
    result, msgs = _messages(text)
    assert msgs == []
    (sec,) = result.config.peers
    assert sec.address == ("127.0.0.1", 10000)
    (t,) = sec.tables
    assert (t.name, t.peers, t.expire, t.store) == ("lab/t1", "lab", 60000, (("http_req_rate", 10000), ("gpc0", 0)))
    _, msgs = _messages(text.replace("table lab/t1", "table lab/t2"))
    assert msgs[0] == ("ALERT", "Proxy 'fe': unable to find table 'lab/t2' referenced by track-sc1.", 12)


def test_haproxys_alerts_for_peers_lines_are_located():
    cases = {
        "peers lab\n    peer me 127.0.0.1:10000\n    bind 127.0.0.1:10001\n":
            "parsing [lab.cfg:14] : mixing \"peer\" and \"bind\" line is forbidden",
        "peers lab\n    peer me 127.0.0.1:10000\n    peer me 127.0.0.1:10001\n":
            "parsing [lab.cfg:14] : 'peer me' : local peer name already referenced at lab.cfg:13. me",
        "peers lab\n    peer me 127.0.0.1\n":
            "parsing [lab.cfg:13] : 'peer me' : missing port specification in '127.0.0.1'",
        "peers lab\n    foo bar\n": "parsing [lab.cfg:13] : unknown keyword 'foo' in 'peers' section",
        "peers lab\n    peer me 127.0.0.1:10000\n    table t1 type ip\n": "parsing [lab.cfg:14] : table: missing size.",
        "peers lab\n    peer me 127.0.0.1:10000\n    table fe type ip size 1k\n":
            "parsing [lab.cfg:14] : stick-table name 'fe' conflicts with table declared in frontend 'fe' at "
            "lab.cfg:10.",
        "peers lab\n    bind 127.0.0.1:10000\n    bind 127.0.0.1:10001\n":
            "parsing [lab.cfg:14] : One listener per \"peers\" section is authorized but another is already "
            "configured at [lab.cfg:13].",
        "peers l@b\n": "parsing [lab.cfg:12] : character '@' is not permitted in 'peers' name 'l@b'.",
        "peers\n": "parsing [lab.cfg:12] : missing name for peers section.",
        "peers lab\n    peer me 127.0.0.1:10000\npeers lab\n    peer me 127.0.0.1:10001\n":
            "Parsing [lab.cfg:14]: peers section 'lab' has the same name as another peers section declared at "
            "lab.cfg:12.",
    }
    for tail, alert in cases.items():
        result, msgs = _messages(HEAD + tail)
        assert result.config is None, tail
        assert msgs[0][:2] == ("ALERT", alert), tail


def test_check_options_on_a_peer_get_haproxys_warning_and_disabled_sections_are_quiet():
    _, msgs = _messages(HEAD + "peers lab\n    peer me 127.0.0.1:10000 check\n")
    assert msgs == [("WARNING", "parsing [lab.cfg:13] : 'peer me' : init_addr, resolvers, check and agent are "
                     "ignored for peers.", 13)]
    result, msgs = _messages(HEAD + "peers lab\n    disabled\n    peer me 127.0.0.1:10000\n")
    assert msgs == [] and result.config.peers == () and result.config.proxy("fe").stick_table.peers == ""


def test_check_reports_a_peers_section_as_haproxy_c_does():
    code, out, err = check(HEAD + "peers lab\n    peer other 127.0.0.1:10000\n", pid=1, name="lab.cfg")
    assert (code, out) == (0, "Warnings were found.\nConfiguration file is valid\n")
    assert "[WARNING]  (1) : config : Removing incomplete section 'peers lab' (no peer named 'me').\n" in err


def test_parse_and_load_take_the_local_peer_name_as_dash_L(tmp_path):
    from labsupport.engine.config import load, parse

    text = HEAD.replace("global\n    localpeer me\n", "") + "peers lab\n    peer L 127.0.0.1:10000\n"
    assert parse(text, localpeer="L").peers[0].local.name == "L"
    path = tmp_path / "lab.cfg"
    path.write_text(text)
    assert load(str(path), localpeer="L").proxy("fe").stick_table.peers == "lab"
    assert load(str(path)).peers == ()  # the host name is not 'L': the section is removed
