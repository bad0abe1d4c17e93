"""A raw TCP backend for tests that need a server HAProxy's way of speaking cannot give (garbage,
silence, fixed bytes): a listener on 127.0.0.1 that hands each connection to ``serve`` in a thread
of its own, and ``close()`` that stops it and every connection it still holds. ``MisbehavingServer`` is one:
it answers garbage, or holds every request and says nothing."""
from __future__ import annotations

import socket
import threading


class RawListener:
    """Subclasses implement ``serve(conn)``; ``port`` is the ephemeral port it listens on."""

    def __init__(self, backlog: int = 64) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)  # the accept loop looks at ``stopping`` this often
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.conns: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def serve(self, conn: socket.socket) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            t = threading.Thread(target=self.serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(2)
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        for t in self.threads:
            t.join(2)


class MisbehavingServer(RawListener):
    """A misbehaving backend: 'garbage' answers with bytes that are not HTTP; 'silent' never answers
    (and notes in ``arrivals`` every request it got, so a test sees where held requests went)."""

    def __init__(self, mode: str, arrivals: list[str] | None = None, name: str = "") -> None:
        self.mode, self.name = mode, name
        self.arrivals = arrivals if arrivals is not None else []
        self.held: list[socket.socket] = []
        super().__init__(backlog=16)

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        if self.mode == "garbage":
            try:
                conn.recv(65536)
                conn.sendall(b"this is not HTTP\r\n\r\n")
            except OSError:
                pass
            conn.close()
            return
        self.held.append(conn)  # say nothing: the proxy's timeout server fires
        try:
            if conn.recv(65536):
                self.arrivals.append(self.name)
        except OSError:
            pass

    def drop(self) -> None:
        """Close the connections held so far (the proxy then sees an empty response)."""
        held, self.held = self.held, []
        for c in held:
            c.close()
