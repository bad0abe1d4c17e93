"""http-request / http-response rules in the engine, without real HAProxy: the parsed rules, the messages of
refused lines (pinned from haproxy -c; tests/differential/test_actions.py compares them live), the warnings
of rules the engine skips, and the rewrites, redirects and answers as plain functions."""
from __future__ import annotations

import pytest
from support.actions_cases import BAD_RULES, rule_config

from labsupport.engine.config import analyse, parse
from labsupport.engine.config.model import HttpRule
from labsupport.engine.proxy.actions import (
    STOP,
    Reply,
    edit_headers,
    edit_line,
    holds,
    redirect,
    render,
    run_request,
    run_response,
)
from labsupport.engine.proxy.request import Req
from labsupport.engine.sample import Ctx


def rules_of(line: str, side: str = "request") -> tuple[HttpRule, ...]:
    cfg = parse(rule_config(line), "r.cfg")
    fe = cfg.proxy("fe")
    return fe.http_request if side == "request" else fe.http_response


class Client:
    """What the rules read of a client connection: the request as a sample context."""

    @staticmethod
    def sample_ctx(r: Req) -> Ctx:
        return Ctx(r, "127.0.0.9", 40000, "127.0.0.1", 80)


def ctx(r: Req | None = None) -> Ctx:
    return Client.sample_ctx(r if r is not None else req())


def req(target: bytes = b"/", headers: tuple[bytes, ...] = (), method: bytes = b"GET") -> Req:
    r = Req(0.0)
    r.method, r.url, r.version = method, target, b"1.1"
    r.headers = [b"Host: lab\r\n", *headers]
    r.host = b"lab"
    return r


# --------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("line,message", BAD_RULES)
def test_refused_lines_get_haproxys_message_and_stop_the_parse(line, message):
    result = analyse(rule_config(line), "r.cfg")
    alerts = [m for m in result.messages if m.level == "ALERT"]
    assert result.config is None and result.stage == "abort"
    assert len(alerts) == 1 and message in alerts[0].text and alerts[0].line == 8


def test_rules_are_read_in_order_with_their_arguments():
    cfg = parse(rule_config("http-request redirect scheme https code 301 drop-query if { path_beg /a }\n"
                            "    http-request set-header X-Real-IP %ci\n"
                            "    http-request del-header X-A -m beg\n"
                            "    http-response set-status 503 reason Busy\n"
                            "    http-request deny deny_status 429 unless TRUE"), "r.cfg")
    fe = cfg.proxy("fe")
    red, seth, delh, deny = fe.http_request
    assert (red.action, red.match, red.status, red.flags, red.value) == ("redirect", "scheme", 301, ("drop-query",),
                                                                        (b"https",))
    assert holds(red, ctx(req(b"/a/b"))) and not holds(red, ctx(req(b"/b")))
    assert (seth.name, seth.value) == (b"x-real-ip", ("ci",))
    assert (delh.name, delh.match) == (b"x-a", "beg")
    assert (deny.action, deny.status, deny.match, deny.negate, deny.line) == ("deny", 429, "errorpage", True, 12)
    assert not holds(deny, ctx())  # 'unless TRUE'
    assert [(r.action, r.status, r.reason) for r in fe.http_response] == [("set-status", 503, (b"Busy",))]


@pytest.mark.parametrize("line,loud", [
    ("http-request set-header X-A %[ssl_c_s_dn]", False),
    ("http-request deny if { ssl_c_s_dn -m found }", True),
    ("http-request silent-drop", True),
    ("http-request sc-set-gpt0(0) 1", False),  # (track-sc0 is carried out: stick tables)
    ("http-request return status 200 content-type text/plain lf-string %[ssl_c_s_dn]", True),
    ("http-response set-header X-A b if { ssl_c_s_dn -m found }", False),
])
def test_rules_the_engine_cannot_carry_out_are_skipped_with_a_located_warning(line, loud):
    cfg = parse(rule_config(line), "r.cfg")
    notes = [m for m in cfg.warnings if "skipped by the course engine" in m.text]
    assert len(notes) == 1 and notes[0].line == 8 and notes[0].file == "r.cfg"
    assert ("THE ENGINE FORWARDS THEM" in notes[0].text) == loud
    assert cfg.proxy("fe").http_request == () and cfg.proxy("fe").http_response == ()


def test_a_tarpit_answers_500_unless_told_and_waits_timeout_tarpit_else_connect():
    text = rule_config("http-request tarpit if { path /a }\n    http-request tarpit deny_status 429")
    cfg = parse(text, "r.cfg")
    a, b = cfg.proxy("fe").http_request
    assert (a.action, a.status, a.match, b.status) == ("tarpit", 500, "errorpage", 429)
    assert cfg.proxy("fe").timeouts.tarpit is None  # a frontend gets no connect timeout from defaults
    assert cfg.proxy("be").timeouts.tarpit == cfg.proxy("be").timeouts.connect
    cfg = parse(text.replace("frontend fe\n", "frontend fe\n    timeout tarpit 3s\n"), "r.cfg")
    assert cfg.proxy("fe").timeouts.tarpit == 3000


def test_a_final_rule_without_condition_makes_the_next_ones_noop():
    cfg = parse(rule_config("http-request deny\n    http-request set-header A b"), "r.cfg")
    assert [m.text for m in cfg.warnings if "NOOP" in m.text] == [
        "parsing [r.cfg:9]: previous 'http-request' action is final and has no condition attached, "
        "further entries are NOOP."]


def test_request_fetches_in_a_response_rule_never_match():
    rule, = rules_of("http-response set-header A b if { path_beg /x }", "response")
    assert not holds(rule, ctx(req(b"/x")))  # HAProxy: "anonymous acl will never match ..."
    rule, = rules_of("http-request set-header A b if { path_beg /x }")
    assert holds(rule, ctx(req(b"/x")))


# --------------------------------------------------------------------------- running
def test_conditions_and_unless():
    rule, = rules_of("http-request set-header A b if { path_beg /api } !{ hdr(host) -i admin }")
    assert holds(rule, ctx(req(b"/api/x"))) and not holds(rule, ctx(req(b"/web")))
    rule, = rules_of("http-request set-header A b unless { path /x }")
    assert holds(rule, ctx(req(b"/y"))) and not holds(rule, ctx(req(b"/x")))


def test_values_render_literal_text_and_addresses():
    assert render((b"from ", "ci", b":", "cp", b" 100%"), ctx()) == b"from 127.0.0.9:40000 100%"
    rule, = rules_of("http-request set-header X-A 100%%-%ci")
    assert rule.value == (b"100%-", "ci")
    rule, = rules_of("http-request set-header X-A %[path,upper]:%fp")
    assert render(rule.value, ctx(req(b"/a?b"))) == b"/A:80"


def test_header_edits():
    r = req(headers=(b"X-A: 1\r\n", b"x-a: 2\r\n", b"X-List: a, b ,c\r\n", b"User-Agent: curl/8\r\n"))
    for line in ("http-request set-header X-A new", "http-request add-header X-B 1",
                 "http-request replace-value X-List ^b$ B", "http-request replace-header User-Agent ^curl/(.*) r/\\1",
                 "http-request del-header x-b"):
        edit_headers(rules_of(line)[0], r.headers, ctx(r))
    assert r.headers == [b"Host: lab\r\n", b"X-List: a,B,c\r\n", b"User-Agent: r/8\r\n", b"x-a: new\r\n"]


@pytest.mark.parametrize("line,target,want", [
    ("http-request set-path /new", b"/old?q=1", b"/new?q=1"),
    ("http-request set-query a=1", b"/p?b=2", b"/p?a=1"),
    ("http-request set-query a=1", b"/p", b"/p?a=1"),
    ("http-request set-uri /x?y", b"/p?q", b"/x?y"),
    ("http-request replace-path /v1/(.*) /v2/\\1", b"/api/v1/u?id=1", b"/v2/u?id=1"),  # the whole path goes
    ("http-request replace-path ^/v1/(.*) /v2/\\1", b"/api/v1/u", b"/api/v1/u"),
    ("http-request replace-uri ^http://[^/]*(/.*) \\1", b"http://lab/a?b", b"/a?b"),
    ("http-request set-path /new", b"http://lab/old?q", b"http://lab/new?q"),
])
def test_request_line_edits(line, target, want):
    r = req(target)
    edit_line(rules_of(line)[0], r, ctx(r))
    assert r.url == want and r.orig == (b"GET", target)  # the log keeps the line as received


@pytest.mark.parametrize("line,target,location,code", [
    ("http-request redirect location /x", b"/a?b", b"/x", 302),
    ("http-request redirect prefix /p code 301", b"/a?b", b"/p/a?b", 301),
    ("http-request redirect prefix / drop-query", b"/a?b", b"/a", 302),
    ("http-request redirect scheme https append-slash", b"/a?b", b"https://lab/a?b/", 302),
    ("http-request redirect scheme https drop-query append-slash code 308", b"/a?b", b"https://lab/a/", 308),
])
def test_redirects(line, target, location, code):
    r = req(target)
    answer = redirect(rules_of(line)[0], r, ctx(r))
    assert answer.status == code and b"location: %s\r\n" % location in answer.head


def test_answers_and_their_logged_size():
    deny, = rules_of("http-request deny")
    data, logged = run_request((deny,), Client(), req()).encode(close=True)
    assert data.startswith(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\n")
    assert data.endswith(b"connection: close\r\n\r\n<html><body><h1>403 Forbidden</h1>\n"
                         b"Request forbidden by administrative rules.\n</body></html>\n")
    assert logged == 192  # what haproxy 2.6.12 logs for it
    ret, = rules_of("http-request return status 200 content-type text/plain string hello hdr X-A b")
    data, logged = run_request((ret,), Client(), req()).encode(close=True)
    assert data == (b"HTTP/1.1 200 OK\r\nx-a: b\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n"
                    b"connection: close\r\n\r\nhello") and logged == 80


def test_allow_stops_the_list_and_rules_run_in_order():
    rules = rules_of("http-request add-header X-N 1\n    http-request allow if { path /a }\n"
                     "    http-request add-header X-N 2")
    r = req(b"/a")
    assert run_request(rules, Client(), r) is STOP and r.headers[-1] == b"x-n: 1\r\n"
    r = req(b"/b")
    assert run_request(rules, Client(), r) is None and r.headers[-2:] == [b"x-n: 1\r\n", b"x-n: 2\r\n"]


def test_response_rules():
    rules = rules_of("http-response set-status 404 reason Gone\n    http-response set-header Server lab",
                     "response")
    headers = [b"Server: flask\r\n", b"content-length: 0\r\n"]
    line, answer = run_response(rules, Client(), req(), b"HTTP/1.1 200 OK\r\n", headers)
    assert (line, answer, headers) == (b"HTTP/1.1 404 Gone\r\n", None, [b"content-length: 0\r\n", b"server: lab\r\n"])
    deny, = rules_of("http-response deny", "response")
    _, answer = run_response((deny,), Client(), req(), b"HTTP/1.1 200 OK\r\n", [])
    assert isinstance(answer, Reply) and answer.status == 502 and answer.kind == "deny"


def test_a_proxy_without_rules_has_none():
    cfg = parse(rule_config("timeout client 2s"), "r.cfg")
    assert cfg.proxy("fe").http_request == () == cfg.proxy("be").http_response


def test_through_the_engine():
    """End to end on the engine alone: the frontend's rules, routing, the backend's rules, the answer's head."""
    from support.actions_cases import ask, config
    from support.recorder import Recorder
    from support.routing import start_with_retry

    from labsupport.balancer import Balancer

    rec = Recorder()
    try:
        port, lb = start_with_retry(lambda p: Balancer.from_text(config(p, rec.port)))
        try:
            moved = ask(port, ("", "GET", "/old", ""))
            assert moved.startswith(b"HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\nlocation: /moved\r\n")
            answer = ask(port, ("", "GET", "/api/v1/users?id=7", ""))
            assert b"x-order: frontend\r\n" in answer and b"x-order: backend" not in answer  # api: replace-value
            method, target, headers, _ = rec.seen()[-1]
            assert (method, target) == ("GET", "/api/v2/users?id=7")
            assert ("x-backend", "api") in headers and ("x-forwarded-proto", "http") in headers
            fe = next(r for r in lb.snapshot().rows if r["svname"] == "FRONTEND")
            assert (fe["intercepted"], fe["hrsp_3xx"], fe["dreq"]) == (1, 1, 0)
        finally:
            lb.stop()
    finally:
        rec.close()
