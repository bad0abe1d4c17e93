"""A client that sends a complete request and then shuts down its sending side (``shutdown(SHUT_WR)``, as
HTTP/1.0 clients and ``nc -q`` do): the requests, the bodies their answers must carry, the config (one
frontend in mode http, one in mode tcp, in front of a ``recorder.Recorder``), and the client."""
from __future__ import annotations

import socket

from support.recorder import TIMEOUT, read_all

DEFAULTS = ("global\n    maxconn 100\ndefaults\n    timeout connect 2s\n    timeout client 5s\n"
            "    timeout server 5s\n")


REQUESTS = {
    "get": b"GET /hc HTTP/1.1\r\nHost: lab\r\n\r\n",
    "http10": b"GET /hc10 HTTP/1.0\r\nHost: lab\r\n\r\n",
    "post": b"POST /hcp HTTP/1.1\r\nHost: lab\r\nContent-Length: 5\r\n\r\nhello",
    "two": b"GET /hc1 HTTP/1.1\r\nHost: lab\r\n\r\nGET /hc2 HTTP/1.1\r\nHost: lab\r\n\r\n",
}


BODIES = {"get": [b"GET /hc\n"], "http10": [b"GET /hc10\n"], "post": [b"POST /hcp\n"],
          "two": [b"GET /hc1\n", b"GET /hc2\n"]}


def config(http_port: int, tcp_port: int, backend: int) -> str:
    return (DEFAULTS + f"frontend fh\n    mode http\n    bind 127.0.0.1:{http_port}\n    default_backend bh\n"
            f"backend bh\n    mode http\n    server s1 127.0.0.1:{backend}\n"
            f"frontend ft\n    mode tcp\n    bind 127.0.0.1:{tcp_port}\n    default_backend bt\n"
            f"backend bt\n    mode tcp\n    server s1 127.0.0.1:{backend}\n")


def ask_then_half_close(port: int, data: bytes) -> bytes:
    """Send ``data``, shut the sending side at once, read until the proxy closes."""
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return read_all(s)


def bodies(data: bytes) -> list[bytes]:
    out = []
    while data.startswith(b"HTTP/"):
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                      if line.lower().startswith(b"content-length:"))
        out.append(rest[:length])
        data = rest[length:]
    return out
