"""Capture ``show table`` answers from real HAProxy 2.6 for tests/vectors/show-table.json (run by hand):

    .venv/bin/python tests/support/show_table_capture.py /tmp/show-table.json

then copy its list into the file's ``vectors``. Clients are 127.0.0.N loopback addresses (run it in a
network namespace of its own if other tests use the ports); the servers are NamedServers."""
from __future__ import annotations

import json
import socket
import sys

sys.path.insert(0, "tests")

from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy
from support.routing import NamedServer

DEFAULTS = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"

RATE = """frontend shop
    bind 127.0.0.1:PORT
    stick-table type ip size 100k expire 30s store http_req_rate(10s),conn_cur,http_err_rate(10s),gpc0
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 20 }
    default_backend carts
backend carts
    server s1 @s1
    server s2 @s2
    server s3 @s3
"""
STICK = """frontend fe
    bind 127.0.0.1:PORT
    default_backend be
backend be
    balance roundrobin
    stick-table type ip size 1k expire 1m store conn_cnt,conn_rate(1m),http_req_cnt,gpc1,gpc0_rate(500)
    stick on src
    server s1 @s1
    server s2 @s2
    server s3 @s3
"""
TYPES = """frontend fe
    bind 127.0.0.1:PORT
    http-request track-sc0 src table per_ip
    http-request track-sc1 hdr(x-api-key) table per_key
    http-request track-sc2 req.hdr_cnt(x-n) table per_int
    default_backend be
backend be
    server s1 @s1
backend per_ip
    stick-table type ipv6 size 10 expire 20s store http_req_rate(1m),http_req_cnt
backend per_key
    stick-table type string len 16 size 10 store http_req_rate(2s),gpc0,http_err_cnt
backend per_int
    stick-table type integer size 10 store http_req_cnt
"""
ESCAPES = """frontend fe
    bind 127.0.0.1:PORT
    http-request track-sc1 hdr(x-api-key) table per_key
    default_backend be
backend be
    server s1 @s1
backend per_key
    stick-table type string len 16 size 10 store http_req_rate(2s)
"""


def ask(port: int, src: str = "127.0.0.1", path: str = "/", headers: str = "") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0)) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\n{headers}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := c.recv(65536):
            data += chunk
    return data.split(b" ", 2)[1].decode()


def burst(port: int, hx: HAProxy) -> None:
    for _ in range(25):
        ask(port, "127.0.0.2")
    for _ in range(3):
        ask(port, "127.0.0.3")
    ask(port, "127.0.0.10", "/nothing")
    hx.command("set table shop key 127.0.0.3 data.gpc0 4")


def clients(port: int, hx: HAProxy) -> None:
    for i in range(2, 6):
        for _ in range(i - 1):
            ask(port, f"127.0.0.{i}")


def keys(port: int, hx: HAProxy) -> None:
    ask(port, "127.0.0.2", headers="X-Api-Key: alice\r\nX-N: 1\r\n")
    ask(port, "127.0.0.2", headers="X-Api-Key: alice\r\nX-N: 1\r\nX-N: 2\r\n")
    ask(port, "127.0.0.3", "/missing", headers="X-Api-Key: bob key\r\n")


def escaped(port: int, hx: HAProxy) -> None:
    ask(port, headers="X-Api-Key: bob key=1\\\\x\tz\r\n")  # a space, '=', two backslashes, a tab


CASES = [
    ("ratelimit", RATE, [burst], ["show table", "show table shop", "show table shop key 127.0.0.2",
                                  "show table shop data.http_req_rate gt 20", "show table nosuch",
                                  "clear table nosuch"]),
    ("ratelimit-empty", RATE, [], ["show table", "show table shop"]),
    ("stick-on-src", STICK, [clients], ["show table", "show table be"]),
    ("types", TYPES, [keys], ["show table", "show table per_ip", "show table per_key", "show table per_int"]),
    ("escapes", ESCAPES, [escaped], ["show table per_key"]),
]


def main(out: str) -> None:
    servers = {n: NamedServer(n) for n in ("s1", "s2", "s3")}
    vectors = []
    for name, body, actions, commands in CASES:
        port, = free_ports(1)
        text = DEFAULTS + body.replace("PORT", str(port))
        for n, s in servers.items():
            text = text.replace(f"@{n}", f"127.0.0.1:{s.port}")
        hx = HAProxy.from_text(text, "capture.cfg").start()
        try:
            for action in actions:
                action(port, hx)
            vectors += [{"case": name, "config": body, "command": c, "answer": hx.command(c)} for c in commands]
        finally:
            hx.stop()
    for s in servers.values():
        s.close()
    with open(out, "w") as f:
        json.dump(vectors, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
