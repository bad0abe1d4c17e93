"""Tricky and malformed requests, and what real HAProxy 2.6 did with each (tests/vectors/requests.json).

Each case is raw bytes sent on a new connection to a proxy in front of ``recorder.Recorder``,
then a half-close (HAProxy answers what it got, then closes), followed by a probe request on
another connection (a desync shows there: the server connection
the proxy kept would make the probe arrive mangled). The vector file keeps, per case, HAProxy's
status codes, the exact error page it sent, and the requests the backend received.

Regenerate the vectors (needs /usr/sbin/haproxy) with ``python tests/support/request_cases.py`` and review
the diff; tests/engine/test_requests.py checks the engine against them, tests/differential/test_requests.py HAProxy.
"""
from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

if __name__ == "__main__":  # run as a script: tests/ on the path, for ``support``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.recorder import TIMEOUT, Recorder, read_all, statuses

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "requests.json"
H = "Host: lab\r\n"
SMUGGLED = "GET /admin HTTP/1.1\r\nHost: lab\r\n\r\n"
WS_KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
PROBE = b"GET /probe HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
DEFAULTS = ("global\n    maxconn 100\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n"
            "    timeout server 5s\n")


def _fields(n: int) -> str:
    return "".join(f"X-H{i}: v\r\n" for i in range(n))


def _pad_value(total: int) -> str:
    """A request whose raw head is ``total`` bytes, padded in one header value."""
    base = f"GET /x HTTP/1.1\r\n{H}X-Pad: \r\n\r\n"
    return f"GET /x HTTP/1.1\r\n{H}X-Pad: {'a' * (total - len(base))}\r\n\r\n"


def _pad_url(total: int) -> str:
    base = f"GET / HTTP/1.1\r\n{H}\r\n"
    return f"GET /{'a' * (total - len(base))} HTTP/1.1\r\n{H}\r\n"


def _pad_many(total: int) -> str:
    """48 headers of 100 bytes, then a padding header: each header costs HAProxy 4 bytes more."""
    head = f"GET /x HTTP/1.1\r\n{H}" + "".join(f"X-{i:03d}: {'b' * 100}\r\n" for i in range(48))
    return head + f"X-Pad: {'c' * (total - len(head) - 2 - len('X-Pad: ' + chr(13) + chr(10)))}\r\n\r\n"


def cases() -> list[tuple[str, str]]:
    """(name, request as latin-1 text): desync, upgrades, HAProxy's limits and checks, strictness."""
    c: list[tuple[str, str]] = []

    def add(name: str, text: str) -> None:
        c.append((name, text))

    # --- request smuggling through upgrades: the body must be relayed as a body
    add("upgrade POST with body", f"POST /u1 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n"
        f"Content-Length: {len(SMUGGLED)}\r\n\r\n{SMUGGLED}")
    add("upgrade POST chunked body", f"POST /u2 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n{len(SMUGGLED):x}\r\n{SMUGGLED}\r\n0\r\n\r\n")
    add("upgrade h2c POST with body", f"POST /u4 HTTP/1.1\r\n{H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        f"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: {len(SMUGGLED)}\r\n\r\n{SMUGGLED}")
    add("Upgrade header alone, body", f"POST /u5 HTTP/1.1\r\n{H}Upgrade: websocket\r\nContent-Length: {len(SMUGGLED)}\r\n\r\n{SMUGGLED}")
    add("Connection upgrade alone, body", f"POST /u6 HTTP/1.1\r\n{H}Connection: Upgrade\r\nContent-Length: {len(SMUGGLED)}\r\n\r\n{SMUGGLED}")
    add("upgrade POST body then GET", f"POST /u7 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n"
        f"Content-Length: 5\r\n\r\nhelloGET /u7b HTTP/1.1\r\n{H}Connection: close\r\n\r\n")
    add("upgrade POST chunked then GET", f"POST /u7c HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: foo\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /u7d HTTP/1.1\r\n{H}Connection: close\r\n\r\n")
    add("upgrade keep-alive,Upgrade,foo body", f"POST /x5 HTTP/1.1\r\n{H}Connection: keep-alive, Upgrade, foo\r\n"
        "Upgrade: websocket\r\nContent-Length: 2\r\n\r\nhi")
    add("websocket without key", f"GET /u11 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    add("websocket without key, pipelined", f"GET /u3 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        f"GET /u3b HTTP/1.1\r\n{H}Connection: close\r\n\r\n")
    add("websocket HTTP/1.0 without key", f"GET /u8 HTTP/1.0\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    add("websocket CL 0 without key", f"POST /u9 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n"
        "Content-Length: 0\r\n\r\n")
    add("WebSocket token, no key", f"GET /x2 HTTP/1.1\r\n{H}Connection: upgrade\r\nUpgrade: WebSocket\r\n\r\n")
    add("foo, websocket, no key", f"GET /x3 HTTP/1.1\r\n{H}Connection: upgrade\r\nUpgrade: foo, websocket\r\n\r\n")
    add("websocket short key", f"GET /k2 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n")
    add("websocket empty key", f"GET /k5 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key:\r\n\r\n")
    add("websocket with key", f"GET /w1 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n{WS_KEY}"
        "Sec-WebSocket-Version: 13\r\n\r\n")
    add("websocket with key, pipelined", f"GET /w2 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n{WS_KEY}\r\n"
        f"GET /w2b HTTP/1.1\r\n{H}Connection: close\r\n\r\n")
    add("websocket key POST body", f"POST /w3 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n{WS_KEY}"
        "Content-Length: 5\r\n\r\nhello")
    add("websocket key HTTP/1.0", f"GET /w11 HTTP/1.0\r\n{H}Connection: Upgrade\r\nUpgrade: websocket\r\n{WS_KEY}\r\n")
    add("h2c GET", f"GET /w4 HTTP/1.1\r\n{H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    add("other upgrade GET, pipelined", f"GET /w5 HTTP/1.1\r\n{H}Connection: Upgrade\r\nUpgrade: foo/2\r\n\r\n"
        f"GET /w5b HTTP/1.1\r\n{H}Connection: close\r\n\r\n")
    add("Connection upgrade, no Upgrade", f"GET /x4 HTTP/1.1\r\n{H}Connection: upgrade\r\n\r\n")
    add("body longer than Content-Length", f"POST /u10 HTTP/1.1\r\n{H}Content-Length: 5\r\nConnection: close\r\n\r\nhello{SMUGGLED}")
    # --- HAProxy's limits
    add("20 KB request line", f"GET /{'a' * 20000} HTTP/1.1\r\n{H}\r\n")
    for n in (100, 101, 102):
        add(f"{n} header fields", f"GET /f{n} HTTP/1.1\r\n{H}{_fields(n - 1)}\r\n")
    for n in (255, 256):
        add(f"header name of {n} bytes", f"GET /n{n} HTTP/1.1\r\n{H}{'N' * n}: v\r\n\r\n")
    for total in (15273, 15274):
        add(f"head of {total} bytes (long value)", _pad_value(total))
    for total in (15277, 15278):
        add(f"head of {total} bytes (long target)", _pad_url(total))
    for total in (15081, 15082):
        add(f"head of {total} bytes (50 fields)", _pad_many(total))
    # --- Transfer-Encoding
    for te in ("chunked", "identity, chunked", "gzip, chunked", "chunked, gzip", "chunked, chunked", "gzip",
               "identity", "Chunked", "xchunked"):
        add(f"Transfer-Encoding: {te}", f"POST /te HTTP/1.1\r\n{H}Transfer-Encoding: {te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    add("two TE headers gzip, chunked", f"POST /te HTTP/1.1\r\n{H}Transfer-Encoding: gzip\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    add("HTTP/1.0 chunked", f"POST /te10 HTTP/1.0\r\n{H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    # --- targets and Host
    add("CONNECT host:port", "CONNECT lab:443 HTTP/1.1\r\nHost: lab:443\r\n\r\n")
    add("CONNECT without Host", "CONNECT lab:443 HTTP/1.1\r\n\r\n")
    add("CONNECT /", f"CONNECT / HTTP/1.1\r\n{H}\r\n")
    add("CONNECT other host", f"CONNECT other:443 HTTP/1.1\r\n{H}\r\n")
    add("absolute target, other host", f"GET http://other/x HTTP/1.1\r\n{H}\r\n")
    add("absolute target, same host", f"GET http://lab/x HTTP/1.1\r\n{H}\r\n")
    add("absolute target, other port", f"GET http://lab:8080/x HTTP/1.1\r\n{H}\r\n")
    add("absolute target, no Host", "GET http://lab/x HTTP/1.1\r\n\r\n")
    add("absolute https target", f"GET https://lab/x HTTP/1.1\r\n{H}\r\n")
    add("absolute target, upper case", f"GET http://LAB/x HTTP/1.1\r\n{H}\r\n")
    add("absolute target, port 80", f"GET http://lab:80/x HTTP/1.1\r\n{H}\r\n")
    add("fragment in target", f"GET /a#frag HTTP/1.1\r\n{H}\r\n")
    add("fragment after query", f"GET /a?b=1#frag HTTP/1.1\r\n{H}\r\n")
    add("two different Host", "GET /h HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    add("two identical Host", "GET /h HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n")
    add("Host list", "GET /h HTTP/1.1\r\nHost: a, b\r\n\r\n")
    add("no Host in HTTP/1.1", "GET /nohost HTTP/1.1\r\n\r\n")
    add("OPTIONS *", f"OPTIONS * HTTP/1.1\r\n{H}\r\n")
    add("HTTP/2.0 in request line", f"GET /v2 HTTP/2.0\r\n{H}\r\n")
    # --- malformed: both refuse
    add("two different Content-Length", f"POST /cl HTTP/1.1\r\n{H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
    add("space before colon", f"GET /sp HTTP/1.1\r\n{H}X-A : b\r\n\r\n")
    add("space in target", f"GET /a b HTTP/1.1\r\n{H}\r\n")
    add("empty header name", f"GET /e HTTP/1.1\r\n{H}: v\r\n\r\n")
    add("bad chunk size", f"POST /c HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
    add("bad Content-Length", f"POST /c HTTP/1.1\r\n{H}Content-Length: 5x\r\n\r\nhello")
    add("negative Content-Length", f"POST /c HTTP/1.1\r\n{H}Content-Length: -5\r\n\r\nhello")
    add("high byte in target", f"GET /\xe9 HTTP/1.1\r\n{H}\r\n")
    add("high byte in value", f"GET /hb HTTP/1.1\r\n{H}X-A: a\xe9b\r\n\r\n")
    add("tab in value", f"GET /tab HTTP/1.1\r\n{H}X-A: a\tb\r\n\r\n")
    # --- the engine is stricter (README, Known differences)
    add("Content-Length and chunked", f"POST /clte HTTP/1.1\r\n{H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n")
    add("bare LF line ends", f"GET /lf HTTP/1.1\n{H}\n")
    add("obs-fold", f"GET /fold HTTP/1.1\r\n{H}X-A: a\r\n b\r\n\r\n")
    add("control byte in value", f"GET /ctl HTTP/1.1\r\n{H}X-A: a\x01b\r\n\r\n")
    add("DEL byte in value", f"GET /del HTTP/1.1\r\n{H}X-A: a\x7fb\r\n\r\n")
    add("two identical Content-Length", f"POST /cl2 HTTP/1.1\r\n{H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello")
    add("Content-Length list", f"POST /cl3 HTTP/1.1\r\n{H}Content-Length: 5, 5\r\n\r\nhello")
    add("lower-case method", f"get /lc HTTP/1.1\r\n{H}\r\n")
    add("unknown method", f"FOO /m HTTP/1.1\r\n{H}\r\n")
    return c


# Where the engine deliberately differs: case name -> (the engine's status, why). The engine never
# forwards these; everything else must match HAProxy exactly.
STRICTER = {
    "Content-Length and chunked": ("400", "HAProxy drops Content-Length and relays the chunked body"),
    "bare LF line ends": ("400", "HAProxy accepts LF alone as a line end"),
    "obs-fold": ("400", "HAProxy unfolds continuation lines"),
    "control byte in value": ("400", "HAProxy relays control bytes in header values"),
    "DEL byte in value": ("400", "HAProxy relays DEL in header values"),
    "two identical Content-Length": ("400", "HAProxy merges identical Content-Length headers"),
    "Content-Length list": ("400", "HAProxy accepts a list of identical lengths"),
    "lower-case method": ("400", "llhttp knows only registered upper-case methods"),
    "unknown method": ("400", "llhttp knows only registered methods"),
    "CONNECT host:port": ("501", "HAProxy relays CONNECT and tunnels; the engine cannot tunnel"),
    "CONNECT without Host": ("501", "HAProxy relays CONNECT and tunnels; the engine cannot tunnel"),
}


def normalise(seen: list[tuple]) -> list:
    """Recorder requests as JSON-able lists (bodies and garbage as latin-1 text)."""
    out = []
    for r in seen:
        if r[0] == "GARBAGE":
            out.append(["GARBAGE", r[1].decode("latin-1")])
        else:
            out.append([r[0], r[1], [list(h) for h in r[2]], r[3].decode("latin-1")])
    return out


def exchange(port: int, rec: Recorder, request: bytes) -> dict:
    """Send ``request`` and a probe; what the client got and what the backend saw."""
    rec.reset()
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        try:
            s.sendall(request)
            if b"Connection: close" not in request:  # pipelined cases end with it: no half-close there, as
                s.shutdown(socket.SHUT_WR)  # haproxy may close before the second answer; else answer, then EOF
        except OSError:  # the proxy refused and closed first: its answer is still to be read
            pass
        got = read_all(s)
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(PROBE)
        probe = read_all(s)
    deadline = time.monotonic() + TIMEOUT  # the probe's answer implies the backend has recorded it
    while not any(r[1] == "/probe" for r in rec.seen() if r[0] != "GARBAGE") and time.monotonic() < deadline:
        time.sleep(0.01)
    codes = statuses(got)
    return {"status": codes, "page": got.decode("latin-1") if codes and codes[0] != "200" else None,
            "probe": statuses(probe), "seen": normalise(rec.seen())}


def recorded() -> dict[str, dict]:
    """name -> the case as HAProxy answered it (tests/vectors/requests.json)."""
    return {c["name"]: c for c in json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]}


def want(vector: dict[str, dict], name: str) -> dict:
    """What the client and the backend must see for case ``name``: what HAProxy gave."""
    v = vector[name]
    return {"status": v["status"], "page": v["page"], "probe": v["probe"], "seen": v["seen"]}


def config(port: int, backend_port: int) -> str:
    return (DEFAULTS + f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
            f"backend be\n    server s1 127.0.0.1:{backend_port}\n")


def _write_vectors(haproxy_bin: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from labsupport.course.fleet import free_ports
    from labsupport.course.haproxy import HAProxy
    rec = Recorder()
    port, = free_ports(1)
    hx = HAProxy.from_text(config(port, rec.port), "requests.cfg", binary=haproxy_bin).start()
    try:
        out = [dict(name=name, request=text, **exchange(port, rec, text.encode("latin-1")))
               for name, text in cases()]
    finally:
        hx.stop()
        rec.close()
    VECTORS.parent.mkdir(exist_ok=True)
    VECTORS.write_text(json.dumps({"haproxy": "2.6.12-1+deb12u4", "cases": out}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(out)} cases to {VECTORS}")


if __name__ == "__main__":
    _write_vectors(sys.argv[1] if len(sys.argv) > 1 else "/usr/sbin/haproxy")
