"""Running ``http-request`` and ``http-response`` rules on a request or a response head, as HAProxy 2.6 does.

How it works. ``run_request(rules, c, req)`` goes through one proxy's request rules in order: a
rule whose condition holds edits ``req`` (headers kept as raw ``b"name: value\\r\\n"`` lines, the
target, the method) or ends the list: ``allow`` stops it (the next proxy's rules still run),
``redirect``, ``return``, ``deny`` and ``tarpit`` answer the request (a ``Reply``; a tarpit's waits). httpclient.py runs the
frontend's list, routes, then the backend's list (never twice for a listen section), as
src/http_ana.c's http_process_req_common does for AN_REQ_HTTP_PROCESS_FE then _BE.
``run_response(rules, c, req, head)`` rewrites a response head (status line and header lines,
without the final blank line), backend's list first, then the frontend's (http_process_res_common).

Conditions are engine/sample Conditions, evaluated on a sample ``Ctx`` of the request (made anew
after each edit, since its fetches cache); values are config/values.py's parts, rendered by
``render`` (literal text, %ci %cp %fi %fp, and ``%[...]`` sample expressions).

Follows src/http_act.c (the actions), src/http_ana.c (http_apply_redirect_rule, http_replace_hdrs,
http_reply_to_htx, http_res_set_status), src/http_htx.c (start-line replacement, header lookup)
and src/http.c (reason phrases, error pages) of HAProxy 2.6; HAProxy is Copyright Willy Tarreau
and contributors, GPL-2.0-or-later.
"""
from __future__ import annotations

import re

from .stick import run_action

STOP = "stop"  # 'allow': this list ends, the request goes on


class Reply:
    """An answer the proxy makes itself: ``kind`` redirect | return | deny | tarpit; header lines without
    ``connection`` (written by ``encode``, which knows whether the client side closes)."""

    __slots__ = ("kind", "status", "head", "body")

    def __init__(self, kind: str, status: int, head: list[bytes], body: bytes = b"") -> None:
        self.kind, self.status, self.head, self.body = kind, status, head, body

    def encode(self, close: bool) -> tuple[bytes, int]:
        """The bytes on the wire, and the size HAProxy's log gives them (its HTX size: header lines
        count their name and value only, plus 15; measured on 2.6.12, the same for every page)."""
        lines = self.head
        data = b"".join(lines) + (b"connection: close\r\n" if close else b"") + b"\r\n" + self.body
        logged = sum(len(x) for x in lines) + 2 + len(self.body) - 4 * (len(lines) - 1) + 15
        return data, logged


# --------------------------------------------------------------------------- conditions and values
def holds(rule, ctx) -> bool:
    """Whether ``rule`` applies: THE one place rule conditions are evaluated (engine/sample's
    Condition on the request as ``ctx``, a sample Ctx, reads it; 'unless' is inside the Condition)."""
    return rule.cond is None or rule.cond.holds(ctx)


def render(fmt: tuple, ctx) -> bytes:
    """A value's parts -> bytes: THE one place log-format values are rendered. Parts are literal
    bytes, a log variable's name (ci, cp, fi, fp: the connection's addresses, from ``ctx``), or a
    sample expression (engine/sample Expr, ``%[...]``) evaluated on ``ctx``."""
    if len(fmt) == 1 and type(fmt[0]) is bytes:
        return fmt[0]
    out = []
    for part in fmt:
        if type(part) is bytes:
            out.append(part)
        elif type(part) is str:
            value = {"ci": ctx.src, "cp": ctx.sport, "fi": ctx.dst, "fp": ctx.dport}[part]
            out.append(b"" if value is None else str(value).encode("latin-1", "replace"))
        else:
            v = part.value(ctx)
            out.append(b"" if v is None else str(int(v) if isinstance(v, bool) else v).encode("latin-1", "replace"))
    return b"".join(out)


# --------------------------------------------------------------------------- headers
def _split(line: bytes) -> tuple[bytes, bytes]:
    name, _, value = line.partition(b":")
    return name.strip().lower(), value.strip(b" \t\r\n")


def _name_matches(rule, name: bytes) -> bool:
    m, want = rule.match, rule.name
    if m == "str":
        return name == want
    if m == "beg":
        return name.startswith(want)
    if m == "end":
        return name.endswith(want)
    if m == "sub":
        return want in name
    return re.search(rule.regex.encode("utf-8"), name) is not None  # 'reg': the name as written, cased


def _expand(fmt: bytes, m: re.Match) -> bytes:
    r"""src/regex.c exp_replace: the output is the format, with \N replaced by group N."""
    out = bytearray()
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == 0x5C and i + 1 < len(fmt):  # backslash
            nxt = fmt[i + 1]
            if 0x30 <= nxt <= 0x39:
                g = nxt - 0x30
                if g <= (m.re.groups or 0) and m.group(g) is not None:
                    out += m.group(g)
                i += 2
                continue
            if nxt == 0x78 and i + 3 < len(fmt):  # \xHH
                out.append(int(fmt[i + 2:i + 4], 16))
                i += 4
                continue
            out.append(nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return bytes(out)


def edit_headers(rule, headers: list[bytes], ctx) -> None:
    """set/add/del/replace-header and replace-value on a list of header lines (in place)."""
    action = rule.action
    if action in ("set-header", "add-header"):
        if action == "set-header":
            headers[:] = [h for h in headers if _split(h)[0] != rule.name]
        headers.append(b"%s: %s\r\n" % (rule.name, render(rule.value, ctx)))
    elif action == "del-header":
        if rule.match == "reg":
            headers[:] = [h for h in headers if not _name_matches(rule, h.partition(b":")[0].strip())]
        else:
            headers[:] = [h for h in headers if not _name_matches(rule, _split(h)[0])]
    else:  # replace-header (the whole value) / replace-value (each comma-separated value)
        rx = re.compile(rule.regex.encode("utf-8"))
        fmt = render(rule.value, ctx)
        for k, line in enumerate(headers):
            name, value = _split(line)
            if name != rule.name:
                continue
            # replace-value: each comma-separated value; a replaced one loses the blanks around it,
            # the others stay as written (http_replace_header_value on each value HAProxy finds)
            parts = [value] if rule.action == "replace-header" else value.split(b",")
            out, changed = [], False
            for v in parts:
                m = rx.search(v.strip(b" \t"))
                if m is None:
                    out.append(v)
                else:
                    out.append(_expand(fmt, m))
                    changed = True
            if changed:
                headers[k] = b"%s: %s\r\n" % (line.partition(b":")[0], b",".join(out))


# --------------------------------------------------------------------------- the request line
def _path_span(url: bytes) -> tuple[int, int]:
    """(start, end) of the path in a target: after scheme://authority, up to the '?'."""
    start = 0
    if url[:1] != b"/":
        i = url.find(b"://")
        if i > 0:
            j = url.find(b"/", i + 3)
            q = url.find(b"?", i + 3)
            start = len(url) if j < 0 else j
            if 0 <= q < start:
                start = q
    q = url.find(b"?", start)
    return start, len(url) if q < 0 else q


def edit_line(rule, req, ctx) -> None:
    """set-path/-pathq/-query/-uri/-method and replace-path/-pathq/-uri (http_req_replace_stline)."""
    action, url = rule.action, req.url
    if req.orig is None:  # the log shows the request line as it came (HAProxy captures it first)
        req.orig = (req.method, url)
    if action == "set-method":
        req.method = render(rule.value, ctx)
        return
    if action == "set-uri":
        req.url = render(rule.value, ctx)
        return
    start, end = _path_span(url)
    if action == "set-path":
        req.url = url[:start] + render(rule.value, ctx) + url[end:]
    elif action == "set-pathq":
        req.url = url[:start] + render(rule.value, ctx)
    elif action == "set-query":
        query = render(rule.value, ctx)
        if end < len(url):  # a '?' exists: keep it, replace what follows (even with nothing)
            req.url = url[:end + 1] + query
        elif query:
            req.url = url + b"?" + query
    else:  # replace-path (the path) / replace-pathq (path and query) / replace-uri (the whole target)
        rx = re.compile(rule.regex.encode("utf-8"))
        part = url[start:end] if action == "replace-path" else url[start:] if action == "replace-pathq" else url
        m = rx.search(part)
        if m is None:
            return
        new = _expand(render(rule.value, ctx), m)
        if action == "replace-path":
            req.url = url[:start] + new + url[end:]
        elif action == "replace-pathq":
            req.url = url[:start] + new
        else:
            req.url = new
    req.data = None


# --------------------------------------------------------------------------- answers
_REASONS = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 200: "OK", 201: "Created", 202: "Accepted",
    203: "Non-Authoritative Information", 204: "No Content", 205: "Reset Content", 206: "Partial Content",
    207: "Multi-Status", 210: "Content Different", 226: "IM Used", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 303: "See Other", 304: "Not Modified", 305: "Use Proxy",
    307: "Temporary Redirect", 308: "Permanent Redirect", 310: "Too many Redirects", 400: "Bad Request",
    401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Time-out", 409: "Conflict",
    410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type", 416: "Requested range unsatisfiable",
    417: "Expectation failed", 418: "I'm a teapot", 421: "Misdirected Request", 422: "Unprocessable Content",
    423: "Locked", 424: "Method failure", 425: "Too Early", 426: "Upgrade Required", 428: "Precondition Required",
    429: "Too Many Requests", 431: "Request Header Fields Too Large", 449: "Retry With",
    450: "Blocked by Windows Parental Controls", 451: "Unavailable For Legal Reasons", 456: "Unrecoverable Error",
    499: "client has closed connection", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway or Proxy Error", 503: "Service Unavailable", 504: "Gateway Time-out",
    505: "HTTP Version not supported", 506: "Variant also negotiate", 507: "Insufficient storage",
    508: "Loop detected", 509: "Bandwidth Limit Exceeded", 510: "Not extended",
    511: "Network authentication required", 520: "Web server is returning an unknown error"}
_CLASS_REASONS = {1: "Informational", 2: "Success", 3: "Redirection", 4: "Client Error", 5: "Server Error"}
# src/http.c http_err_msgs: the default pages of deny (and of return without a payload of its own)
_PAGES = {
    200: ("OK", "Service ready."), 400: ("Bad request", "Your browser sent an invalid request."),
    401: ("Unauthorized", "You need a valid user and password to access this content."),
    403: ("Forbidden", "Request forbidden by administrative rules."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", "A request was made of a resource using a request method not supported by "
          "that resource"),
    407: ("Unauthorized", "You need a valid user and password to access this content."),
    408: ("Request Time-out", "Your browser didn't send a complete request in time."),
    410: ("Gone", "The resource is no longer available and will not be available again."),
    413: ("Payload Too Large", "The request entity exceeds the maximum allowed."),
    421: ("Misdirected Request", "Request sent to a non-authoritative server."),
    422: ("Unprocessable Content", "The server cannot process the contained instructions."),
    425: ("Too Early", "Your browser sent early data."),
    429: ("Too Many Requests", "You have sent too many requests in a given amount of time."),
    500: ("Internal Server Error", "An internal server error occurred."),
    501: ("Not Implemented", "The server does not support the functionality required to fulfill the request."),
    502: ("Bad Gateway", "The server returned an invalid or incomplete response."),
    503: ("Service Unavailable", "No server is available to handle this request."),
    504: ("Gateway Time-out", "The server didn't respond in time."),
}


def reason(status: int) -> bytes:
    """src/http.c http_get_reason."""
    return (_REASONS.get(status) or _CLASS_REASONS.get(status // 100, "Other")).encode()


def error_page(kind: str, status: int) -> Reply:
    title, text = _PAGES[status]
    body = f"<html><body><h1>{status} {title}</h1>\n{text}\n</body></html>\n".encode()
    head = [b"HTTP/1.1 %d %s\r\n" % (status, title.encode()), b"content-length: %d\r\n" % len(body),
            b"cache-control: no-cache\r\n", b"content-type: text/html\r\n"]
    return Reply(kind, status, head, body)


def reply(rule, ctx, kind: str) -> Reply:
    """return / deny: the error page of the status, or status, hdr lines, content-length, content-type, body."""
    if rule.match == "errorpage":
        return error_page(kind, rule.status)
    body = render(rule.body, ctx) if rule.body is not None else b""
    head = [b"HTTP/1.1 %d %s\r\n" % (rule.status, reason(rule.status))]
    for name, fmt in rule.hdrs:
        value = render(fmt, ctx)
        if value:
            head.append(b"%s: %s\r\n" % (name, value))
    head.append(b"content-length: %d\r\n" % len(body))
    if body and rule.ctype:
        head.append(b"content-type: %s\r\n" % rule.ctype)
    return Reply(kind, rule.status, head, body)


_REDIRECT_REASONS = {301: b"Moved Permanently", 302: b"Found", 303: b"See Other", 307: b"Temporary Redirect",
                     308: b"Permanent Redirect"}


def redirect(rule, req, ctx) -> Reply | None:
    """http_apply_redirect_rule: the Location built from the rule and the request (None: ignore-empty)."""
    kind = rule.match
    dest = render(rule.value, ctx) if rule.value else b""
    if kind == "location":
        if not dest and "ignore-empty" in rule.flags:
            return None
        location = dest
    else:
        url = req.url
        start = _path_span(url)[0]
        path = url[start:] or b"/"
        if "drop-query" in rule.flags:
            path = path.split(b"?", 1)[0]
        location = dest + b"://" + (req.host or b"") + path if kind == "scheme" else dest + path
        if location and location[-1:] != b"/" and "append-slash" in rule.flags:
            location += b"/"
    code = rule.status
    head = [b"HTTP/1.1 %d %s\r\n" % (code, _REDIRECT_REASONS[code]), b"content-length: 0\r\n",
            b"location: %s\r\n" % location]
    if code in (302, 303, 307):
        head.append(b"cache-control: no-cache\r\n")
    if rule.cookie:
        head.append(b"set-cookie: %s\r\n" % rule.cookie)
    return Reply("redirect", code, head)


# --------------------------------------------------------------------------- the lists
def run_request(rules: tuple, c, req) -> Reply | str | None:
    """One proxy's http-request rules on ``req`` (client connection ``c``): a Reply ends the
    request, STOP ends the list. The sample context is made anew after each edit (its fetches cache)."""
    ctx = c.sample_ctx(req)
    for rule in rules:
        if rule.cond is not None and not rule.cond.holds(ctx):
            continue
        action = rule.action
        if action in ("set-header", "add-header", "del-header", "replace-header", "replace-value"):
            edit_headers(rule, req.headers, ctx)
            if rule.name == b"host" or rule.match != "str":
                req.host = _host(req.headers)
            req.data = None
        elif action == "redirect":
            answer = redirect(rule, req, ctx)
            if answer is not None:
                return answer
            continue
        elif action in ("deny", "tarpit"):  # (a tarpit's answer waits: intercept.py)
            return reply(rule, ctx, action)
        elif action == "return":
            return reply(rule, ctx, "return")
        elif action == "allow":
            return STOP
        elif rule.stick:  # track-scN, sc-inc-gpc0/1 (stick.py)
            run_action(c, rule, ctx)
            continue
        else:
            edit_line(rule, req, ctx)
        ctx = c.sample_ctx(req)
    return None


def _host(headers: list[bytes]) -> bytes | None:
    for h in headers:
        name, value = _split(h)
        if name == b"host":
            return value
    return None


def run_response(rules: tuple, c, req, status_line: bytes, headers: list[bytes]) -> tuple[bytes, Reply | None]:
    """One proxy's http-response rules on a response head; returns the (maybe new) status line and,
    when ``deny`` or ``return`` replaces the answer, that Reply. 'allow' ends the list. Conditions
    and values read the request and the response (res.hdr, status ...), as each rule leaves it."""
    ctx = c.sample_ctx(req).response(int(status_line.split(b" ", 2)[1]), headers)
    for rule in rules:
        if rule.cond is not None and not rule.cond.holds(ctx):
            continue
        action = rule.action
        if action == "set-status":
            why = rule.reason[0] if rule.reason else reason(rule.status)
            status_line = b"%s %d %s\r\n" % (status_line.split(b" ", 1)[0], rule.status, why)
            ctx.response(rule.status, headers)
        elif action == "deny":
            return status_line, reply(rule, ctx, "deny")
        elif action == "return":
            return status_line, reply(rule, ctx, "return")
        elif action == "allow":
            break
        else:
            edit_headers(rule, headers, ctx)
            ctx.response(ctx.res[0], headers)
    return status_line, None
