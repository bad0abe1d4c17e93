"""Layer-7 routing cases for the ACL language: frontends, each with rules on a family of fetches and
matchers, and requests that exercise them (``RULES``, ``REQUESTS``). The differential test sends every
request to every frontend on the engine and on real HAProxy and compares the backend chosen."""
from __future__ import annotations

BACKENDS = ("web", "b1", "b2", "b3", "b4", "b5", "b6", "127.0.0.2")  # the last one for %ci

# one frontend per entry; '{PATTERNS}' is the path of a pattern file (-f), '{MAPS}' the folder of MAP_FILES
RULES: dict[str, str] = {
    "paths": """\
    use_backend b1 if { path_end .jpg .png }
    use_backend b2 if { path_dir img }
    use_backend b3 if { path_sub admin }
    use_backend b4 if { path_reg ^/api/v[0-9]+/ }
    use_backend b5 if { path_len gt 20 }
    use_backend b6 if { path_beg -i /static }
""",
    "url_base_query": """\
    use_backend b1 if { query -m sub debug=1 }
    use_backend b2 if { base_beg lab/shop }
    use_backend b3 if { url_end ?z }
    use_backend b4 if { base -i LAB/exact }
    use_backend b5 if { query -m found } { path_beg /shop }
    use_backend b6 if { url_sub %2F }
""",
    "headers": """\
    use_backend b1 if { hdr_beg(host) -i api. }
    use_backend b2 if { hdr_end(host) .example }
    use_backend b3 if { hdr_dom(host) shop }
    use_backend b4 if { hdr_sub(user-agent) -i bot }
    use_backend b5 if { hdr_reg(x-version) ^v[23]$ }
    use_backend b6 if { hdr_len(x-token) 8 }
""",
    "header_values": """\
    use_backend b1 if { hdr_cnt(x-tag) ge 2 }
    use_backend b2 if { hdr_val(x-n) gt 10 }
    use_backend b3 if { hdr(x-tag,2) two }
    use_backend b4 if { hdr(x-tag,-1) last }
    use_backend b5 if { req.fhdr(x-list) -m sub , }
    use_backend b6 if { req.hdr(x-tag) -m found }
""",
    "methods": """\
    use_backend b1 if METH_POST
    use_backend b2 if { method PUT DELETE }
    use_backend b3 if METH_GET !HTTP_1.1
    use_backend b4 if { method -i patch }
    use_backend b5 if { req.ver 1.0 } || HTTP_URL_STAR
    use_backend b6 if HTTP_URL_ABS
""",
    "url_params": """\
    use_backend b1 if { url_param(user) alice }
    use_backend b2 if { urlp(id) -m int ge 100 }
    use_backend b3 if { urlp_beg(q) foo }
    use_backend b4 if { url_param(a,;) x }
    use_backend b5 if { urlp_val(n) lt 0 }
    use_backend b6 if { url_param -m found } { path_beg /p }
""",
    "addresses": """\
    use_backend b1 if { src 127.0.0.2 } { path_beg /two }
    use_backend b2 if { src 127.0.0.0/24 } { path_beg /net }
    use_backend b3 if { src_port lt 1024 }
    use_backend b4 if { dst 127.0.0.1 } { path_beg /dst }
    use_backend b5 if LOCALHOST { path_beg /local }
    use_backend b6 if { src -m ip 10.0.0.0/8 127.0.0.2/32 } { path_beg /two/six }
""",
    "match_methods": """\
    use_backend b1 if { path -m beg /a }
    use_backend b2 if { path -m end /z }
    use_backend b3 if { path -m sub mid }
    use_backend b4 if { path -m dir seg }
    use_backend b5 if { hdr(host) -m dom sub }
    use_backend b6 if { path -m len 3:4 }
""",
    "converters_ints": """\
    use_backend b1 if { path,lower -m beg /upper }
    use_backend b2 if { hdr(host),upper -m str LAB.UP }
    use_backend b3 if { path_reg -i ^/CASE }
    use_backend b4 if { path,length 7 }
    use_backend b5 if { hdr_val(x-n) 1:5 }
    use_backend b6 if { hdr_val(x-n) le -1 }
""",
    "combinations": """\
    acl f path_beg -f {PATTERNS}
    acl m path_beg /m1
    acl m path_beg /m2
    use_backend b1 if f
    use_backend b2 if m !{ hdr(host) -i skip }
    use_backend b3 if { path /or1 } || { path /or2 } or { path /or3 }
    use_backend b4 unless { path_beg / }
    use_backend b5 if !m { path_beg /not }
    use_backend b6 if { str(abc) abc } { path /str }
""",
    "dynamic": """\
    use_backend %[req.hdr(x-be)] if { hdr(x-be) -m found }
    use_backend b6 if { hdr(x-be) nope }
    use_backend b%[urlp(n)] if { urlp(n) -m found }
    use_backend %[hdr(host),lower] if { hdr(host) -i -m beg b }
""",
    "predefined_edges": """\
    use_backend b1 if HTTP_CONTENT
    use_backend b2 if { path_dom example }
    use_backend b3 if { path_dir /a/b/ }
    use_backend b4 if { int(5) gt 3 } { path /int }
    use_backend b5 if { bool(true) -m bool } { path /bool } HTTP
    use_backend b6 if METH_OPTIONS || { path_end -- -dash }
""",
    "map_kinds": """\
    use_backend %[path,map_end({MAPS}/end.map)] if { path,map_end({MAPS}/end.map) -m found }
    use_backend %[path,map_dir({MAPS}/dir.map)] if { path,map_dir({MAPS}/dir.map) -m found }
    use_backend %[hdr(host),map_dom({MAPS}/dom.map)] if { hdr(host),map_dom({MAPS}/dom.map) -m found }
    use_backend %[path,map_reg({MAPS}/reg.map)] if { path,map_reg({MAPS}/reg.map) -m found }
    use_backend %[path,map_sub({MAPS}/sub.map)] if { path,map_sub({MAPS}/sub.map) -m found }
    use_backend %[hdr_val(x-n),map_int({MAPS}/int.map)] if { hdr(x-n) -m found }
    use_backend %[src,map_ip({MAPS}/ip.map,web)] if { path_beg /two }
""",
    "methods_headers_edges": """\
    use_backend b1 if { method get }
    use_backend b2 if { method -i head }
    use_backend b3 if { method -m beg PO }
    use_backend b4 if { hdr_cnt gt 4 }
    use_backend b5 if { hdr -m found } || { req.fhdr() -m sub abcdefgh } || { hdr() -m str 3 }
    use_backend b6 if { base_end /abs } || { hdr_ip(x-forwarded-for) 10.0.0.0/8 }
""",
    "word_edges": """\
    use_backend b1 if { path_dir / }
    use_backend b2 if { path_dom .. }
    use_backend b3 if { hdr(host) -m dom : }
    use_backend b4 if { path -m dir /?/ } || { path_dom /a. }
    use_backend b5 if { hdr(x-n) -m int 5 }
    use_backend b6 if { hdr(x-n) -m int 0 }
""",
    "log_format_names": """\
    use_backend %ci if { path_beg /two }
    use_backend b%[path,length] if { path_beg /lf }
    use_backend %[str(b)]%[urlp(n)] if { urlp(n) -m found }
""",
}

MAP_FILES = {
    "end.map": ".jpg b1\n.png b2\n", "dir.map": "img b3\nseg b4\n", "dom.map": "shop b5\nexample b6\n",
    "reg.map": "^/api/v[0-9]+/ b1\n^/CASE b2\n", "sub.map": "admin b3\nmid b4\n", "int.map": "1:5 b5\n42 b6\n",
    "ip.map": "127.0.0.0/8 b1\n127.0.0.2/32 b2\n",
}


def _req(target: str, headers=None, method: str = "GET", version: str = "1.1", body: bytes = b"",
         host: str | None = "lab") -> bytes:
    lines = [f"{method} {target} HTTP/{version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in (headers or [])]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# (client address, raw request)
REQUESTS: list[tuple[str, bytes]] = [("127.0.0.1", r) for r in [
    _req("/"), _req("/img/cat.jpg"), _req("/a/img/x"), _req("/img"), _req("/admin/users"), _req("/api/v2/users"),
    _req("/api/vx/users"), _req("/this/is/a/very/long/path/indeed"), _req("/STATIC/app.js"),
    _req("/x?debug=1&n=5"), _req("/shop/cart?"), _req("/shop"), _req("/q?z"), _req("/exact", host="LAB"),
    _req("/enc%2Fx"), _req("/", host="api.lab"), _req("/", host="www.example"), _req("/", host="a.shop.lab:8080"),
    _req("/", host="shopping.lab"), _req("/", [("User-Agent", "GoogleBOT/2")]), _req("/", [("X-Version", "v2")]),
    _req("/", [("X-Version", "v4")]), _req("/", [("X-Token", "abcdefgh")]), _req("/", [("X-Tag", "one, two")]),
    _req("/", [("X-Tag", "one"), ("X-Tag", "last")]), _req("/", [("X-N", "42")]), _req("/", [("X-N", "3")]),
    _req("/", [("X-N", "-7")]), _req("/", [("X-N", "abc")]), _req("/", [("X-N", "5abc")]), _req("/", [("X-List", "a,b")]),
    _req("/form", method="POST", body=b"abc"), _req("/r", method="PUT"), _req("/r", method="DELETE"),
    _req("/p", method="PATCH"), _req("/old", version="1.0"), _req("http://lab/abs"), _req("*", method="OPTIONS"),
    _req("/?user=alice"), _req("/?user=bob&user=alice"), _req("/?id=150"), _req("/?id=99"), _req("/?q=foobar"),
    _req("/p?a=x;b=y"), _req("/?n=-3"), _req("/p?flag"), _req("/p?flag=1"), _req("/UPPER/x"),
    _req("/", host="lab.up"), _req("/CASE/x"), _req("/seven7"), _req("/m1/x"), _req("/m2"), _req("/m1", host="skip"),
    _req("/or2"), _req("/not"), _req("/str"), _req("/int"), _req("/bool"), _req("/f1/x"), _req("/f2"),
    _req("/", [("X-BE", "b3")]), _req("/", [("X-BE", "nope")]), _req("/?n=4"), _req("/?n=9"), _req("/", host="B2"),
    _req("/a/b/c"), _req("/x.example.y"), _req("/abc"), _req("/a/mid/z"), _req("/x/seg/y"), _req("/", host="x.sub.lab"),
    _req("/dst"), _req("/end-dash"), _req("/a-dash"), _req("/lf1"),
    _req("/many", [("X-A", "1"), ("X-B", "2"), ("X-C", "3,4")]),
    _req("/", [("X-Forwarded-For", "10.1.2.3")]), _req("/", [("X-Forwarded-For", "192.168.0.1, 10.0.0.1")]),
]] + [("127.0.0.2", _req(p)) for p in ("/two", "/two/six", "/net", "/local", "/")]
