"""ACL, sample expression and dynamic use_backend mistakes: the engine's ``-c`` check says what
``haproxy -c`` says, word for word (and accepts what it accepts, warnings included)."""
from __future__ import annotations

import pytest

from .test_config import run_engine, run_haproxy

pytestmark = pytest.mark.haproxy

# (three lines test_config.py's ACL_LINES already checks are left out: 'acl a pathbeg /api',
# 'use_backend %[path', 'acl a path -m found')
LINES = [
    # refused
    "use_backend b if { pathbeg /a }", "acl a path_beg -m foo /x", "acl a path -m",
    "acl a path_reg (", "use_backend b if { method GET } { path_beg -m reg ([) }", "acl a path(1) /x",
    "acl a hdr_cnt(host,3) 1", "acl a hdr(host,x) a", "acl a hdr(host,1,2) a", "acl a int /a", "acl a int(x) 1",
    "acl a path_beg -f nofile.lst", "acl a path -f", "acl a path,lowr /x", "acl a hdr_cnt(host),lowr 1",
    "acl a path,upper(1) /a", "acl a path_beg,lower(x /a", "acl a path,lower( /a", "acl a src 1.2.3.4/40",
    "acl a hdr_cnt(host) abc", "acl a src_port 1:2:3", "acl a path -m len abc", "acl a path -m int a",
    "acl a path -x /a", "acl a path -u x /a", "acl a path_len ge x", "acl a path_len ge 1:x",
    "acl a path -m beg -f /dev/null -m end", "acl a path_len 5:3", "acl a bool(maybe) -m bool",
    "use_backend b if { path_beg /a", "use_backend b if nosuch",
    "use_backend %[pathx] if TRUE", "use_backend %[path,lowr] if TRUE",
    "use_backend %[hdr(host,x)]", "acl a", "acl a -i", "acl a/b path /", "use_backend b if { }",
    "use_backend b if { path / } }", "acl a path -m reg -i ^/A(", "use_backend b foo",
    # accepted (some with haproxy's warning)
    "acl a hdr", "acl a path", "use_backend b if { path_beg }", "acl a path -m dom",
    "acl a url_param /x", "acl a method FOO", "acl a path -m int 5", "acl a str(1) 1", "acl a req.ver 1.1",
    "acl a hdr_val(host) 1", "acl a path_beg,lower /a", "acl a path -i -m beg /a", "acl a path -f /dev/null",
    "acl a path_len 1-3", "acl a path_len gt", "acl a path_beg -n /a", "acl a path -u 1 /a", "acl a path, /a",
    "acl a str() /a", "acl a src -m str 1", "acl a path -m ip 1.2.3.4", "acl a path -m found /x",
    "acl a hdr(host) -m bin 00", "acl a path_reg -i ^/A", "acl a req.ver -m int 1", "acl a src_port 1:2",
    "acl a hdr_cnt(host),lower 1", "acl a src,lower 1", "use_backend %[path] if !TRUE",
    "use_backend b if LOCALHOST METH_GET HTTP_1.1 || HTTP_URL_ABS", "acl a path -- -x", "acl a:b.c-d_e path /",
    "acl a path_beg -i", "acl a path_reg", "acl a path_len -- 3", "acl a path -m found -i", "acl TRUE path /x",
    # log-format names: which text alone names a backend statically; the variables the engine renders
    "use_backend b%%", "use_backend %%b", "use_backend %[str(b)]%ci", "use_backend %f%cp%fi%fp if TRUE",
    "use_backend %t", "use_backend %%", "use_backend a%%b%%c",
    "use_backend b if { always_true }", "acl a always_false", "acl a always_true,length",
]


def _config(line: str) -> str:
    return ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
            f"frontend f\n    bind 127.0.0.1:9\n    {line}\n    default_backend b\n"
            "backend b\n    server s 127.0.0.1:1\n")


@pytest.mark.parametrize("line", LINES)
def test_acl_lines_agree_with_haproxy(haproxy_bin, tmp_path, line):
    path = tmp_path / "acl.cfg"
    path.write_text(_config(line))
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


def test_relative_pattern_file_is_read_from_the_current_directory(haproxy_bin, tmp_path, monkeypatch):
    """haproxy opens '-f paths.lst' from its current directory (run_haproxy's: the config's folder)."""
    (tmp_path / "paths.lst").write_text("/a\n")
    path = tmp_path / "acl.cfg"
    path.write_text(_config("acl a path_beg -f paths.lst"))
    monkeypatch.chdir(tmp_path)
    assert run_engine(path) == run_haproxy(haproxy_bin, path)
    monkeypatch.chdir("/")
    assert run_engine(path)[0] == 1  # elsewhere the file is not found, as for haproxy started there


MAP_LINES = [
    "use_backend %[path,map(nofile.map)]", "acl a path,map(nofile.map) /a", "use_backend %[path,map(m.map,b)]",
    "acl a src,map_ip(m.map) -m found", "use_backend %[hdr(x),map_int_int(m.map,0)]",
    "use_backend b if { path,map_beg(m.map) -m found }", "use_backend %[path,map_reg(m.map)]",
]


@pytest.mark.parametrize("line", MAP_LINES)
def test_map_files_agree_with_haproxy(haproxy_bin, tmp_path, monkeypatch, line):
    """Map files read from haproxy's current directory; keys and values checked against the
    converter's match method and output type."""
    (tmp_path / "m.map").write_text("# comment\napi.lab api\n10.0.0.0/8 b\n")
    path = tmp_path / "acl.cfg"
    path.write_text(_config(line))
    monkeypatch.chdir(tmp_path)
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


L6_CONFIG = """defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend f
    bind 127.0.0.1:9
    acl r req.len gt 0
    use_backend b if r
    use_backend b if { req.payload(0,1) -m found }
    use_backend b if r { path / }
    use_backend b if { path / }
    default_backend b
    use_backend c if RDP_COOKIE
backend b
    server s 127.0.0.1:1
backend c
    mode tcp
    server s 127.0.0.1:1
listen l
    mode tcp
    bind 127.0.0.1:10
    use_backend c if { req.len gt 0 }
"""


def test_layer6_fetches_in_http_proxies_warn_like_haproxy(haproxy_bin, tmp_path):
    """HAProxy warns for each switching rule of an HTTP proxy using a layer-6 fetch, in rule order
    among the rules' other checks (a tcp proxy is not warned about)."""
    path = tmp_path / "l6.cfg"
    path.write_text(L6_CONFIG)
    assert run_engine(path) == run_haproxy(haproxy_bin, path)
