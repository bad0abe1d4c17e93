"""http-request / http-response rules: one configuration that uses every action the engine carries out, the
requests that exercise them (``CASES``), and rule lines HAProxy refuses or warns about (``BAD_RULES``).

``config(port, rec)`` puts a frontend on ``port`` whose backends all forward to the recording backend on
``rec`` (support.recorder.Recorder), so a test sees, for each request, the answer the client got and what
the backend received. ``ask(port, case)`` sends one case on a connection of its own.
"""
from __future__ import annotations

import socket

from support.recorder import read_all

TIMEOUT = 5.0

CONFIG = r"""global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    acl api path_beg /api
    acl inside hdr(host) -i internal
    http-request redirect location /moved code 301 if {{ path /old }}
    http-request redirect location http://lab/from/%ci if {{ path /where }}
    http-request redirect prefix /new if {{ path_beg /pre }}
    http-request redirect prefix / drop-query if {{ path_beg /self }}
    http-request redirect scheme https code 308 if {{ path_beg /sch }}
    http-request redirect scheme https drop-query append-slash if {{ path_beg /slash }}
    http-request redirect location /c code 303 set-cookie SEEN=1 if {{ path /cookie }}
    http-request redirect location /c code 307 clear-cookie SEEN if {{ path /clear }}
    http-request deny if {{ path_beg /admin }} !inside
    http-request deny deny_status 429 if {{ path /busy }}
    http-request deny deny_status 503 content-type text/plain string "go away" hdr X-Why rules if {{ path /gone }}
    http-request return status 200 content-type text/plain string pong hdr X-Who lab if {{ path /ping }}
    http-request return status 404 if {{ path /nothing }}
    http-request return status 200 content-type application/json lf-string "{{\"client\":\"%ci\"}}" if {{ path /whoami }}
    http-request return if {{ path /empty }}
    http-request allow if {{ path_beg /allowed }}
    http-request deny if {{ path_beg /allowed }}
    http-request set-header X-Forwarded-Proto http
    http-request add-header X-Multi one
    http-request add-header X-Multi two
    http-request set-header X-Client %ci
    http-request del-header X-Remove-Me
    http-request del-header X-Pre- -m beg
    http-request del-header secret -m sub
    http-request del-header -token$ -m reg
    http-request replace-header User-Agent ^curl/(.*) robot/\1
    http-request replace-value X-List ^b$ B
    http-request replace-path /api/v1/(.*) /api/v2/\1
    http-request replace-path v1 /v9 if {{ path_beg /partial }}
    http-request set-path /rewritten if {{ path /setme }}
    http-request set-query lang=en if {{ path_beg /q }}
    http-request set-query %[ssl_c_s_dn] if {{ path_beg /never }}
    http-request set-header X-Path-Upper %[path,upper] if {{ path_beg /expr }}
    http-request set-uri /full?uri=1 if {{ path /uri }}
    http-request set-method PUT if {{ path /put }}
    http-request set-header Host api.lab if {{ path_beg /hostswap }}
    http-request set-header X-Unless yes unless {{ path_beg /api }}
    http-response add-header X-Order frontend
    http-response set-header X-Frontend fe
    use_backend api if {{ hdr(host) api.lab }}
    use_backend api if api
    use_backend status if {{ path_beg /status }}
    use_backend rdeny if {{ path_beg /rdeny }}
    use_backend rreturn if {{ path_beg /rreturn }}
    default_backend web
backend web
    http-request set-header X-Backend web
    http-request deny if {{ path /web-deny }}
    http-request redirect location /elsewhere if {{ path /web-redirect }}
    http-response add-header X-Order backend
    http-response del-header X-Drop-Me
    server s1 127.0.0.1:{rec}
backend api
    http-request set-header X-Backend api
    http-request return status 200 content-type text/plain string "api says hi" if {{ path /api/hello }}
    http-response replace-value X-Order ^frontend$ never
    server s1 127.0.0.1:{rec}
backend status
    http-response set-status 418 reason "Short and stout"
    http-response allow
    http-response set-header X-Not-Reached 1
    server s1 127.0.0.1:{rec}
backend rdeny
    http-response deny
    server s1 127.0.0.1:{rec}
backend rreturn
    http-response return status 202 content-type text/plain string accepted
    server s1 127.0.0.1:{rec}
"""


def config(port: int, rec: int) -> str:
    return CONFIG.format(port=port, rec=rec)


# (name, method, target, extra header lines)
CASES: list[tuple[str, str, str, str]] = [
    ("plain", "GET", "/", ""),
    ("redirect location 301", "GET", "/old", ""),
    ("redirect location with %ci", "GET", "/where", ""),
    ("redirect prefix keeps the query", "GET", "/pre/a/b?x=1&y=2", ""),
    ("redirect prefix / drop-query", "GET", "/self/page?x=1", ""),
    ("redirect scheme 308", "GET", "/sch/x?q=1", ""),
    ("redirect scheme drop-query append-slash", "GET", "/slash/x?q=1", ""),
    ("redirect set-cookie 303", "GET", "/cookie", ""),
    ("redirect clear-cookie 307", "GET", "/clear", ""),
    ("deny 403", "GET", "/admin/users", ""),
    ("deny skipped by a negated named acl", "GET", "/admin/users", "Host2: x\r\n"),
    ("deny_status 429", "GET", "/busy", ""),
    ("deny with a body", "GET", "/gone", ""),
    ("return string and hdr", "GET", "/ping", ""),
    ("return 404 without payload", "GET", "/nothing", ""),
    ("return lf-string", "GET", "/whoami", ""),
    ("return with nothing", "GET", "/empty", ""),
    ("allow stops the list", "GET", "/allowed/x", ""),
    ("header edits", "GET", "/h", "X-Remove-Me: 1\r\nX-Pre-A: 1\r\nx-pre-b: 2\r\nX-Keep: 1\r\nMy-Secret-Id: 3\r\n"
     "X-Csrf-token: 4\r\nX-Forwarded-Proto: https\r\nUser-Agent: curl/8.1\r\nX-List: a, b, c\r\nX-List: b\r\n"
     "X-List: b ,b,  c\r\n"),
    ("replace-header without a match", "GET", "/h2", "User-Agent: Mozilla/5.0\r\n"),
    ("replace-path versions", "GET", "/api/v1/users?id=7", ""),
    ("replace-path replaces the whole path", "GET", "/partial/v1/x?k=v", ""),
    ("set-path keeps the query", "GET", "/setme?a=1", ""),
    ("set-query replaces", "GET", "/q/x?old=1", ""),
    ("set-query adds", "GET", "/q/x", ""),
    ("set-uri", "GET", "/uri", ""),
    ("set-method", "GET", "/put", ""),
    ("a rewritten Host routes", "GET", "/hostswap", ""),
    ("a sample expression in a value", "GET", "/expr/a?b=1", ""),
    ("backend rules after routing", "GET", "/api/x", ""),
    ("backend return", "GET", "/api/hello", ""),
    ("backend deny", "GET", "/web-deny", ""),
    ("backend redirect", "GET", "/web-redirect", ""),
    ("set-status with reason, allow", "GET", "/status", ""),
    ("http-response deny", "GET", "/rdeny", ""),
    ("http-response return", "GET", "/rreturn", ""),
    ("keep-alive redirect", "GET", "/old", "KEEP"),
    ("keep-alive deny", "GET", "/busy", "KEEP"),
    ("keep-alive forwarded, response rules", "GET", "/status", "KEEP"),
    ("HEAD redirect", "HEAD", "/old", ""),
]


def ask(port: int, case: tuple[str, str, str, str]) -> bytes:
    """The bytes the client gets for one case (one connection; Connection: close unless KEEP)."""
    _, method, target, extra = case
    keep = extra == "KEEP"
    extra = "" if keep else extra
    host = "internal" if "Host2" in extra else "lab"
    extra = "" if "Host2" in extra else extra
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}" + ("" if keep else "Connection: close\r\n")
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall((head + "\r\n").encode("latin-1"))
        if keep:  # the answer, then the connection must stay open: a second request still gets one
            data = _one(s)
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
            return data + b"||" + read_all(s)
        return read_all(s)


def _one(s: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = [int(x.split(b":", 1)[1]) for x in head.split(b"\r\n")[1:] if x.lower().startswith(b"content-length:")]
    while length and len(body) < length[0]:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


# rule lines (in a frontend 'fe' with 'default_backend be'): HAProxy's message for each, checked
# against haproxy -c by tests/differential/test_actions.py and pinned for the engine in tests/engine
BAD_RULES: list[tuple[str, str]] = [
    ("http-request frobnicate", "'http-request' expects 'wait-for-handshake', "),
    ("http-request redirect", "redirection type expected ('prefix', 'location', or 'scheme')."),
    ("http-request redirect location", "missing argument for 'location'."),
    ("http-request redirect foo /x", "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', "),
    ("http-request redirect location /x code 300", "'code': unsupported HTTP code '300' "),
    ("http-request redirect location /x code abc", "'code': unsupported HTTP code 'abc' "),
    ("http-request redirect location /x if nope", "no such ACL : 'nope'"),
    ("http-request redirect scheme https code", "missing argument for 'code'."),
    ("http-request set-header", "expects exactly 2 arguments."),
    ("http-request set-header X-A", "expects exactly 2 arguments."),
    ("http-request add-header X-A", "expects exactly 2 arguments."),
    ("http-request set-header X-A b foo", "expects either 'if' or 'unless' followed by a condition but found 'foo'."),
    ("http-request set-header X-A b if nope", "no such ACL : 'nope'."),
    ("http-request set-header X-A %zz", "no such format variable 'zz'."),
    ("http-request del-header", "expects at least 1 argument."),
    ("http-request del-header X -m foo", "-m with unsupported matching method 'foo'."),
    ("http-request del-header X -m", "-m flag expects exactly 1 argument."),
    ("http-request replace-header X", "expects exactly 3 arguments."),
    ("http-request replace-header X a( b", "regex 'a(' is invalid (error=missing closing parenthesis, erroffset=2)."),
    ("http-request replace-value X a) b", "regex 'a)' is invalid"),
    ("http-request set-path", "expects exactly 1 argument <format>."),
    ("http-request set-query", "expects exactly 1 argument <format>."),
    ('http-request set-query ""', "expects exactly 1 argument <format>."),
    ("http-request set-path /a b", "expects exactly 1 argument <format>."),
    ("http-request replace-path a b c", "expects exactly 2 arguments <match-regex> and <replace-format>."),
    ("http-request replace-header X a b c", "found 'c'."),
    ('http-request set-header "" b', "expects exactly 2 arguments."),
    ('http-request redirect location ""', "missing argument for 'location'."),
    ("http-request set-uri", "expects exactly 1 argument <format>."),
    ("http-request set-method", "expects exactly 1 argument <format>."),
    ("http-request replace-path x(", "expects exactly 2 arguments <match-regex> and <replace-format>."),
    ("http-request replace-path x( y", "failed to parse the regex : regex 'x(' is invalid"),
    ("http-request return status 999", "Unexpected status code '999'."),
    ("http-request return status abc", "Unexpected status code '0'."),
    ("http-request return string", "'string' expects <str> as argument."),
    ("http-request return string x", "a content type must be defined when non-empty payload is configured."),
    ("http-request return status 204 content-type text/plain string x", "No body expected for 204 responses."),
    ("http-request return lf-string x", "a content type must be defined with a log-format payload."),
    ("http-request return string a string b", "unexpected 'string' argument, 'string' already defined."),
    ("http-request return foo", "expects either 'if' or 'unless' followed by a condition but found 'foo'."),
    ("http-request return file /nonexistent/file", "error opening file '/nonexistent/file'."),
    ("http-request deny deny_status 999", "Unexpected status code '999'."),
    ("http-request deny deny_status 418", "status code '418' not handled by default with 'default-errorfiles'"),
    ("http-request deny deny_status", "'status' expects <status_code> as argument."),
    ("http-request deny foo", "expects either 'if' or 'unless' followed by a condition but found 'foo'."),
    ("http-request allow foo", "expects either 'if' or 'unless' followed by a condition but found 'foo'."),
    ("http-request use-service foo", "'foo' unknown service name.."),
    ("http-response frob", "'http-response' expects 'ot-group', "),
    ("http-response set-status", "expects 1 argument: <status>; or 3 arguments: <status> reason <fmt>."),
    ("http-response set-status 99", "expects an integer status code between 100 and 999."),
    ("http-response set-status abc", "expects an integer status code between 100 and 999."),
    ("http-response set-status 200 reason", "found 'reason'."),
    ("http-response redirect prefix /x", "response only supports redirect type 'location'."),
    ("http-response deny deny_status 200 foo", "found 'foo'."),
]

# valid lines that get a warning from HAProxy itself (the engine must print the same)
WARNED_RULES: list[str] = [
    "http-request deny\n    http-request set-header A b",
    "http-request return status 200 hdr Content-Length 3",
    "http-request return content-type text/plain",
    "acl p path_beg /x\n    http-response set-header A b if p",
    "http-response set-header A b if { hdr(host) x }",
    "http-response set-header A b if { path_beg /x } || TRUE",
]


def rule_config(line: str, port: int = 14999) -> str:
    return ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
            f"frontend fe\n    bind 127.0.0.1:{port}\n    {line}\n    default_backend be\n"
            "backend be\n    server s1 127.0.0.1:1\n")


# a listen section: its rules run once (it is its own backend); an empty 'if' never holds
LISTEN = """defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen li
    bind 127.0.0.1:{port}
    http-request add-header X-Once 1
    http-request add-header X-Empty-If 1 if
    http-response add-header X-Once 1
    server s1 127.0.0.1:{rec}
"""

# whole files: the rules of a tcp proxy are ignored with a warning (even one handing over to an http backend)
MODE_CONFIGS: list[str] = [
    "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend ft\n    mode tcp\n"
    "    bind 127.0.0.1:14998\n    http-request set-header A b\n    http-response set-header A b\n"
    "    default_backend bt\nbackend bt\n    mode tcp\n    server s1 127.0.0.1:1\n",
    "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend ft\n    mode tcp\n"
    "    bind 127.0.0.1:14998\n    http-request set-header A b\n    default_backend bh\nbackend bh\n"
    "    mode http\n    http-response set-header A b\n    server s1 127.0.0.1:1\n",
]
