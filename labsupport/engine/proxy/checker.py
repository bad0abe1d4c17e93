"""Health checks: one asyncio task per server with ``check``, as HAProxy 2.6 runs them.

How it works: each ``Checker`` waits its stagger delay (health.first_check_delays), then checks,
reports the result to the engine (which drives ``health.Health`` and the algorithm), and sleeps
``Health.next_interval(inter, fastinter, downinter)``. Maintenance pauses the checks; leaving it
wakes the checker at once. A check is a TCP connect (L4OK / L4CON / L4TOUT), or with ``option
httpchk`` one HTTP request (``http-check send`` sets its method, URI, version and headers) whose
status must be 2xx/3xx, or match ``http-check expect [!] status|rstatus|string|rstring``
(L7OK / L7STS / L7RSP / L7TOUT, with HAProxy 2.6's info texts from src/tcpcheck.c). With ``ssl`` or
``check-ssl`` the check adds a TLS handshake after the connect (L6OK / L6RSP "SSL handshake failure" /
L6TOUT), sending ``check-sni``; a certificate for another name is HAProxy's "Server presented an SSL
certificate different from the expected one". Without
``timeout check`` the whole check must fit in ``inter``; with it, the connect gets ``timeout
connect`` and the answer ``timeout check``.
"""
from __future__ import annotations

import asyncio
import re
import socket
import time
from dataclasses import dataclass

import httptools

from ..config.checks import status_matches
from .state import ServerRT
from .tls import name_mismatch, server_tls


@dataclass
class HealthCheckResult:
    """One health check of one server: HAProxy's check_status, its description, code and duration."""

    ok: bool
    status: str  # L4OK, L4CON, L4TOUT, L7OK, L7STS, L7RSP, L7TOUT
    desc: str  # "Layer4 check passed", ...
    code: int | None = None  # HTTP status (L7)
    info: str = ""  # "Connection refused", the reason phrase, ...
    duration: int = 0  # ms


DESC = {
    "L4OK": "Layer4 check passed", "L4CON": "Layer4 connection problem", "L4TOUT": "Layer4 timeout",
    "L7OK": "Layer7 check passed", "L7STS": "Layer7 wrong status", "L7RSP": "Layer7 invalid response",
    "L7TOUT": "Layer7 timeout", "L6OK": "Layer6 check passed", "L6RSP": "Layer6 invalid response",
    "L6TOUT": "Layer6 timeout",
}


MISMATCH_INFO = "Server presented an SSL certificate different from the expected one"


class _Answer:
    """httptools callbacks: collect the status line and up to ``BODY_LIMIT`` bytes of body."""

    def __init__(self, want_body: bool) -> None:
        self.reason = b""
        self.body = b""
        self.want_body = want_body
        self.headers_done = self.done = False

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.done = not self.want_body

    def on_body(self, data: bytes) -> None:
        self.body = (self.body + data)[:BODY_LIMIT]
        if len(self.body) >= BODY_LIMIT:
            self.done = True

    def on_message_complete(self) -> None:
        self.done = True


BODY_LIMIT = 16384  # HAProxy reads at most one buffer (tune.bufsize) of a check's answer


def check_request(be) -> bytes:
    """The bytes of one HTTP check (``option httpchk`` + ``http-check send``), as HAProxy 2.6 sends them."""
    method, uri = be.httpchk
    version = be.httpchk_version
    lines = [f"{method} {uri} {version}"]
    lines += [f"{name.lower()}: {value}" for name, value in be.http_check_headers]
    if version == "HTTP/1.1":  # HAProxy closes its check connections and says so on HTTP/1.1
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def judge(be, code: int, reason: str, body: bytes) -> tuple[bool, str, str]:
    """(passed, check_status, info) for an answer, by ``http-check expect`` (2xx/3xx without one)."""
    exp = be.http_check_expect
    if exp is None:
        ok = 200 <= code < 400
        return ok, "L7OK" if ok else "L7STS", reason
    if exp.kind in ("status", "rstatus"):
        hit = status_matches(exp.pattern, code) if exp.kind == "status" else bool(re.search(exp.pattern, str(code)))
        ok = hit != exp.negate
        return ok, "L7OK" if ok else "L7STS", reason
    text = body.decode("latin-1")
    hit = exp.pattern in text if exp.kind == "string" else bool(re.search(exp.pattern, text))
    if hit != exp.negate:
        return True, "L7OK", reason
    return False, "L7RSP", "HTTP check matched unwanted content" if exp.negate else "HTTP content check did not match"


async def check_server(srv: ServerRT) -> HealthCheckResult:
    """Run one check against ``srv`` now."""
    be = srv.backend.cfg
    t0 = time.monotonic()
    inter = srv.cfg.inter
    t_check = be.timeouts.check
    connect_s = ((be.timeouts.connect or inter) if t_check else inter) / 1000

    def result(ok: bool, status: str, code: int | None = None, info: str = "") -> HealthCheckResult:
        return HealthCheckResult(ok, status, DESC[status], code, info, int((time.monotonic() - t0) * 1000))

    ctx, sni = server_tls(srv.cfg, check=True)
    try:
        if ctx is None:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*srv.addr), connect_s)
        else:
            sock = await asyncio.wait_for(_tcp_connect(srv.addr), connect_s)
    except (TimeoutError, asyncio.TimeoutError):
        return result(False, "L4TOUT")
    except ConnectionRefusedError:
        return result(False, "L4CON", info="Connection refused")
    except OSError as e:
        return result(False, "L4CON", info=e.strerror or str(e))
    if ctx is not None:  # the TLS handshake is layer 6: its failures are L6RSP / L6TOUT
        try:
            left = max((t_check or inter) / 1000 - (time.monotonic() - t0), 0.001)
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(sock=sock, ssl=ctx, server_hostname=sni or ""), left)
        except (TimeoutError, asyncio.TimeoutError):
            sock.close()
            return result(False, "L6TOUT")
        except OSError as e:  # ssl.SSLError, or the server closing during the handshake
            sock.close()
            # HAProxy's connection error texts (conn_err_code_str: CO_ER_SSL_MISMATCH_SNI, CO_ER_SSL_HANDSHAKE)
            return result(False, "L6RSP", info=MISMATCH_INFO if name_mismatch(e) else "SSL handshake failure")
    try:
        if be.httpchk is None:
            return result(True, "L4OK" if ctx is None else "L6OK")
        writer.write(check_request(be))
        exp = be.http_check_expect
        st = _Answer(want_body=exp is not None and exp.kind in ("string", "rstring"))
        parser = httptools.HttpResponseParser(st)
        left = (t_check or inter) / 1000 - (time.monotonic() - t0 if not t_check else 0)
        deadline = time.monotonic() + max(left, 0.001)
        while not st.done:
            try:
                data = await asyncio.wait_for(reader.read(4096), max(deadline - time.monotonic(), 0.001))
            except (TimeoutError, asyncio.TimeoutError):
                return result(False, "L7TOUT")
            except OSError as e:
                return result(False, "L7RSP", info=e.strerror or str(e))
            if not data:
                if st.headers_done:  # the body ends with the connection
                    break
                return result(False, "L7RSP", info="Connection closed")
            try:
                parser.feed_data(data)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade):
                return result(False, "L7RSP", info="Invalid response")
        code = parser.get_status_code()
        ok, status, info = judge(be, code, st.reason.decode("latin-1"), st.body)
        return result(ok, status, code if status != "L7RSP" else None, info)
    finally:
        writer.close()


async def _tcp_connect(addr: tuple[str, int]) -> socket.socket:
    """A connected non-blocking TCP socket (the layer-4 half of a TLS check)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, addr)
    except BaseException:
        sock.close()
        raise
    return sock


class Checker:
    """The check loop of one server; ``wake()`` makes it check at once."""

    def __init__(self, engine, srv: ServerRT, first_delay_ms: int) -> None:
        self.engine, self.srv, self.first_delay_ms = engine, srv, first_delay_ms
        self._wake = asyncio.Event()
        self.task = engine.loop.create_task(self._run())

    def wake(self) -> None:
        self._wake.set()

    def cancel(self) -> None:
        self.task.cancel()

    async def _sleep(self, ms: int) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), ms / 1000)
        except (TimeoutError, asyncio.TimeoutError):
            pass
        self._wake.clear()

    async def _run(self) -> None:
        srv, cfg = self.srv, self.srv.cfg
        await self._sleep(self.first_delay_ms)
        while True:
            if not srv.health.checks_paused:
                try:
                    res = await check_server(srv)
                except Exception as e:  # a check must never kill the loop
                    res = HealthCheckResult(False, "L4CON", DESC["L4CON"], None, repr(e))
                if srv.checker is self and not srv.health.checks_paused:
                    self.engine.check_result(srv, res)
            await self._sleep(srv.health.next_interval(cfg.inter, cfg.fastinter, cfg.downinter))
