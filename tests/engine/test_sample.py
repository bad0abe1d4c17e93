"""The sample language on its own (engine/sample): fetches on a made-up request, match methods, maps,
log-format strings. What HAProxy does with each is checked in tests/differential/test_acl_language.py."""
from __future__ import annotations

import pytest

from labsupport.engine.sample import AclError, Ctx, MapStore, parse_acl, parse_condition, parse_logformat
from labsupport.engine.sample.patterns import compile_patterns


def holds(words: str, method="GET", host="lab", path="/", headers=()) -> bool:
    return parse_acl(words.split(), None, "x").holds(Ctx.of(method, host, path, headers=headers))


@pytest.mark.parametrize("words, path, expected", [
    ("path_dir img", "/a/img/b.png", True), ("path_dir img", "/a/images/b", False), ("path_dir /a/img/", "/a/img/x", True),
    ("path_dom lab", "/go/lab/x", True), ("path_dom lab", "/go/labs", False), ("path_end .css .js", "/x.js", True),
    ("path_reg ^/u/[0-9]+$", "/u/42", True), ("path_len gt 3", "/abcd", True), ("path_len 1:3", "/abcd", False),
    ("path -m sub -- -dash", "/with-dash", True), ("path -i /A", "/a", True), ("url_beg /q", "/q?x", True),
    ("query -m found", "/p?", True), ("query -m found", "/p", False), ("url_param(id) 7", "/p?a=1&id=7", True),
    ("urlp_val(n) gt 10", "/p?n=11", True), ("path,length gt 3", "/abcd", True),
])
def test_path_and_query_fetches(words, path, expected):
    assert holds(words, path=path) is expected


def test_headers_split_at_commas_and_count_every_occurrence():
    tags = (("x-tag", "a, b"), ("X-Tag", "c"))
    assert holds("hdr(x-tag) b", headers=tags) and holds("hdr_cnt(x-tag) eq 3", headers=tags)
    assert holds("hdr(x-tag,1) a", headers=tags) and holds("hdr(x-tag,-1) c", headers=tags)
    assert not holds("hdr(x-tag,-1) a", headers=tags) and holds("req.fhdr(x-tag) -m sub ,", headers=tags)
    assert holds("hdr_dom(host) -i api", host="API.lab:8000") and not holds("hdr(host) api.lab", host="api.lab:8000")


def test_methods_known_ones_only_in_capitals():
    assert holds("method GET") and not holds("method -i get")
    assert holds("method -i purge", method="PURGE") and not holds("method purge", method="PURGE")


@pytest.mark.parametrize("patterns, value, expected", [
    (["127.0.0.0/8"], "127.9.9.9", True), (["10.0.0.0/8", "::1"], "::1", True), (["::ffff:127.0.0.1"], "127.0.0.1", True),
    (["10.0.0.0/8"], "127.0.0.1", False),
])
def test_addresses_and_networks(patterns, value, expected):
    assert compile_patterns("ip", patterns, False).matches(value) is expected


def test_conditions_and_or_not_named_and_predefined():
    named = {"a": (parse_acl(["path_beg", "/a"], None, "x"), parse_acl(["path_beg", "/b"], None, "x"))}
    cond = parse_condition("a !METH_POST || { path /c }".split(), named, None, "x")
    assert cond.holds(Ctx.of("GET", "lab", "/b/x")) and not cond.holds(Ctx.of("POST", "lab", "/a"))
    assert cond.holds(Ctx.of("POST", "lab", "/c"))
    assert parse_condition(["a"], named, None, "x", negate=True).holds(Ctx.of("GET", "lab", "/z"))
    with pytest.raises(AclError, match="no such ACL : 'b'"):
        parse_condition(["b"], named, None, "x")


def test_maps_pick_as_their_match_method_and_change_at_runtime(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.map").write_text("# comment\n/a x\n/a/b\tlonger value\n\n/c\n")
    store = MapStore()
    fmt = parse_logformat("be_%[path,map_beg(p.map,none)]", store, "file 'f' line 1")
    assert [fmt.render(Ctx.of("GET", "h", p)) for p in ("/a/z", "/a/b/c", "/q")] == ["be_x", "be_longer value", "be_none"]
    store.finalize()
    assert store.command(["show", "map", "p.map"]).count("\n") == 3
    assert store.command(["set", "map", "p.map", "/a", "y"]) == "" and fmt.render(Ctx.of("GET", "h", "/a")) == "be_y"
    assert store.command(["get", "map", "p.map", "/c/d"]) == ('type=beg, case=sensitive, found=yes, idx=tree, key="/c", '
                                                             'value="", type="str"\n')


def test_field_and_case_converters():
    fmt = parse_logformat("%[req.hdr(host),field(1,:),upper]-%[req.hdr(host),field(-1,:)]", None, "x")
    assert fmt.render(Ctx.of("GET", "api.lab:8000", "/")) == "API.LAB-8000"
