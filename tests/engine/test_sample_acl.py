"""The sample package without a network, on requests built as the engine's reader builds them
(support/samples.py): fetches, matchers, ACL lines and their errors, integer ranges, log-format names.
(tests/engine/test_sample.py covers the same package on made-up requests, Ctx.of.)"""
from __future__ import annotations

import pytest
from support.samples import context

from labsupport.engine.config import check, parse
from labsupport.engine.sample import AclError, parse_acl, parse_expr, parse_logformat
from labsupport.engine.sample.patterns import PatternError, compile_patterns, parse_int_range
from labsupport.engine.sample.regexp import HAS_PCRE2, regex_error


def holds(words: str, ctx) -> bool:
    return parse_acl(words.split(), None, "x").holds(ctx)


def expr(text: str):
    return parse_expr(text, 0, None, "x")[0]


@pytest.mark.parametrize("text,want", [
    ("path", "/a/b"), ("url", "/a/b?x=1&y=2"), ("query", "x=1&y=2"), ("base", "lab/a/b"), ("method", "GET"),
    ("req.ver", "1.1"), ("hdr(host)", "lab"), ("urlp(y)", "2"), ("url_param", "1"), ("src", "127.0.0.9"),
    ("src_port", 40000), ("dst_port", 8080), ("path,upper", "/A/B"), ("path,length", 4), ("str(x),upper", "X"),
    ("pathq", "/a/b?x=1&y=2"), ("str()", ""), ("bool(true)", True), ("bool(0)", False),
])
def test_fetch_values(text, want):
    assert expr(text).value(context("/a/b?x=1&y=2", src="127.0.0.9")) == want


def test_header_values_split_at_commas_and_occurrences():
    ctx = context(headers=[("X-Tag", "a, b"), ("x-tag", "c")])
    assert expr("hdr(x-tag)").values(ctx, in_acl=True) == ["a", "b", "c"]
    assert expr("hdr(x-tag)").value(ctx) == "c"  # outside an ACL: the last
    assert expr("req.fhdr(x-tag,1)").values(ctx, in_acl=True) == ["a, b"]
    assert expr("hdr(x-tag,-2)").values(ctx, in_acl=True) == ["b"]
    assert expr("hdr_cnt(x-tag)").value(ctx) == 3
    assert expr("req.fhdr_cnt(x-tag)").value(ctx) == 2
    assert expr("hdr").values(ctx, in_acl=True) == []  # no parentheses: no sample; hdr(): every header
    assert expr("hdr()").values(ctx, in_acl=True) == ["lab", "a", "b", "c"]


def test_hdr_ip_keeps_addresses_and_drops_the_rest():
    ctx = context(headers=[("X-Forwarded-For", "10.1.2.3, nope, 192.168.0.1:8080, ::1")])
    assert expr("hdr_ip(x-forwarded-for)").values(ctx, in_acl=True) == ["10.1.2.3", "192.168.0.1", "::1"]
    assert holds("hdr_ip(x-forwarded-for) 10.0.0.0/8", ctx) and not holds("hdr_ip(x-forwarded-for) 11.0.0.0/8", ctx)


def test_url_param_delimiters_as_smp_fetch_url_param():
    """The list starts after the first delimiter ('?' unless given); '&', ';' and the delimiter end a
    parameter; without a name, every parameter that has a value."""
    ctx = context("/p?a=x;b=y&c")
    assert expr("url_param(b)").value(ctx) == "y"
    assert expr("url_param").values(ctx, in_acl=True) == ["x", "y"]
    assert expr("url_param(a,;)").values(ctx, in_acl=True) == []  # the list starts after the first ';'
    assert expr("url_param(a,;)").values(context("/p;a=1&a=2"), in_acl=True) == ["1", "2"]
    assert expr("url_param(a)").values(context("/p"), in_acl=True) == []


def test_absolute_form_path_and_missing_query():
    ctx = context("http://lab/x/y")
    assert expr("path").value(ctx) == "/x/y"
    assert expr("query").values(ctx) == []
    assert not holds("query -m found", ctx)


@pytest.mark.parametrize("acl,path,want", [
    ("path_dir img", "/a/img/x", True), ("path_dir img", "/a/imgs/x", False), ("path_dir /a/b/", "/a/b/c", True),
    ("path_dom example", "/x.example.y", True), ("path_dom exam", "/x.example", False),
    ("path_end .jpg .png", "/a.png", True), ("path_sub adm", "/x/admin", True), ("path_reg ^/v[0-9]", "/v2", True),
    ("path_reg -i ^/V", "/v2", True), ("path_len 3:4", "/abc", True), ("path_len gt 4", "/abc", False),
    ("path_len lt 5", "/abc", True), ("path_len 1-3", "/ab", True), ("path -m found", "/", True),
    ("path -m beg -i /A", "/abc", True), ("path,length -m int eq 4", "/abc", True), ("path_end -- -x", "/a-x", True),
    ("path_len ge 2 5", "/abcd", True), ("path_len le -3", "/ab", True), ("path -m dom", "/", False),
])
def test_matchers(acl, path, want):
    assert holds(acl, context(path)) is want


def test_addresses():
    ctx = context(src="10.1.2.3")
    assert holds("src 10.0.0.0/8", ctx) and holds("src 10.0.0.0/255.0.0.0", ctx) and not holds("src 127.0.0.1", ctx)
    assert holds("src_port ge 1024", ctx) and holds("dst 127.0.0.1", ctx)


def test_integer_patterns_as_haproxy_reads_them():
    assert parse_int_range("5") == (5, 5) and parse_int_range("-3") == (None, 3) and parse_int_range("3-") == (3, None)
    assert parse_int_range("1-3") == (1, 3) and parse_int_range(":3") == (None, 3)
    for bad in ("1:2:3", "5:3", "x:"):
        with pytest.raises(PatternError, match="is not a valid number range"):
            parse_int_range(bad)
    with pytest.raises(PatternError, match="'abc' is not a number"):
        parse_int_range("abc")


@pytest.mark.parametrize("words,message", [
    ("pathbeg /a", "unknown fetch method 'pathbeg' in ACL expression 'pathbeg'."),
    ("path -m nope /a", "unknown matching method 'nope' when parsing ACL expression."),
    ("path -m", "unknown matching method '' when parsing ACL expression."),
    ("path(1) /a", "ACL keyword 'path' : expected ')' before '1)'."),
    ("path,lowr /a", "ACL keyword 'path' : unknown converter 'lowr'.."),
    ("hdr_cnt(host),lowr 1", "unknown converter 'lowr' in ACL expression 'hdr_cnt(host),lowr'."),
    ("path_beg,lower(x /a", "ACL keyword 'path_beg' : invalid arg 1 in converter 'lower' : expected ')' before 'x'.."),
    ("src 1.2.3.4/40", "'1.2.3.4/40' is not a valid IPv4 or IPv6 address."),
    ("path -f /nonexistent/x", "failed to open pattern file </nonexistent/x>."),
    ("path -f", "failed to open pattern file <>."),
    ("path -u x /a", "the argument of -u must be an integer."),
    ("path -m beg -f /dev/null -m end", "'-m' must only be specified before patterns and files in parsing ACL "
                                        "expression."),
    ("bool(maybe) -m bool", "invalid args in fetch method 'bool' : Expects 'true', 'false', '0' or '1' in ACL "
                            "expression 'bool(maybe)'."),
    ("path_len ge x", "'x' is neither a number nor a supported operator."),
])
def test_acl_errors(words, message):
    with pytest.raises(AclError) as e:
        parse_acl(words.split(), None, "x")
    assert str(e.value) == message


def test_regex_errors_are_haproxys_when_pcre2_is_there():
    wording = "missing closing parenthesis" if HAS_PCRE2 else "missing ), unterminated subpattern"
    assert regex_error("^/A(", False) == f"regex '^/A(' is invalid (error={wording}, erroffset={4 if HAS_PCRE2 else 3})"
    assert regex_error("^/a[0-9]+$", True) is None


def test_pattern_files_keep_trailing_blanks(tmp_path):
    path = tmp_path / "p.lst"
    path.write_text("# comment\n  /a \n\n/b\n")
    acl = parse_acl(["path", "-f", str(path)], None, "x")
    assert holds(f"path -f {path}", context("/b")) and acl.holds(context("/a ")) and not acl.holds(context("/a"))


def test_a_fetch_the_engine_lacks_is_not_an_error():
    acl = parse_acl(["req.ssl_alpn", "-i", "x"], None, "x")
    assert acl.missing == "fetch 'req.ssl_alpn'" and not acl.holds(context())


def test_unimplemented_rule_warns_and_is_left_out(tmp_path):
    path = tmp_path / "h.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                    "frontend f\n    bind 127.0.0.1:9\n    acl tls req.ssl_alpn -i x\n    use_backend b if tls\n"
                    "    use_backend b if { path / }\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n")
    assert [r.line for r in parse(path.read_text()).proxy("f").use_backends] == [10]
    code, _, err = check(str(path), name="h.cfg")
    assert code == 0 and "[h.cfg:9] : the course engine cannot evaluate fetch 'req.ssl_alpn'" in err


def test_log_format_names():
    fmt = parse_logformat("be_%[hdr(host),lower]-%[src]:%[src_port] %% %[urlp(n)]", None, "x")
    assert fmt.missing is None
    assert fmt.render(context("/?x=1", host="WEB", src="127.0.0.5", sport=1234)) == "be_web-127.0.0.5:1234 % -"
    assert parse_logformat("%t %[path]", None, "x").missing == "log-format variable '%t ...'"
    ctx = context(src="127.0.0.5", sport=1234, dst="127.0.0.1", dport=80)
    ctx.fe_name = "edge"
    assert parse_logformat("%ci:%cp>%fi:%fp@%f", None, "x").render(ctx) == "127.0.0.5:1234>127.0.0.1:80@edge"
    assert [parse_logformat(n, None, "x").static_name for n in ("%%b", "b%%", "%%", "a%%b%%c", "%[path]")] == \
        ["%%b", None, "%%", None, None]


def test_layer4_context_gives_no_http_sample():
    """mode tcp: rules see the addresses; an HTTP fetch finds no sample."""
    from labsupport.engine.sample import Ctx
    ctx = Ctx(None, "127.0.0.2", 40000, "127.0.0.1", 80)
    assert holds("src 127.0.0.2", ctx) and holds("dst_port 80", ctx)
    assert not holds("path -m found", ctx) and not holds("hdr(host) -m found", ctx)


def test_dir_and_dom_patterns_match_as_match_word_does():
    """-m dir/dom agree with src/pattern.c match_word's delimiters (a few by hand)."""
    samples = {"/a/b": ("dir", "a", True), "/ab/c": ("dir", "a", False), "x.lab:80": ("dom", "lab", True),
               "x.labs": ("dom", "lab", False), "/a?b": ("dir", "b", True)}
    for sample, (method, pat, want) in samples.items():
        assert compile_patterns(method, [pat], False).matches(sample) is want, (sample, method, pat)


def test_without_libpcre2_python_re_decides(monkeypatch):
    """Where libpcre2-8 cannot be loaded (macOS, say), an invalid regex is still refused, in Python's words."""
    from labsupport.engine.sample import regexp
    monkeypatch.setattr(regexp, "_LIB", None)
    assert regex_error("^/A(", False) == "regex '^/A(' is invalid (error=missing ), unterminated subpattern, erroffset=3)"
    assert regex_error("^/a$", True) is None
    with pytest.raises(AclError, match=r"error=unterminated character set, erroffset=1\)\.$"):
        parse_acl(["path_reg", "([)"], None, "x")
