"""A raw HTTP/1.1 client for comparing balancers byte for byte: one GET on a new connection from a chosen
source address, the full response bytes, and the server name a response carries."""
from __future__ import annotations

import socket


def request(port: int, path: str = "/", src: str = "127.0.0.1", close: bool = True,
            timeout: float = 10.0) -> bytes:
    """One GET on a new connection from ``src``; the full response bytes (until EOF, or until the
    body announced by content-length when the connection stays open)."""
    with socket.create_connection(("127.0.0.1", port), timeout, source_address=(src, 0)) as s:
        extra = "Connection: close\r\n" if close else ""
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\n{extra}\r\n".encode())
        return read_response(s, until_eof=close)


def read_response(s: socket.socket, until_eof: bool) -> bytes:
    data = b""
    for _ in range(10000):  # bounded: a response here is a few hundred bytes
        if not until_eof and b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                      if line.lower().startswith(b"content-length:")]
            if length and len(body) >= length[0]:
                return data
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"response never ended: {data[:200]!r}")


def server_of(response: bytes) -> str:
    head, _, body = response.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode() if head else "no response"
    return body.decode() if status == "200" else status
