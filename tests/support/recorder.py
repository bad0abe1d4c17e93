"""A recording backend and a raw client, for tests that compare what a proxy lets through.

``Recorder`` is a raw TCP backend (``RawListener``) that keeps every byte each connection sent
it and answers every request it can frame (a head, then a Content-Length or chunked body) with
``200`` and a body naming the request line. ``seen()`` gives the requests it received, in order,
normalised so that a proxy's own rewriting (header case, hop-by-hop and forwarding headers) does
not count: what matters is which requests, with which targets, headers and bodies, arrived.
Anything it cannot frame is recorded as ``("GARBAGE", bytes)`` and the connection is closed.
"""
from __future__ import annotations

import socket
import threading

from support.rawserver import RawListener

TIMEOUT = 5.0  # every socket wait here is bounded by this
HOP = {b"connection", b"keep-alive", b"x-forwarded-for", b"content-length", b"transfer-encoding"}


def _chunked(buf: bytes) -> tuple[bytes, int] | None:
    """(decoded body, bytes used) of a complete chunked body at the start of ``buf``; None if incomplete."""
    pos, body = 0, b""
    while True:
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        size = int(buf[pos:end].split(b";")[0].strip() or b"x", 16)
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", end)
            if buf[end:end + 4] == b"\r\n\r\n":
                return body, end + 4
            return None if trailer_end < 0 else (body, trailer_end + 4)
        if len(buf) < end + 2 + size + 2:
            return None
        body += buf[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


def parse_request(buf: bytes) -> tuple[tuple, int] | None:
    """One framed request at the start of ``buf``: (normalised request, bytes used); None if incomplete.

    Raises ValueError for bytes that are not a request.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 65536:
            raise ValueError("no end of head")
        return None
    lines = buf[:end].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise ValueError("bad request line")
    headers = []
    length, chunked = 0, False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError("bad header line")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.lower().endswith(b"chunked")
        if name not in HOP:
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
    rest = buf[end + 4:]
    if chunked:
        got = _chunked(rest)
        if got is None:
            return None
        body, used = got
    else:
        if len(rest) < length:
            return None
        body, used = rest[:length], length
    req = (parts[0].decode("latin-1"), parts[1].decode("latin-1"), tuple(headers), body)
    return req, end + 4 + used


class Recorder(RawListener):
    """A backend that records every request (and every byte) it receives; see the module docstring."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.raw: list[bytearray] = []  # bytes per connection, in accept order
        self.requests: list[tuple] = []  # every request, in arrival order, with its connection number
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT)
        with self.lock:
            number = len(self.raw)
            raw = bytearray()
            self.raw.append(raw)
        buf = b""
        try:
            for _ in range(10000):  # bounded: a test sends a handful of requests per connection
                chunk = conn.recv(65536)
                if not chunk:
                    return
                raw += chunk
                buf += chunk
                while buf:
                    try:
                        got = parse_request(buf)
                    except ValueError:
                        with self.lock:
                            self.requests.append((number, ("GARBAGE", buf)))
                        return
                    if got is None:
                        break
                    req, used = got
                    buf = buf[used:]
                    with self.lock:
                        self.requests.append((number, req))
                    conn.sendall(self.answer(req))
        except OSError:
            pass
        finally:
            conn.close()

    def answer(self, req: tuple) -> bytes:
        """The bytes answering one request (subclasses may add headers): 200 naming the request line."""
        body = f"{req[0]} {req[1]}\n".encode("latin-1")
        return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)

    def reset(self) -> None:
        with self.lock:
            self.raw.clear()
            self.requests.clear()

    def seen(self) -> list[tuple]:
        """The requests received so far (without connection numbers)."""
        with self.lock:
            return [r for _, r in self.requests]


# ----- the raw client
def read_response(s: socket.socket) -> bytes:
    """One response (head + content-length body), or whatever arrived before the connection ended."""
    data = b""
    for _ in range(10000):
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                      if line.lower().startswith(b"content-length:")]
            if len(body) >= (length[0] if length else 0):
                return data
        try:
            chunk = s.recv(65536)
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"response never ended: {data[:200]!r}")


def read_all(s: socket.socket) -> bytes:
    """Everything until the proxy closes (bounded by the socket timeout)."""
    data = b""
    for _ in range(10000):
        try:
            chunk = s.recv(65536)
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            return data
        if not chunk:
            return data
        data += chunk
    return data


def statuses(data: bytes) -> list[str]:
    """The status codes of every response in ``data`` (responses read back to back)."""
    out = []
    while data.startswith(b"HTTP/"):
        head, _, rest = data.partition(b"\r\n\r\n")
        out.append(head.split(b" ", 2)[1].decode())
        length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                  if line.lower().startswith(b"content-length:")]
        data = rest[length[0] if length else 0:]
    return out
