"""Differential: ``peers`` sections through ``haproxy -c`` and the engine's check, same files, same
local peer name (global ``localpeer``, and HAProxy's default, the host name): exit code, stdout and
stderr without the engine's own notes must be equal (config/peers.py)."""
from __future__ import annotations

import socket

import pytest

from .test_config import run_engine, run_haproxy

pytestmark = pytest.mark.haproxy

HEAD = ("global\n    localpeer me\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n"
        "    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:18000\n"
        "    stick-table type ip size 1k peers lab\n    http-request track-sc0 src\n"
        "    http-request return status 200 content-type text/plain string ok\n")

TAILS = [
    'peers lab\n    peer me 127.0.0.1:10000\n',
    'peers lab\n    peer other 127.0.0.1:10000\n',
    'peers lab\n    peer me 127.0.0.1:10000\n    peer other 10.0.0.2:10000\n',
    'peers lab\n    bind 127.0.0.1:10000\n    peer me\n    server other 10.0.0.2:10000\n',
    'peers lab\n    bind 127.0.0.1:10000\n    server me\n    server other 10.0.0.2:10000\n',
    'peers lab\n    default-server inter 3s\n    bind 127.0.0.1:10000\n    server me\n',
    'peers lab\n    disabled\n    peer me 127.0.0.1:10000\n',
    'peers lab\n    peer me 127.0.0.1:10000\n    peer me 127.0.0.1:10001\n',
    'peers lab\n    peer me\n',
    'peers lab\n    peer\n    peer me 127.0.0.1:10000\n',
    'peers lab\n    peer me 127.0.0.1\n',
    'peers lab\n    peer me 127.0.0.1:10000 check\n',
    'peers lab\n    foo bar\n    peer me 127.0.0.1:10000\n',
    'peers\n    peer me 127.0.0.1:10000\n',
    'peers lab\n    peer me 127.0.0.1:10000\npeers lab\n    peer me 127.0.0.1:10001\n',
    'peers l@b\n    peer me 127.0.0.1:10000\n',
    'peers lab\n',
    'peers lab\n    peer me 127.0.0.1:10000\n    table t1 type ip size 1k\n    table t1 type ip size 1k\n',
    'peers lab\n    peer me 127.0.0.1:10000\n    table fe type ip size 1k\n',
    'peers lab\n    peer me 127.0.0.1:10000\n    table t1 type ip\n',
    'peers lab\n    peer me 127.0.0.1:10000\n    table t1 type ip size 1k peers other\n',
    'peers lab\n    peer me 127.0.0.1:10000\n    peer me2 127.0.0.1:10000\n',
    'peers lab\n    peer me 127.0.0.1:10000\n    bind 127.0.0.1:10001\n',
    'peers lab\n    bind 127.0.0.1:10000\n    bind 127.0.0.1:10001\n    server me\n',
    'peers lab\n    peer other 10.0.0.5:10000 check\n',
    'peers lab\n    peer me 127.0.0.1:10000\n    table t1 type ip size 1k store http_req_rate(10s)\nfrontend f2\n    bind 127.0.0.1:8001\n    http-request track-sc0 src table lab/t1\n    http-request track-sc1 src table lab/t2\n',
    'peers other\n    peer me 127.0.0.1:10000\n',
    'peers lab\n    peer me 127.0.0.1:10000 wieght 3\n',
    'peers lab\n    peer other 127.0.0.2:10000 bogus\n    peer me 127.0.0.1:10000\n',
    'peers lab\n    peer me 127.0.0.1:10000\n    peer other 127.0.0.2:10000 bogus\n',
    'peers lab\n    peer me 127.0.0.1:10000 weight 3 check\n',
]


@pytest.mark.parametrize("tail", TAILS, ids=range(len(TAILS)))
def test_peers_sections_are_checked_as_haproxy_checks_them(haproxy_bin, tmp_path, tail):
    path = tmp_path / "peers.cfg"
    path.write_text(HEAD + tail)
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


def test_without_localpeer_the_host_name_is_the_local_peer(haproxy_bin, tmp_path):
    head = HEAD.replace("global\n    localpeer me\n", "")
    for name in (socket.gethostname(), "me"):
        path = tmp_path / "peers.cfg"
        path.write_text(head + f"peers lab\n    peer {name} 127.0.0.1:10000\n")
        assert run_engine(path) == run_haproxy(haproxy_bin, path)


def test_localpeer_after_a_peers_section_is_ignored_with_a_warning(haproxy_bin, tmp_path):
    path = tmp_path / "peers.cfg"
    path.write_text(HEAD.replace("global\n    localpeer me\n", "peers lab\n    peer me 127.0.0.1:10000\n"
                                 "global\n    localpeer me\n"))
    assert run_engine(path) == run_haproxy(haproxy_bin, path)
