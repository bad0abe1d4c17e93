"""Gated backends: ``Gate`` notes every request it receives and holds it until the test releases it, so
which request waits where, and in which order it gets in, is decided by the balancer alone; ``send``
GETs in a thread of its own and ``get`` waits for the answer."""
from __future__ import annotations

import socket
import threading
import time

from support.rawserver import RawListener


class Gate(RawListener):
    """A backend that notes ``(name, path)`` of every request in ``arrivals`` and answers only when
    released (``release(name)``: its oldest held request), or at once when ``hold`` is False."""

    def __init__(self, name: str, arrivals: list, lock: threading.Lock, hold: bool = True) -> None:
        self.name, self.arrivals, self.lock, self.hold = name, arrivals, lock, hold
        self.waiting: list[tuple[socket.socket, threading.Event, str]] = []
        super().__init__(backlog=128)

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
        except OSError:
            return
        path = data.split(b" ", 2)[1].decode()
        ev = threading.Event()
        with self.lock:
            self.arrivals.append((self.name, path))
            if self.hold:
                self.waiting.append((conn, ev, path))
        if self.hold:
            ev.wait(30)
        body = f"{self.name} {path}".encode()
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        conn.close()

    def held(self) -> int:
        with self.lock:
            return len(self.waiting)

    def release(self) -> None:
        deadline = time.monotonic() + 10
        while not self.held():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} holds no request to release")
            time.sleep(0.005)
        with self.lock:
            _conn, ev, _path = self.waiting.pop(0)
        ev.set()

    def release_all(self) -> None:
        with self.lock:
            waiting, self.waiting = self.waiting, []
        for _c, ev, _p in waiting:
            ev.set()


def send(port: int, path: str, out: dict, key) -> threading.Thread:
    """GET ``path`` in a thread; the body (or the status) lands in ``out[key]``."""

    def run() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), 30) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            out[key] = body.decode() if b" 200 " in head[:13] else head[:12].decode()
        except OSError as e:
            out[key] = f"error {e}"

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def get(port: int, path: str) -> str:
    out: dict = {}
    send(port, path, out, 0).join(10)
    return out.get(0, "no answer")
