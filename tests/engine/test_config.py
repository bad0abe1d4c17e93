"""The configuration parser: values, HAProxy's messages, the corpus and ``check``."""
from __future__ import annotations

import sys
from importlib import metadata

import pytest
from support.config_corpus import ALL, BROKEN, VALID, engine_output, expected_output

from labsupport.engine.config import Config, TimeFormatError, check, format_haproxy, load, parse, parse_time
from labsupport.engine.config.keywords import PROXY_COMMON, PROXY_REGISTERED, SERVER_EXTRA, SERVER_KEYWORDS, best_match
from labsupport.engine.config.words import split_line
from labsupport.errors import ConfigError

HEAD = """global
    maxconn 500
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
"""
FE = """frontend fe
    bind 127.0.0.1:13000
    default_backend be
"""


def alerts_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, "t.cfg")
    return [m.text for m in info.value.messages if m.level == "ALERT"]


# --------------------------------------------------------------------------- corpus
def test_corpus_size():
    assert len(BROKEN) >= 20 and len(VALID) >= 5


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_matches_expected(path):
    assert engine_output(path) == expected_output(path)
    code = int(expected_output(path).split()[1])
    assert (code == 1) == (path.parent.name == "broken")


# --------------------------------------------------------------------------- times
@pytest.mark.parametrize("text, ms", [
    ("10", 10), ("10ms", 10), ("10s", 10000), ("1m", 60000), ("2h", 7200000), ("1d", 86400000),
    ("10us", 1), ("1500us", 2), ("0", 0), ("2147483647", 2147483647), ("24d", 2073600000),
])
def test_parse_time(text, ms):
    assert parse_time(text) == ms


@pytest.mark.parametrize("text, kind, char", [
    ("1.5s", "char", "."), ("5S", "char", "S"), ("-1", "char", "-"), ("10x", "char", "x"),
    ("", "char", ""), ("2147483648", "over", ""), ("25d", "over", ""),
])
def test_parse_time_errors(text, kind, char):
    with pytest.raises(TimeFormatError) as info:
        parse_time(text)
    assert (info.value.kind, info.value.char) == (kind, char)


def test_timeout_messages_match_haproxy():
    text = HEAD + FE + "backend be\n    timeout server 5 s\n    timeout queue 1.5s\n    server s1 127.0.0.1:1\n"
    assert alerts_of(text) == [
        "parsing [t.cfg:12] : 'timeout server' : unexpected extra argument 's' after value '5'.",
        "parsing [t.cfg:13] : unexpected character '.' in 'timeout queue'",
    ]


# --------------------------------------------------------------------------- values
def test_defaults_apply_to_later_proxies_and_reset():
    cfg = parse(HEAD + "    retries 5\n    option redispatch\n    balance leastconn\n" + FE
                + "backend be\n    server s1 127.0.0.1:1\n"
                + "defaults\n    mode tcp\nbackend be2\n    server s1 127.0.0.1:1\n")
    be, be2 = cfg.proxy("be"), cfg.proxy("be2")
    assert (be.mode, be.retries, be.redispatch, be.balance) == ("http", 5, True, "leastconn")
    assert be.timeouts.connect == 5000 and be.timeouts.server == 50000
    assert (be2.mode, be2.retries, be2.redispatch, be2.balance, be2.timeouts.connect) == ("tcp", 3, False,
                                                                                         "roundrobin", None)


def test_server_fields_ids_and_weights():
    cfg = parse(HEAD + FE + """backend be
    server a localhost:8080 weight abc
    server b 127.0.0.1:8081 id 1 check inter 1s rise 1 fall 5 backup
    server c 127.0.0.1:8082 weight 10x maxconn 3 disabled fastinter 100 downinter 1m
""")
    a, b, c = cfg.proxy("be").servers
    assert (a.host, a.port, a.weight, a.id) == ("127.0.0.1", 8080, 0, 2)  # 'weight abc' is silently 0
    assert (b.id, b.check, b.inter, b.rise, b.fall, b.backup) == (1, True, 1000, 1, 5, True)
    assert (c.weight, c.maxconn, c.disabled, c.fastinter, c.downinter, c.id) == (10, 3, True, 100, 60000, 3)


def test_use_backend_rules():
    cfg = parse(HEAD + """frontend fe
    bind *:13000
    acl is_api path_beg -i /api
    use_backend be if is_api
    use_backend be if { path /x }
    use_backend be unless { hdr(host) -i a.example b.example }
    use_backend be if TRUE
    use_backend be
    default_backend be
backend be
    server s1 127.0.0.1:1
""")
    rules = cfg.proxy("fe").use_backends
    assert [(r.backend, r.negate, r.line) for r in rules] == [("be", False, 11), ("be", False, 12), ("be", True, 13),
                                                              ("be", False, 14), ("be", False, 15)]
    assert rules[4].cond is None and rules[4].dynamic is None  # no condition: always
    terms = [[(t.negated, t.name, [a.keyword for a in t.acls]) for t in r.cond.groups[0]] for r in rules[:4]]
    assert terms == [[(False, "is_api", ["path_beg"])], [(False, "", ["path"])], [(False, "", ["hdr(host)"])],
                     [(False, "TRUE", ["TRUE"])]]
    acl = rules[0].cond.groups[0][0].acls[0]
    assert (acl.expr.fetch, acl.matcher.method, acl.matcher.patterns, acl.matcher.icase) == (
        "path", "beg", ("/api",), True)
    assert cfg.proxy("fe").binds[0].host == ""


def test_balance_hash_and_checks():
    cfg = parse(HEAD + FE + """backend be
    balance uri len 10 path-only
    hash-type consistent djb2
    option httpchk /health
    http-check expect status 204
    option allbackups
    server s1 127.0.0.1:1
backend r
    balance random(4)
    option httpchk HEAD /ping HTTP/1.1
    server s1 127.0.0.1:1
""")
    be, r = cfg.proxy("be"), cfg.proxy("r")
    assert (be.balance, be.balance_args, be.hash_type, be.hash_function, be.hash_avalanche) == (
        "uri", ("len", "10", "path-only"), "consistent", "djb2", False)
    assert (be.httpchk, be.http_check_expect_status, be.allbackups) == (("OPTIONS", "/health"), 204, True)
    assert (r.balance, r.balance_args, r.httpchk) == ("random", ("4",), ("HEAD", "/ping"))


def test_stats_global_socket_and_maxconn():
    cfg = parse("global\n    maxconn 300\n    stats socket /tmp/x.sock mode 600 level admin\n" + HEAD[7:]
                + "listen st\n    bind :8083\n    stats uri /\n    stats refresh 5\n    stats auth u:p\n"
                "    stats admin if TRUE\n")
    st = cfg.proxy("st").stats
    assert (st.enabled, st.uri, st.refresh, st.auth, st.admin) == (True, "/", 5000, (("u", "p"),), True)
    assert (cfg.maxconn, cfg.stats_socket, cfg.stats_socket_level) == (300, "/tmp/x.sock", "admin")


def test_split_line_comments_and_quotes():
    assert split_line('    bind *:3000 # where clients connect') == ["bind", "*:3000"]
    assert split_line("  stats auth 'a b':\"c#d\" x\\ y") == ["stats", "auth", "a b:c#d", "x y"]
    assert split_line("# only a comment") == []


# --------------------------------------------------------------------------- messages
def test_seed_config_gives_haproxy_errors_and_header_hints():
    text = (BROKEN[0]).read_text()  # the seed article's config exactly as printed
    assert "#global section" in text
    with pytest.raises(ConfigError) as info:
        parse(text, "seed.cfg")
    msgs = info.value.messages
    assert [m.text for m in msgs][:2] == ["parsing [seed.cfg:3]: unknown keyword 'maxconn' out of section.",
                                          "parsing [seed.cfg:7]: unknown keyword 'mode' out of section."]
    assert "'global'" in msgs[0].hint and "'defaults'" in msgs[1].hint and msgs[2].hint is None
    assert (msgs[0].file, msgs[0].line) == ("seed.cfg", 3) and info.value.stage == "parse"


def test_backend_maxconn_warning_and_located_warnings():
    cfg = parse(HEAD + FE + "backend be\n    maxconn 10\n    server s1 127.0.0.1:1\n", "w.cfg")
    assert [m.text for m in cfg.warnings] == [
        "parsing [w.cfg:12] : 'maxconn' ignored because backend 'be' has no frontend capability. "
        "Maybe you want 'fullconn' instead ?"]


@pytest.mark.parametrize("line", [
    "http-request set-log-level silent",
    "compression algo gzip", "errorfile 503 /etc/haproxy/errors/503.http",
    "timeout tunnel 1h", "balance url_param id", "option forwardfor except 10.0.0.0/8",
])
def test_engine_never_silently_ignores_a_proxy_keyword(line):
    cfg = parse(HEAD + FE + f"backend be\n    {line}\n    server s1 127.0.0.1:1\n", "i.cfg")
    notes = [m for m in cfg.warnings if "course engine" in m.text]
    assert len(notes) == 1 and notes[0].line == 12 and notes[0].file == "i.cfg"


def test_logging_lines_are_read_not_ignored():
    cfg = parse("global\n    log stdout format raw local0\n" + HEAD[7:] + FE
                + "backend be\n    log global\n    option httplog\n    option dontlognull\n    server s1 127.0.0.1:1\n")
    be = cfg.proxy("be")
    assert (cfg.log_targets, be.log_global, be.httplog, be.dontlognull) == (("stdout",), True, True, True)
    assert not [m for m in cfg.warnings if "course engine" in m.text]


@pytest.mark.parametrize("line", ["daemon", "user haproxy", "nbthread 4", "log /dev/log local0",
                                  "stats timeout 30s", "chroot /var/lib/haproxy"])
def test_engine_never_silently_ignores_a_global_keyword(line):
    cfg = parse(f"global\n    {line}\n" + HEAD[7:] + FE + "backend be\n    server s1 127.0.0.1:1\n")
    assert [m.line for m in cfg.warnings if "course engine" in m.text] == [2]


def test_suggestions_follow_haproxy():
    assert best_match("balanc", PROXY_REGISTERED, PROXY_COMMON) == "balance"
    assert best_match("backends", PROXY_REGISTERED, PROXY_COMMON) == "backend"
    assert best_match("wieght", SERVER_KEYWORDS, SERVER_EXTRA) == "weight"
    assert best_match("xyzzyq", SERVER_KEYWORDS, SERVER_EXTRA) is None


def test_several_errors_in_one_pass():
    text = HEAD + FE + "backend be\n    balance rondrobin\n    mode https\n    server s1 127.0.0.1:1 weight 257\n"
    assert alerts_of(text) == [
        "parsing [t.cfg:12] : balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', "
        "'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.",
        "parsing [t.cfg:13] : unknown proxy mode 'https'.",
        "[t.cfg:14] : 'server be/s1' : weight of server s1 is not within 0 and 256 (257)..",
    ]


# --------------------------------------------------------------------------- check / format
def test_check_exit_codes_and_stdout(tmp_path):
    ok = HEAD + FE + "backend be\n    server s1 127.0.0.1:1\n"
    assert check(ok) == (0, "Configuration file is valid\n", "")
    code, out, err = check(HEAD + "backend be\n    server s1 127.0.0.1:1\n", pid=7)
    assert (code, out, err) == (2, "Configuration file has no error but will not start (no listener) => exit(2).\n", "")
    code, out, err = check(str(tmp_path / "missing.cfg"), pid=7)
    assert code == 1 and err.endswith(f"config : Cannot open configuration file/directory {tmp_path}/missing.cfg"
                                      " : No such file or directory\n")


def test_missing_final_newline_only_matters_in_files(tmp_path):
    text = HEAD + FE + "backend be\n    server s1 127.0.0.1:1"
    assert isinstance(parse(text), Config)
    path = tmp_path / "h.cfg"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert info.value.messages[-1].text == (f"parsing [{path}:12]: Missing LF on last line, file might have "
                                            "been truncated at position 26.")


def test_format_haproxy_layout():
    with pytest.raises(ConfigError) as info:
        parse(HEAD + FE + "backend be\n    server s1 127.0.0.1:1\n    server s1 127.0.0.1:2\n", "d.cfg")
    err = info.value
    assert err.stage == "check"
    assert format_haproxy(err.messages, "d.cfg", pid=42, stage=err.stage).splitlines() == [
        f"[NOTICE]   (42) : labsupport.balancer version is {metadata.version('labsupport')} (the course engine, "
        "behaving like HAProxy 2.6)",
        f"[NOTICE]   (42) : path to executable is {sys.executable} (Python, running labsupport.balancer)",
        "[ALERT]    (42) : config : parsing [d.cfg:13] : backend 'be', another server named 's1' was already "
        "defined at line 12, please use distinct names.",
        "[ALERT]    (42) : config : Fatal errors found in configuration.",
    ]
    assert err.messages[0].hint and err.messages[0].line == 13


def test_servers_without_an_id_get_the_lowest_free_ones_once_in_the_model():
    """HAProxy numbers servers in declaration order, skipping ids set with 'id'; every Proxy does it
    (parsed or built by hand), so the algorithms, stats and runtime all read the same ``server.id``."""
    from labsupport.engine.config import Proxy, ServerConfig

    servers = (ServerConfig("a", "127.0.0.1", 1), ServerConfig("b", "127.0.0.1", 2, id=1),
               ServerConfig("c", "127.0.0.1", 3), ServerConfig("d", "127.0.0.1", 4, id=3))
    assert [s.id for s in Proxy("backend", "be", servers=servers).servers] == [2, 1, 4, 3]
    cfg = parse(HEAD + FE + "backend be\n    server a 127.0.0.1:1\n    server b 127.0.0.1:2 id 1\n"
                "    server c 127.0.0.1:3\n", "ids.cfg")
    assert [s.id for s in cfg.proxy("be").servers] == [2, 1, 3]


def test_outline_places_every_line_in_its_section_as_haproxy_reads_it():
    from labsupport.engine.config import outline

    text = ("# top\nglobal\n    daemon  # a comment\ncache c1\n    total-max-size 4\n"
            "backend be # named\n    server 's 1' 127.0.0.1:1 weight 2\n#backend old\n")
    lines = outline(text)
    assert [(ln.number, ln.section, ln.name, ln.opens) for ln in lines[:7]] == [
        (1, "", "", False), (2, "global", "", True), (3, "global", "", False), (4, "cache", "c1", True),
        (5, "cache", "c1", False), (6, "backend", "be", True), (7, "backend", "be", False)]
    assert lines[2].words == ("daemon",) and lines[7].words == ()  # comments are not words
    server = lines[6]
    assert server.words == ("server", "s 1", "127.0.0.1:1", "weight", "2")
    assert server.with_word(1, "t 2") == "    server 't 2' 127.0.0.1:1 weight 2"  # inside its quotes
    escaped = outline("backend be\n    server s\\ 1 127.0.0.1:1 weight 2\n")[1]
    assert escaped.words[1] == "s 1" and escaped.spans() is None  # not in the text as written
    rebuilt = escaped.with_word(4, "5")  # rebuilt from the words, quoting where needed
    assert rebuilt == '    server "s 1" 127.0.0.1:1 weight 5' and outline(rebuilt)[0].words == (
        "server", "s 1", "127.0.0.1:1", "weight", "5")
    assert lines[2].with_word(0, "quiet") == "    quiet  # a comment"


# --------------------------------------------------------------------------- default-server
def test_default_server_settings_inherit_accumulate_and_yield_to_the_server_line():
    cfg = parse(HEAD + "    default-server check inter 2s weight 5\n" + FE + "backend be\n"
                "    default-server fall 2 backup\n    server a 127.0.0.1:1\n"
                "    server b 127.0.0.1:2 no-check no-backup weight 9\n"
                "backend other\n    server c 127.0.0.1:3\n", "t.cfg")
    a, b = cfg.proxy("be").servers
    assert (a.check, a.inter, a.weight, a.fall, a.backup) == (True, 2000, 5, 2, True)
    assert (b.check, b.weight, b.backup) == (False, 9, False)
    c = cfg.proxy("other").servers[0]
    assert (c.check, c.weight, c.fall, c.backup) == (True, 5, 3, False)  # the backend's own lines stay its own


def test_default_server_keyword_the_engine_skips_is_a_located_warning():
    cfg = parse(HEAD + FE + "backend be\n    default-server send-proxy weight 3\n    server a 127.0.0.1:1\n"
                "    server b 127.0.0.1:2\n", "t.cfg")
    notes = [m for m in cfg.warnings if "send-proxy" in m.text]
    assert [(m.line, m.text) for m in notes] == [
        (12, "parsing [t.cfg:12] : 'default-server ... send-proxy' is accepted by HAProxy but ignored by the "
             "course engine.")]
