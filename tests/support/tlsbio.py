"""TLS over raw sockets with memory BIOs, for the passthrough tests: the client controls exactly which
bytes go out when (a ClientHello in two pieces, a hello then a half-close, plain text, nothing), and the
server notes the raw bytes it received before it first answered (the ClientHello as the proxy relayed it).

``TlsNamedServer(name, cert, key)`` answers each HTTPS request with its own name (as routing.NamedServer
does in clear text) and appends ``(name, first bytes)`` to a shared ``arrivals`` list per connection.
``client_hello(sni)`` makes a fresh ClientHello; ``talk(...)`` runs one client: what it saw, as a word.
"""
from __future__ import annotations

import socket
import ssl
import time

from support.rawserver import RawListener

TIMEOUT = 5.0


class TlsNamedServer(RawListener):
    """An HTTPS backend on a raw socket: the TLS handshake through memory BIOs, then its name as the body."""

    def __init__(self, name: str, cert: str, key: str, arrivals: list) -> None:
        self.name, self.arrivals = name, arrivals
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.ctx.wrap_bio(inc, out, server_side=True)
        first: bytes | None = None
        raw = b""
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    pass
                finally:
                    answer = out.read()
                    if answer:
                        if first is None:
                            first = raw
                            self.arrivals.append((self.name, first))
                        conn.sendall(answer)
                chunk = conn.recv(65536)
                if not chunk:
                    return
                raw += chunk
                inc.write(chunk)
            request = b""
            while b"\r\n\r\n" not in request:
                try:
                    request += tls.read(65536)
                except ssl.SSLWantReadError:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    inc.write(chunk)
            body = self.name.encode()
            tls.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            conn.sendall(out.read())
        except (OSError, ssl.SSLError):
            pass
        finally:
            if first is None:
                self.arrivals.append((self.name, raw))
            conn.close()


def _client(sni: str | None) -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    return ctx.wrap_bio(inc, out, server_hostname=sni), inc, out


def client_hello(tls: ssl.SSLObject, out: ssl.MemoryBIO) -> bytes:
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def _recv(sock: socket.socket) -> bytes:
    """The next bytes, b'' at the end; 'reset' is raised as ConnectionResetError."""
    return sock.recv(65536)


def talk(port: int, how: str, sni: str | None = None, pause: float = 0.2,
         waiting_for=None) -> tuple[str, bytes]:
    """One client on 127.0.0.1:``port``. ``how``: "hello" (a whole ClientHello, then an HTTPS request),
    "split" (the hello cut inside the server name, the rest ``pause`` s later), "half" (the first half of
    a hello, then a half-close), "plain" (an HTTP request in clear text), "nothing" (connects and waits).
    Returns what it saw ("answered NAME", "reset", "closed", or for "nothing" "connected" once
    ``waiting_for()`` is true) and the hello it sent (b"" when none)."""
    tls, inc, out = _client(sni)
    hello = client_hello(tls, out) if how in ("hello", "split", "half") else b""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        try:
            if how == "hello":
                sock.sendall(hello)
            elif how == "split":
                cut = hello.index(sni.encode()) + 2
                sock.sendall(hello[:cut])
                time.sleep(pause)  # the stimulus: the rest of the hello arrives later
                sock.sendall(hello[cut:])
            elif how == "half":
                sock.sendall(hello[:len(hello) // 2])
                sock.shutdown(socket.SHUT_WR)
            elif how == "plain":
                sock.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
            else:  # nothing: wait until a server got the connection, or the proxy ended it
                sock.settimeout(0.05)
                deadline = time.monotonic() + TIMEOUT
                while time.monotonic() < deadline:
                    if waiting_for is not None and waiting_for():
                        return "connected", hello
                    try:
                        data = _recv(sock)
                    except socket.timeout:
                        continue
                    return ("closed" if not data else "data"), hello
                return "timeout", hello
            if how != "hello" and how != "split":
                data = b""
                while True:
                    chunk = _recv(sock)
                    if not chunk:
                        return ("closed" if not data else "data"), hello
                    data += chunk
            return _finish(sock, tls, inc, out), hello
        except ConnectionResetError:
            return "reset", hello
        except BrokenPipeError:  # the proxy closed while we were still sending
            return "closed", hello


def _finish(sock: socket.socket, tls: ssl.SSLObject, inc: ssl.MemoryBIO, out: ssl.MemoryBIO) -> str:
    """The rest of the handshake, one request, its answer."""
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                sock.sendall(pending)
            chunk = _recv(sock)
            if not chunk:
                return "closed"
            inc.write(chunk)
    sock.sendall(out.read())
    tls.write(b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
    sock.sendall(out.read())
    answer = b""
    while True:
        try:
            piece = tls.read(65536)
            if not piece:
                break
            answer += piece
        except ssl.SSLWantReadError:
            chunk = _recv(sock)
            if not chunk:
                break
            inc.write(chunk)
        except ssl.SSLError:  # (a close without close_notify)
            break
    return "answered " + answer.partition(b"\r\n\r\n")[2].decode()
