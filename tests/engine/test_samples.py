"""The sample package without a network: fetches, matchers, ACL lines, conditions and log-format
strings on requests built in memory (support/samples.py)."""
from __future__ import annotations

import pytest
from support.samples import context

from labsupport.engine.config import check, parse
from labsupport.engine.sample.acl import AclError, parse_acl
from labsupport.engine.sample.expr import Unimplemented, parse_expr
from labsupport.engine.sample.logformat import compile_logformat
from labsupport.engine.sample.patterns import PatternError, parse_int_range


def holds(words: str, ctx) -> bool:
    return parse_acl(words.split()).holds(ctx)


@pytest.mark.parametrize("expr,want", [
    ("path", "/a/b"), ("url", "/a/b?x=1&y=2"), ("query", "x=1&y=2"), ("base", "lab/a/b"), ("method", "GET"),
    ("req.ver", "1.1"), ("hdr(host)", "lab"), ("urlp(y)", "2"), ("url_param", "1"), ("src", "127.0.0.9"),
    ("src_port", 40000), ("dst_port", 8080), ("path,upper", "/A/B"), ("path,length", 4), ("str(x),upper", "X"),
])
def test_fetch_values(expr, want):
    ctx = context("/a/b?x=1&y=2", src="127.0.0.9")
    value = parse_expr(expr)[0].value(ctx)
    assert (str(value) if expr == "src" else value) == want


def test_header_values_split_at_commas_and_occurrences():
    ctx = context(headers=[("X-Tag", "a, b"), ("x-tag", "c")])
    assert parse_expr("hdr(x-tag)")[0].values(ctx) == ["a", "b", "c"]
    assert parse_expr("hdr(x-tag)")[0].value(ctx) == "c"  # outside an ACL: the last
    assert parse_expr("req.fhdr(x-tag,1)")[0].values(ctx) == ["a, b"]
    assert parse_expr("hdr(x-tag,-2)")[0].values(ctx) == ["b"]
    assert parse_expr("hdr_cnt(x-tag)")[0].value(ctx) == 3
    assert parse_expr("req.fhdr_cnt(x-tag)")[0].value(ctx) == 2


def test_absolute_form_path_and_missing_query():
    ctx = context("http://lab/x/y")
    assert parse_expr("path")[0].value(ctx) == "/x/y"
    assert parse_expr("query")[0].values(ctx) == []
    assert not holds("query -m found", ctx)


def test_a_fetch_is_computed_once_per_request(monkeypatch):
    ctx = context("/a")
    expr = parse_expr("path")[0]
    calls = []
    real = expr.fetch
    expr.fetch = lambda c, a: calls.append(1) or real(c, a)
    other = parse_expr("path,upper")[0]
    other.fetch = expr.fetch
    assert expr.value(ctx) == "/a" and other.value(ctx) == "/A" and expr.value(ctx) == "/a"
    assert calls == [1]


@pytest.mark.parametrize("acl,path,want", [
    ("path_dir img", "/a/img/x", True), ("path_dir img", "/a/imgs/x", False), ("path_dir /a/b/", "/a/b/c", True),
    ("path_dom example", "/x.example.y", True), ("path_dom exam", "/x.example", False),
    ("path_end .jpg .png", "/a.png", True), ("path_sub adm", "/x/admin", True), ("path_reg ^/v[0-9]", "/v2", True),
    ("path_reg -i ^/V", "/v2", True), ("path_len 3:4", "/abc", True), ("path_len gt 4", "/abc", False),
    ("path_len lt 5", "/abc", True), ("path_len 1-3", "/ab", True), ("path -m found", "/", True),
    ("path -m beg -i /A", "/abc", True), ("path,length -m int eq 4", "/abc", True), ("path -- -x", "-x", True),
])
def test_matchers(acl, path, want):
    assert holds(acl, context(path)) is want


def test_addresses():
    ctx = context(src="10.1.2.3")
    assert holds("src 10.0.0.0/8", ctx) and holds("src 10.0.0.0/255.0.0.0", ctx) and not holds("src 127.0.0.1", ctx)
    assert holds("src_port ge 1024", ctx) and holds("dst 127.0.0.1", ctx)


def test_integer_patterns_as_haproxy_reads_them():
    assert parse_int_range("5") == (5, 5) and parse_int_range("-3") == (None, 3) and parse_int_range("3-") == (3, None)
    for bad in ("1:2:3", "5:3", "x:"):
        with pytest.raises(PatternError, match="is not a valid number range"):
            parse_int_range(bad)


@pytest.mark.parametrize("words,message", [
    ("pathbeg /a", "unknown fetch method 'pathbeg' in ACL expression 'pathbeg'"),
    ("path -m nope /a", "unknown matching method 'nope' when parsing ACL expression"),
    ("path(1) /a", "ACL keyword 'path' : expected ')' before '1)'"),
    ("path,lowr /a", "ACL keyword 'path' : unknown converter 'lowr'."),
    ("src 1.2.3.4/40", "'1.2.3.4/40' is not a valid IPv4 or IPv6 address"),
    ("path -f /nonexistent/x", "failed to open pattern file </nonexistent/x>"),
])
def test_acl_errors(words, message):
    with pytest.raises(AclError) as e:
        parse_acl(words.split())
    assert str(e.value) == message


def test_real_fetches_the_engine_lacks_are_not_errors():
    with pytest.raises(Unimplemented, match="ssl_fc"):
        parse_acl(["ssl_fc"])


def test_unimplemented_rule_warns_and_never_applies():
    text = ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
            "frontend f\n    bind 127.0.0.1:9\n    acl tls ssl_fc\n    use_backend b unless tls\n"
            "    default_backend b\nbackend b\n    server s 127.0.0.1:1\n")
    cfg = parse(text)
    rule = cfg.proxy("f").use_backends[0]
    assert rule.cond.never and not rule.cond.holds(context())


def test_unimplemented_warnings_are_located(tmp_path):
    path = tmp_path / "h.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                    "frontend f\n    bind 127.0.0.1:9\n    acl tls ssl_fc\n    use_backend b if tls\n"
                    "    use_backend b if { req.ssl_sni -i x }\n    default_backend b\n"
                    "backend b\n    server s 127.0.0.1:1\n")
    code, _, err = check(str(path), name="h.cfg")
    assert code == 0
    assert "[h.cfg:8] : ACL 'tls' uses fetch 'ssl_fc'" in err
    assert "[h.cfg:9] : this switching rule uses an ACL, which the course engine does not implement" in err
    assert "[h.cfg:10] : this switching rule uses fetch 'req.ssl_sni'" in err


def test_log_format_render():
    parts, missing = compile_logformat("be_%[hdr(host),lower]-%ci:%cp %% %[urlp(n)]")
    assert missing == []
    from labsupport.engine.sample.logformat import LogFormat
    fmt = LogFormat("", parts, False)
    assert fmt.render(context("/?x=1", host="WEB", src="127.0.0.5", sport=1234)) == b"be_web-127.0.0.5:1234 % -"
    assert compile_logformat("%t %[ssl_fc]")[1] == ["the log-format variable '%t'", "fetch 'ssl_fc'"]


def test_dir_and_dom_patterns_match_as_match_word_does():
    """The compiled form of -m dir/dom agrees with src/pattern.c match_word's character loop."""
    from itertools import product

    from labsupport.engine.sample.patterns import Patterns, _word
    samples = ["", "/", "/a", "/a/b", "a.b.c", "/x/ab/c?d", "a:b", "/a//b/", "ab", ".a.", "?a?"]
    patterns = ["a", "/a/", "a/b", "b", "ab", ".a", "a.b", "/", "", "c?d"]
    for method, delims in (("dir", "/?"), ("dom", "/?.:")):
        for sample, pat in product(samples, patterns):
            pats = Patterns(method, False)
            pats.add(pat)
            assert pats.match([sample]) == _word(sample, pat, delims), (method, sample, pat)
