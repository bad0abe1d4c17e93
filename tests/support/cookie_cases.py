"""Cookie persistence: one configuration with a backend per cookie mode, and a script of requests (with
runtime commands between them) that test_cookies.py plays on real HAProxy and on the engine.

``config(port, servers, dead)`` puts a frontend on ``port`` routing ``/<backend>/...`` to backend
``<backend>``; every backend's s1, s2, s3 are the same three ``CookieServer`` recorders (``servers``:
their ports), so which recorder got a request says which server answered. ``dead`` is a port nothing
listens on (the ``dead*`` backends' s2). A ``CookieServer`` names itself in ``x-server`` and echoes the
request's ``x-reply-NAME: V`` headers as its own ``Name: V`` (``Set-Cookie``, ``Cache-Control``, ``ETag`` ...).
Every request has its own path, so log lines are matched to requests by their request line.
"""
from __future__ import annotations

import socket
import time

from support.recorder import Recorder, read_all

TIMEOUT = 5.0

CONFIG = """global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
{routes}
{backends}"""

# backend name -> its lines before the servers, and how its servers are declared
BACKENDS = {
    "ins": ["cookie SERVERID insert indirect nocache"],
    "plain": ["cookie SRV insert httponly secure domain .lab.test domain .b.test attr SameSite=Lax attr Partitioned"],
    "post": ["cookie SRV insert postonly nocache"],
    "pfx": ["cookie JSESSIONID prefix"],
    "pfxind": ["cookie JSESSIONID prefix indirect"],
    "rw": ["cookie SID rewrite"],
    "psv": ["cookie SERVERID insert indirect preserve"],
    "passive": ["cookie SERVERID"],
    "state": ["cookie SERVERID insert indirect nocache"],
    "staterd": ["cookie SERVERID insert indirect nocache", "option redispatch"],
    "persist": ["cookie SERVERID insert indirect nocache", "option persist"],
    "persistrd": ["cookie SERVERID insert indirect nocache", "option persist", "option redispatch"],
    "dead": ["cookie SERVERID insert indirect", "retries 1"],
    "deadrd": ["cookie SERVERID insert indirect", "retries 1", "option redispatch"],
    "forced": ["cookie SERVERID insert indirect", "option redispatch", "force-persist if { hdr(x-force) -m found }",
               "ignore-persist if { path_beg /forced/ign }"],
    "denied": ["cookie SERVERID insert indirect", "http-request deny if { path_beg /denied/no }"],
    "deadforce": ["cookie SERVERID insert indirect", "retries 1", "option redispatch", "force-persist if TRUE"],
}
NO_COOKIE_ON_S3 = ("plain",)  # s3 has no 'cookie' value: insert sends an expired, empty cookie
CHECKED = ("state", "staterd", "persist", "persistrd", "forced")  # 'check' (so 'set server ... health' applies)


def config(port: int, servers: tuple[int, int, int], dead: int, backends: dict = BACKENDS,
           no_cookie_on_s3: tuple = NO_COOKIE_ON_S3) -> str:
    routes, blocks = [], []
    for name, lines in backends.items():
        routes.append(f"    use_backend {name} if {{ path_beg /{name}/ }}")
        block = [f"backend {name}"] + [f"    {line}" for line in lines]
        for i, port_i in enumerate(servers, 1):
            if name.startswith("dead") and i == 2:  # (deadrd, deadforce too)
                port_i = dead
            cookie = "" if (name in no_cookie_on_s3 and i == 3) else f" cookie s{i}"
            check = " check inter 30s" if name in CHECKED else ""
            block.append(f"    server s{i} 127.0.0.1:{port_i}{cookie}{check}")
        blocks.append("\n".join(block))
    return CONFIG.format(port=port, routes="\n".join(routes), backends="\n".join(blocks) + "\n")


# (label, method, path, extra header lines, runtime commands sent just before the request)
STEPS: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    # insert indirect nocache: a new client, then the cookie it got, then one the proxy never gave
    ("ins new", "GET", "/ins/1", "", ()),
    ("ins valid", "GET", "/ins/2", "Cookie: SERVERID=s2\r\n", ()),
    ("ins valid among others", "GET", "/ins/3", "Cookie: a=1; SERVERID=s2; b=2\r\n", ()),
    ("ins valid first", "GET", "/ins/4", "Cookie: SERVERID=s3; theme=dark\r\n", ()),
    ("ins valid last, spaces", "GET", "/ins/5", "Cookie: a=1 ;  SERVERID = s1 , b\r\n", ()),
    ("ins two headers", "GET", "/ins/6", "Cookie: a=1\r\nCookie: SERVERID=s1\r\n", ()),
    ("ins twice", "GET", "/ins/7", "Cookie: SERVERID=s1; SERVERID=s2\r\n", ()),
    ("ins unknown", "GET", "/ins/8", "Cookie: SERVERID=zz\r\n", ()),
    ("ins empty", "GET", "/ins/9", "Cookie: SERVERID=\r\n", ()),
    ("ins dated", "GET", "/ins/10", "Cookie: SERVERID=s3|abcde\r\n", ()),
    ("ins dated, after 2038", "GET", "/ins/28", "Cookie: SERVERID=s2|zzzzz\r\n", ()),
    ("ins dated, future", "GET", "/ins/31", "Cookie: SERVERID=s2|fzzzz\r\n", ()),
    ("ins dated twice", "GET", "/ins/29", "Cookie: SERVERID=s2|zzzzz|zzzzz\r\n", ()),
    ("ins dated, bad", "GET", "/ins/30", "Cookie: SERVERID=s1|ab=de\r\n", ()),
    ("ins $attr", "GET", "/ins/11", "Cookie: $Version=1; SERVERID=s1; $Path=/\r\n", ()),
    ("ins no equal", "GET", "/ins/12", "Cookie: flag; SERVERID=s2; x=1\r\n", ()),
    ("ins post", "POST", "/ins/13", "Content-Length: 0\r\n", ()),
    ("ins head", "HEAD", "/ins/14", "", ()),
    ("ins app no-cache", "GET", "/ins/15", "X-Reply-Cache-Control: no-cache\r\n", ()),
    ("ins app public post", "POST", "/ins/16", "Content-Length: 0\r\nX-Reply-Cache-Control: public\r\n", ()),
    ("ins app max-age", "GET", "/ins/17", "X-Reply-Cache-Control: max-age=60\r\n", ()),
    ("ins app etag", "GET", "/ins/21", "X-Reply-ETag: \"v1\"\r\n", ()),
    ("ins app expires", "GET", "/ins/22", "X-Reply-Expires: Thu, 01 Jan 2099 00:00:00 GMT\r\n", ()),
    ("ins app public", "GET", "/ins/23", "X-Reply-Cache-Control: public\r\n", ()),
    ("ins app public, private", "GET", "/ins/24", "X-Reply-Cache-Control: public, private\r\n", ()),
    ("ins app max-age pragma", "GET", "/ins/25", "X-Reply-Cache-Control: max-age=9\r\nX-Reply-Pragma: no-cache\r\n",
     ()),
    ("ins app max-age=0", "GET", "/ins/26", "X-Reply-Cache-Control: max-age=0, s-maxage=60\r\n", ()),
    ("ins app max-age, 302", "GET", "/ins/27", "X-Reply-Cache-Control: max-age=60\r\nX-Reply-Status: 302\r\n", ()),
    ("ins app sets it", "GET", "/ins/18", "X-Reply-Set-Cookie: SERVERID=app; path=/\r\n", ()),
    ("ins app sets it, direct", "GET", "/ins/19", "Cookie: SERVERID=s1\r\nX-Reply-Set-Cookie: SERVERID=x\r\n", ()),
    ("ins app sets another", "GET", "/ins/20", "X-Reply-Set-Cookie: lang=fr; Path=/\r\n", ()),
    # insert with every attribute; s3 has no cookie value
    ("plain 1", "GET", "/plain/1", "", ()),
    ("plain 2", "GET", "/plain/2", "", ()),
    ("plain 3 no value", "GET", "/plain/3", "", ()),
    ("plain direct, not indirect", "GET", "/plain/4", "Cookie: SRV=s2; x=1\r\n", ()),
    ("plain cookie of a server without one", "GET", "/plain/5", "Cookie: SRV=\r\n", ()),
    # postonly
    ("post get", "GET", "/post/1", "", ()),
    ("post post", "POST", "/post/2", "Content-Length: 2\r\n\r\nab", ()),
    # prefix
    ("pfx app sets", "GET", "/pfx/1", "X-Reply-Set-Cookie: JSESSIONID=abc123; Path=/\r\n", ()),
    ("pfx back", "GET", "/pfx/2", "Cookie: x=1; JSESSIONID=s2~abc123; y=2\r\n", ()),
    ("pfx back, app sets again", "GET", "/pfx/3",
     "Cookie: JSESSIONID=s3~abc\r\nX-Reply-Set-Cookie: JSESSIONID=def; Path=/\r\n", ()),
    ("pfx unknown server", "GET", "/pfx/4", "Cookie: JSESSIONID=nosuch~abc123\r\n", ()),
    ("pfx no tilde", "GET", "/pfx/5", "Cookie: JSESSIONID=abc123\r\n", ()),
    ("pfx app spaces", "GET", "/pfx/6", "X-Reply-Set-Cookie: JSESSIONID = v ; Path=/\r\n", ()),
    ("pfxind direct, app sets", "GET", "/pfxind/1",
     "Cookie: JSESSIONID=s1~abc\r\nX-Reply-Set-Cookie: JSESSIONID=new; Path=/\r\n", ()),
    ("pfxind new, app sets", "GET", "/pfxind/2", "X-Reply-Set-Cookie: JSESSIONID=new; Path=/\r\n", ()),
    # rewrite
    ("rw app sets", "GET", "/rw/1", "X-Reply-Set-Cookie: SID=whatever; Path=/; HttpOnly\r\n", ()),
    ("rw back", "GET", "/rw/2", "Cookie: SID=s2\r\n", ()),
    ("rw app silent", "GET", "/rw/3", "", ()),
    # preserve: the application's own cookie wins
    ("psv app sets", "GET", "/psv/1", "X-Reply-Set-Cookie: SERVERID=; Max-Age=0\r\n", ()),
    ("psv new", "GET", "/psv/2", "", ()),
    # passive: persistence without any header change, and '--' in the log
    ("passive back", "GET", "/passive/1", "Cookie: SERVERID=s3\r\n", ()),
    ("passive app sets", "GET", "/passive/2", "X-Reply-Set-Cookie: SERVERID=s1\r\n", ()),
    # server states, with and without option redispatch / option persist
    ("state down", "GET", "/state/1", "Cookie: SERVERID=s1\r\n", ("set server state/s1 health down",)),
    ("staterd down", "GET", "/staterd/1", "Cookie: SERVERID=s1\r\n", ("set server staterd/s1 health down",)),
    ("persist down", "GET", "/persist/1", "Cookie: SERVERID=s1\r\n", ("set server persist/s1 health down",)),
    ("persistrd down", "GET", "/persistrd/1", "Cookie: SERVERID=s1\r\n",
     ("set server persistrd/s1 health down",)),
    ("state drain", "GET", "/state/2", "Cookie: SERVERID=s2\r\n", ("set server state/s2 state drain",)),
    ("state weight 0", "GET", "/state/3", "Cookie: SERVERID=s3\r\n", ("set server state/s3 weight 0",)),
    ("state back up", "GET", "/state/4", "Cookie: SERVERID=s1\r\n", ("set server state/s1 health up",)),
    ("state maint", "GET", "/state/5", "Cookie: SERVERID=s2\r\n", ("set server state/s2 state maint",)),
    ("persist maint", "GET", "/persist/2", "Cookie: SERVERID=s2\r\n", ("set server persist/s2 state maint",)),
    ("persistrd maint", "GET", "/persistrd/2", "Cookie: SERVERID=s2\r\n",
     ("set server persistrd/s2 state maint",)),
    ("state all down", "GET", "/state/6", "Cookie: SERVERID=s1\r\n", ("set server state/s1 state maint",)),
    ("persist all down", "GET", "/persist/3", "Cookie: SERVERID=s1\r\n",
     ("set server persist/s3 state maint",)),
    # a server that refuses connections: retries, then 503 or (redispatch) another server
    ("dead", "GET", "/dead/1", "Cookie: SERVERID=s2\r\n", ()),
    ("deadrd", "GET", "/deadrd/1", "Cookie: SERVERID=s2\r\n", ()),
    ("deadrd new", "GET", "/deadrd/2", "", ()),
    ("deadforce", "GET", "/deadforce/1", "Cookie: SERVERID=s2\r\n", ()),
    # a request the backend's rules deny: HAProxy reads its cookie all the same, for the log
    ("denied valid", "GET", "/denied/no/1", "Cookie: SERVERID=s1\r\n", ()),
    ("denied unknown", "GET", "/denied/no/2", "Cookie: SERVERID=zz\r\n", ()),
    ("denied none", "GET", "/denied/no/3", "", ()),
    # force-persist / ignore-persist rules
    ("forced down, no rule", "GET", "/forced/1", "Cookie: SERVERID=s1\r\n", ("set server forced/s1 health down",)),
    ("forced down, force-persist", "GET", "/forced/2", "Cookie: SERVERID=s1\r\nX-Force: 1\r\n", ()),
    ("forced maint, force-persist", "GET", "/forced/3", "Cookie: SERVERID=s2\r\nX-Force: 1\r\n",
     ("set server forced/s2 state maint",)),
    ("forced ignore", "GET", "/forced/ign/4", "Cookie: a=1; SERVERID=s3\r\nX-Reply-Set-Cookie: SERVERID=app\r\n", ()),
    ("forced ignore, new", "GET", "/forced/ign/5", "", ()),
]


class CookieServer(Recorder):
    """A recorder that names itself and sends the headers the request asks it for (module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__()

    def answer(self, req: tuple) -> bytes:
        body = f"{self.name} {req[0]} {req[1]}\n".encode("latin-1")
        extra, status = b"", b"200 OK"
        for name, value in req[2]:
            if name == "x-reply-status":
                status = value.encode() + b" Status"
            elif name.startswith("x-reply-"):  # x-reply-set-cookie: V -> Set-Cookie: V
                name = "-".join(w.capitalize() for w in name[8:].split("-"))
                extra += f"{name}: {value}\r\n".encode("latin-1")
        return (b"HTTP/1.1 %s\r\nx-server: %s\r\n%scontent-length: %d\r\n\r\n%s"
                % (status, self.name.encode(), extra, len(body), b"" if req[0] == "HEAD" else body))


def play(port: int, servers: list[CookieServer], proc, steps: list) -> dict:
    """Every step on one balancer: (who answered, what it received, the answer) per label."""
    out = {}
    for label, method, path, extra, commands in steps:
        for command in commands:
            proc.command(command)
        before = [len(s.seen()) for s in servers]
        answer = ask(port, method, path, extra)
        deadline = time.monotonic() + 2  # a request the backend got is recorded before its answer
        while time.monotonic() < deadline and b" 200 " in answer[:13] and \
                [len(s.seen()) for s in servers] == before:
            time.sleep(0.01)
        got = [(s.name, r) for s, n in zip(servers, before) for r in s.seen()[n:]]
        out[label] = (got, answer)
    return out


def ask(port: int, method: str, path: str, extra: str) -> bytes:
    """The bytes the client gets for one request (a connection of its own, closed after the answer)."""
    head, sep, body = extra.partition("\r\n\r\n")  # "Content-Length: 2\r\n\r\nab": a body after the headers
    if sep:
        head += "\r\n"
    text = f"{method} {path} HTTP/1.1\r\nHost: lab\r\n{head}Connection: close\r\n\r\n{body}"
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(text.encode("latin-1"))
        return read_all(s)


def cookie_headers(answer: bytes) -> list[tuple[str, bytes]]:
    """The answer's Set-Cookie and Cache-Control headers, in order: (lower-case name, value bytes)."""
    head = answer.partition(b"\r\n\r\n")[0]
    out = []
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name in (b"set-cookie", b"cache-control"):
            out.append((name.decode(), value.strip()))
    return out
