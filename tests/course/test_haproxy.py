"""labsupport.course.haproxy without the binary: the config rewrite, haproxy's messages, ``show stat`` parsing,
and what a missing binary says (the class against real haproxy: tests/differential/test_haproxy.py)."""
from __future__ import annotations

import pytest

import labsupport.course.haproxy as hxmod
from labsupport.course.haproxy import HAProxy, bind_addresses, parse_messages, parse_stat_csv, rewrite
from labsupport.errors import ToolMissingError


def test_rewrite_keeps_line_numbers_and_adds_the_socket():
    text = "global\n    daemon\n    user haproxy\n    stats socket /run/haproxy/admin.sock mode 660\n" \
           "frontend fe\n    bind *:3000,127.0.0.1:3001  # web\n    bind :8083\n"
    out = rewrite(text, "/tmp/x/admin.sock", {3000: 3100, 8083: 8183})
    lines = out.splitlines()
    assert lines[1] == "#[lab: off in the course's copy]     daemon"
    assert lines[2].startswith("#[lab") and lines[3].startswith("#[lab")
    assert lines[5] == "    bind *:3100,127.0.0.1:3001  # web"
    assert lines[6] == "    bind :8183"
    assert lines[7:] == ["", "# [lab] added by labsupport.course.haproxy: the runtime API and loud port conflicts",
                         "global", "    stats socket /tmp/x/admin.sock level admin", "    noreuseport"]
    assert bind_addresses(out) == [("", 3100), ("127.0.0.1", 3001), ("", 8183)]


def test_parse_messages_locates_alerts_and_joins_continuations():
    out = """[NOTICE]   (13730) : haproxy version is 2.6.12-1+deb12u4
[ALERT]    (13730) : config : parsing [my.cfg:1]: unknown keyword 'maxconn' out of section.
[ALERT]    (13768) : config : [my.cfg:10] : 'server be/s1' : unknown keyword 'wieght'; did you mean 'weight' maybe ?
[WARNING]  (13820) : config : missing timeouts for frontend 'http_front'.
   | While not properly invalid, you will certainly encounter various problems
[ALERT]    (13730) : config : Fatal errors found in configuration.
"""
    msgs = parse_messages(out)
    assert [(m.level, m.file, m.line) for m in msgs] == [("ALERT", "my.cfg", 1), ("ALERT", "my.cfg", 10),
                                                         ("WARNING", None, None)]
    assert msgs[0].text == "my.cfg:1: unknown keyword 'maxconn' out of section."
    assert msgs[1].text.endswith("unknown keyword 'wieght'; did you mean 'weight' maybe ?")
    assert msgs[2].text == ("missing timeouts for frontend 'http_front'. While not properly invalid, "
                            "you will certainly encounter various problems")


def test_parse_stat_csv_types():
    rows = parse_stat_csv("# pxname,svname,status,weight,stot,check_status,\nbe,s1,UP,1,12,,\n")
    assert rows == [{"pxname": "be", "svname": "s1", "status": "UP", "weight": 1, "stot": 12, "check_status": None}]


def test_missing_binary_says_how_to_install(monkeypatch):
    monkeypatch.setattr(hxmod, "find_haproxy", lambda: None)
    assert not hxmod.haproxy_available()
    with pytest.raises(ToolMissingError, match=r"'haproxy' is not installed.*sudo apt-get install haproxy"):
        HAProxy.from_text("global\n")


def test_urls_of_tls_binds_are_https():
    text = ("frontend fe\n    bind 127.0.0.1:8443 ssl crt site.pem  # TLS\n    bind *:8080\n"
            "    bind :8444,:8445 ssl crt-list certs.lst\n")
    h = HAProxy.from_text(text, port_map={8443: 9443})
    assert h.urls == ["https://127.0.0.1:9443/", "http://127.0.0.1:8080/", "https://127.0.0.1:8444/",
                      "https://127.0.0.1:8445/"]
