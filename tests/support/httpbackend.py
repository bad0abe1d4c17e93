"""Tiny real HTTP/1.1 backends in threads (``Backend``: answers its own name, keep-alive) and the clients
the engine tests talk to them with: ``get``, ``exchange`` (raw bytes), ``free_port`` and ``wait_for``."""
from __future__ import annotations

import http.client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# ----- helpers: real backends, free ports, raw clients
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        b = self.server.owner
        b.hits += 1
        b.seen.append(dict(self.headers))
        n = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(n) if n else b""
        if b.delay:
            time.sleep(b.delay)
        path_status = b.status_for.get(self.path, b.status)
        body = f"{b.name}".encode() + (b" got " + body_in if body_in else b"")
        self.send_response(path_status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = do_OPTIONS = _answer

    def log_message(self, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a proxy closing a kept-alive connection is no news


class Backend:
    """A tiny HTTP/1.1 server answering its own name (keep-alive, threaded)."""

    def __init__(self, name: str, port: int = 0, delay: float = 0.0, status: int = 200):
        self.name, self.delay, self.status = name, delay, status
        self.status_for: dict[str, int] = {}
        self.hits, self.seen = 0, []
        self.port = port
        self.httpd: _Server | None = None
        self.start()

    def start(self) -> "Backend":
        self.httpd = _Server(("127.0.0.1", self.port), _Handler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


def exchange(port: int, data: bytes, wait: float = 5.0) -> bytes:
    """Send ``data`` on a new connection, read until the proxy closes (or ``wait`` passes)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(wait)
        if data:
            s.sendall(data)
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except socket.timeout:
            out += b"<<still open>>"
        return out


def get(port: int, path: str = "/", headers: dict | None = None) -> tuple[int, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def wait_for(pred, timeout: float = 8.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("condition not reached in time")
