"""Sample fetches: what a rule reads from a request, as HAProxy 2.6 reads it.

Follows src/http_fetch.c (path, url, query, base, method, hdr, hdr_cnt, hdr_val, url_param, req.ver,
the cookie fetches req.cook/res.cook (smp_fetch_cookie, src/http.c http_extract_cookie_value), the
response's res.hdr and status),
src/tcp_sample.c (src, src_port, dst, dst_port) and src/sample.c (str, int, bool, always_true/false);
the fetches on the raw bytes of a mode tcp connection (req.ssl_sni ...) are in ``clienthello``.

How it works: a ``Ctx`` wraps one request (the client connection's addresses and the parsed ``Req``)
and computes each fetch at most once, when a rule first asks for it. A fetch returns a list of values
(``[]``: no sample), because in an ACL ``hdr(host)`` tries every occurrence of the header until one
matches, where a sample expression (``%[req.hdr(host)]``) takes one (the last). Values are ``str``
(decoded as latin-1, byte for byte), ``int`` or ``bool``; an address stays a ``str``. A rule that runs
on a response (``stick store-response``, http-response) sets ``res``: the response's status and header
lines, which the response fetches read (without it they find no sample); ``hdr`` and ``cookie`` read the
response there as HAProxy's do (SMP_OPT_DIR_RES).
"""
from __future__ import annotations

import ipaddress
import os
import re
from typing import Callable

from ..sticktable import sc_fetch, src_fetch
from . import clienthello
from .keywords import FETCHES

Values = list  # of str | int | bool


class Ctx:
    """One request as the fetches see it (built when the first rule needs it)."""

    __slots__ = ("req", "src", "sport", "dst", "dport", "conn", "fe_name", "_cache", "payload", "final",
                 "may_change", "res")

    def __init__(self, req, src: str | None, sport: int | None, dst: str | None = None, dport: int | None = None,
                 conn=None, fe_name: str = "", payload: bytes | None = None, final: bool = True) -> None:
        # conn: the client connection, for its TLS state (``.ssl_object``, ``.sni``; proxy/session.py)
        self.req, self.src, self.sport, self.dst, self.dport, self.conn = req, src, sport, dst, dport, conn
        self.fe_name = fe_name  # the frontend the request arrived on
        self._cache: dict = {}
        # mode tcp: the bytes the client sent so far (None in mode http, where HAProxy's payload fetches
        # find no sample); final: no more will be waited for (SMP_OPT_FINAL); may_change: a payload fetch
        # said more bytes could change its answer (SMP_F_MAY_CHANGE; acl.py resets and reads it)
        self.payload, self.final, self.may_change = payload, final, False
        self.res: tuple | None = None  # (status, header lines as bytes) when a rule runs on a response

    def response(self, status: int, lines: list[bytes]) -> "Ctx":
        """Rules now read this response (its header lines as bytes, 'name: value'), read anew after a
        rule changed it."""
        self.res = (status, lines)
        for key in [k for k in self._cache if isinstance(k, tuple) and k[-1] is True]:
            del self._cache[key]
        return self

    def ssl_object(self):
        return None if self.conn is None else self.cached("ssl", lambda: self.conn.ssl_object)

    def sni(self) -> str | None:
        return None if self.conn is None else self.cached("sni", lambda: self.conn.sni)

    @classmethod
    def of(cls, method: str, host: str | None, path: str, src: str = "127.0.0.1",
           headers: tuple[tuple[str, str], ...] = ()) -> "Ctx":
        """A request made up from its parts (the course's routing explainer asks with these)."""
        req = _MadeUp(method, host, path, headers)
        return cls(req, src, 50000, "127.0.0.1", 80)

    # ----- the request's parts, computed once
    def cached(self, key, compute: Callable[[], object]):
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = compute()
            return value

    def url(self) -> str:
        return self.cached("url", lambda: self.req.url.decode("latin-1"))

    def path(self) -> str | None:
        """http_get_path: the target without scheme://authority, up to the '?'; None for '*'."""
        def compute():
            url = self.url()
            i = url.find("://")
            if i > 0 and "/" not in url[:i]:
                rest = url[i + 3:]
                j = rest.find("/")
                if j < 0:
                    return None
                url = rest[j:]
            if not url.startswith("/"):
                return None
            return url.split("?", 1)[0]
        return self.cached("path", compute)

    def headers(self, res: bool = False) -> list[tuple[str, str]]:
        """(lower-cased name, value) for every header line, in order (``res``: the response's)."""
        def compute():
            out = []
            for line in (self.res[1] if res else self.req.headers):
                name, _, value = line.decode("latin-1").partition(":")
                out.append((name.strip().lower(), value.strip()))
            return out
        return self.cached(("headers", res), compute)

    def header_values(self, name: str | None, split: bool = True, res: bool = False) -> list[str]:
        """Every value of header ``name`` (all headers when None); ``split``: comma-separated values apart,
        as http_find_header does for hdr() (not for fhdr()); ``res``: the response's (none without one)."""
        if res and self.res is None:
            return []
        key = ("hv", name, split, res)

        def compute():
            out = []
            for n, v in self.headers(res):
                if name is None or n == name:
                    out.extend(p.strip() for p in _split_values(v)) if split else out.append(v)
            return out
        return self.cached(key, compute)


def _split_values(v: str) -> list[str]:
    """A header's comma-separated values, a comma inside a quoted string (with its backslash pairs) kept
    (http_find_hdr_value_end)."""
    if '"' not in v:
        return v.split(",")
    out, start, quoted, qdpair = [], 0, False, False
    for i, c in enumerate(v):
        if qdpair:
            qdpair = False
        elif quoted:
            if c == "\\":
                qdpair = True
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == ",":
            out.append(v[start:i])
            start = i + 1
    out.append(v[start:])
    return out


class _MadeUp:
    """A request built from parts, shaped like proxy.request.Req for the fetches."""

    def __init__(self, method: str, host: str | None, path: str, headers: tuple[tuple[str, str], ...]) -> None:
        self.method = method.encode("latin-1")
        self.url = path.encode("latin-1")
        self.version = b"1.1"
        lines = ([f"host: {host}\r\n"] if host is not None else []) + [f"{k}: {v}\r\n" for k, v in headers]
        self.headers = [x.encode("latin-1") for x in lines]


def _occurrence(values: list[str], occ: int | None, in_acl: bool) -> list[str]:
    """hdr()'s occurrence: all of them in an ACL (unless given), else the last; 1 = first, -1 = last."""
    if occ is None:
        return values if in_acl else values[-1:]
    if occ == 0:
        return values
    if occ > 0:
        return values[occ - 1:occ]
    return values[occ:len(values) + occ + 1] if -occ <= len(values) else []


def _query(ctx: Ctx) -> str | None:
    url = ctx.url()
    i = url.find("?")
    return None if i < 0 else url[i + 1:]


def _url_params(ctx: Ctx, name: str | None, delim: str) -> list[str]:
    """url_param(name[,delim]) as smp_fetch_url_param: the list starts after the first ``delim`` of the
    URI ('?' by default) and a parameter ends at '&', ';' or ``delim`` (is_param_delimiter); the values
    of ``name`` (compared case-sensitively), or of every parameter that has one without a name."""
    url = ctx.url()
    delim = delim[:1] or "?"
    i = url.find(delim)
    if i < 0:
        return []
    out = []
    for part in re.split("[&;" + re.escape(delim) + "]", url[i + 1:]):
        key, eq, value = part.partition("=")
        if eq and (name is None or key == name):
            out.append(value)
    return out


def strl2ic(text: str) -> int | None:
    """strl2ic: the leading decimal integer of a header value, as HAProxy reads it."""
    text = text.strip()
    sign, i = 1, 0
    if text[:1] in "+-" and text:
        sign, i = (-1 if text[0] == "-" else 1), 1
    digits = ""
    while i < len(text) and text[i].isdigit() and text[i].isascii():
        digits += text[i]
        i += 1
    return sign * int(digits) if digits else 0


# name -> function(ctx, args, in_acl) -> list of values
def _hdr(ctx, args, in_acl):
    if not args:  # 'hdr' without parentheses finds no sample; 'hdr()' (an empty name) reads every header
        return []
    return _occurrence(ctx.header_values(args[0].lower() if args and args[0] else None), _arg_int(args, 1), in_acl)


def _res_hdr(ctx, args, in_acl):
    """res.hdr / shdr: hdr() on the response."""
    if not args:
        return []
    return _occurrence(ctx.header_values(args[0].lower() if args[0] else None, res=True), _arg_int(args, 1),
                       in_acl)


def _hdr_dir(ctx, args, in_acl):
    """The sample fetch ``hdr``: the request's header, or the response's in a rule on the response."""
    return (_res_hdr if ctx.res is not None else _hdr)(ctx, args, in_acl)


def _status(ctx, args, in_acl):
    return [] if ctx.res is None else [ctx.res[0]]


def cookie_value(value: str, name: str, is_list: bool, start: int = 0) -> tuple[str, int] | None:
    """http_extract_cookie_value: the value of cookie ``name`` in one Cookie (``is_list``) or Set-Cookie
    header value, searched from ``start``; (value, where to go on from) or None. Names compare exactly;
    '$' attributes and cookies without '=' are skipped; a Set-Cookie has its cookie first, then attributes."""
    from ..proxy.cookies import value_end  # http_find_cookie_value_end (its one home; imported late: no cycle)
    buf = value.encode("latin-1")
    key = name.encode("latin-1")
    end, att_beg = len(buf), start
    while att_beg + len(key) + 1 < end:
        while att_beg < end and buf[att_beg] in (32, 9):
            att_beg += 1
        equal = att_end = att_beg
        while equal < end:
            c = buf[equal]
            if c == 61 or c == 59 or (is_list and c == 44):  # '=' ';' ','
                break
            equal += 1
            if c in (32, 9):
                continue
            att_end = equal
        if equal < end and buf[equal] == 61:
            val_beg = equal + 1
            while val_beg < end and buf[val_beg] in (32, 9):
                val_beg += 1
            nxt = value_end(bytearray(buf), val_beg, end)
            val_end = nxt
            while val_end > val_beg and buf[val_end - 1] in (32, 9):
                val_end -= 1
        else:
            val_beg = val_end = nxt = equal
        if att_beg < end and buf[att_beg] == 36 or equal == nxt:  # '$...', or no '='
            att_beg = nxt + 1
            continue
        if buf[att_beg:att_end] == key:
            return buf[val_beg:val_end].decode("latin-1"), nxt + 1
        if not is_list:
            break
        att_beg = nxt + 1
    return None


def _cookies(ctx, args, in_acl, res: bool) -> list[str]:
    """smp_fetch_cookie: every value of the cookie, header line after header line (Cookie lines of the
    request, Set-Cookie lines of the response), each comma-separated value apart as http_find_header gives
    them; a rule's sample takes the last one, an ACL tries them all. A value shorter than the name plus one
    is skipped."""
    name = args[0] if args else ""
    if res and ctx.res is None:
        return []
    out = []
    for value in ctx.header_values("set-cookie" if res else "cookie", res=res):
        if len(value) < len(name) + 1:
            continue
        pos = 0
        while True:
            found = cookie_value(value, name, not res, pos)
            if found is None:
                break
            out.append(found[0])
            pos = found[1]
    return out if in_acl else out[-1:]


def _fhdr(ctx, args, in_acl):
    if not args:
        return []
    return _occurrence(ctx.header_values(args[0].lower() if args and args[0] else None, split=False),
                       _arg_int(args, 1), in_acl)


def _hdr_cnt(ctx, args, in_acl):
    return [len(ctx.header_values(args[0].lower() if args and args[0] else None))]


def _hdr_val(ctx, args, in_acl):
    return [strl2ic(v) for v in _hdr(ctx, args, in_acl)]


def _fhdr_cnt(ctx, args, in_acl):
    return [len(ctx.header_values(args[0].lower() if args and args[0] else None, split=False))]


def _hdr_ip(ctx, args, in_acl):
    """hdr_ip: each value that is an address (an IPv4 address may carry a ':port'), others dropped."""
    out = []
    for v in _hdr(ctx, args, in_acl):
        host, sep, port = v.rpartition(":")
        candidates = [v] + ([host] if sep and port.isdigit() and "." in host else [])
        for text in candidates:
            try:
                out.append(str(ipaddress.ip_address(text)))
            except ValueError:
                continue
            break
    return out


def _const_bool(args) -> str | None:
    """smp_check_const_bool: bool()'s argument."""
    return None if args and args[0].lower() in ("true", "false", "0", "1") else \
        "Expects 'true', 'false', '0' or '1'"


# fetch -> a check of its arguments at load, returning HAProxy's complaint (None: fine)
ARG_CHECKS: dict[str, Callable] = {"bool": _const_bool}


def _payload(read: Callable) -> Callable:
    """A fetch on the connection's first bytes (``clienthello``): no sample without a byte buffer."""
    def fetch(ctx, args, in_acl):
        if ctx.payload is None:
            return []
        value, may_change = read(ctx.payload)
        if may_change:
            ctx.may_change = True
        return _one(value)
    return fetch


def _arg_int(args: list[str], i: int) -> int | None:
    return int(args[i]) if len(args) > i and args[i] != "" else None


def _one(value) -> list:
    return [] if value is None else [value]


IMPLEMENTED: dict[str, Callable] = {
    "path": lambda ctx, a, acl: _one(ctx.path()),
    "url": lambda ctx, a, acl: [ctx.url()],
    "pathq": lambda ctx, a, acl: _one(None if ctx.path() is None else ctx.path() + (
        "" if _query(ctx) is None else "?" + _query(ctx))),
    "query": lambda ctx, a, acl: _one(_query(ctx)),
    "base": lambda ctx, a, acl: _one(None if ctx.path() is None else (
        (ctx.header_values("host", split=False) or [""])[-1] + ctx.path())),
    "method": lambda ctx, a, acl: [ctx.req.method.decode("latin-1")],
    "req.ver": lambda ctx, a, acl: [ctx.req.version.decode("latin-1")],
    "req_ver": lambda ctx, a, acl: [ctx.req.version.decode("latin-1")],
    "req.hdr": _hdr,
    "hdr": _hdr_dir,
    "res.hdr": _res_hdr,
    "shdr": _res_hdr,
    "status": _status,
    "req.cook": lambda ctx, a, acl: _cookies(ctx, a, acl, False),
    "cook": lambda ctx, a, acl: _cookies(ctx, a, acl, False),
    "res.cook": lambda ctx, a, acl: _cookies(ctx, a, acl, True),
    "scook": lambda ctx, a, acl: _cookies(ctx, a, acl, True),
    "req.fhdr": _fhdr,
    "req.fhdr_cnt": _fhdr_cnt,
    "hdr_ip": _hdr_ip,
    "req.hdr_ip": _hdr_ip,
    "req.hdr_cnt": _hdr_cnt,
    "hdr_cnt": _hdr_cnt,
    "req.hdr_val": _hdr_val,
    "hdr_val": _hdr_val,
    "url_param": lambda ctx, a, acl: _url_params(ctx, a[0] if a and a[0] else None, a[1] if len(a) > 1 else "")
    [: None if acl else 1],
    "urlp": lambda ctx, a, acl: _url_params(ctx, a[0] if a and a[0] else None, a[1] if len(a) > 1 else "")
    [: None if acl else 1],
    "urlp_val": lambda ctx, a, acl: [strl2ic(v) for v in _url_params(
        ctx, a[0] if a and a[0] else None, a[1] if len(a) > 1 else "")][: None if acl else 1],
    "src": lambda ctx, a, acl: _one(ctx.src),
    "src_port": lambda ctx, a, acl: _one(ctx.sport),
    "dst": lambda ctx, a, acl: _one(ctx.dst),
    "dst_port": lambda ctx, a, acl: _one(ctx.dport),
    "str": lambda ctx, a, acl: [a[0] if a else ""],
    "int": lambda ctx, a, acl: [int(a[0])],
    "bool": lambda ctx, a, acl: [a[0].lower() in ("true", "1")],
    "meth": lambda ctx, a, acl: [a[0]],
    "ipv4": lambda ctx, a, acl: [a[0]],
    "ipv6": lambda ctx, a, acl: [a[0]],
    "env": lambda ctx, a, acl: _one(os.environ.get(a[0])),
    "req.proto_http": lambda ctx, a, acl: [True],  # rules run on parsed HTTP requests (mode tcp: no sample)
    "req_proto_http": lambda ctx, a, acl: [True],
    "fe_name": lambda ctx, a, acl: [ctx.fe_name],
    "always_true": lambda ctx, a, acl: [True],
    "always_false": lambda ctx, a, acl: [False],
    "ssl_fc": lambda ctx, a, acl: [ctx.ssl_object() is not None],
    "ssl_fc_sni": lambda ctx, a, acl: _one(ctx.sni()),
    "ssl_fc_has_sni": lambda ctx, a, acl: [ctx.sni() is not None] if ctx.ssl_object() is not None else [],
    "ssl_fc_protocol": lambda ctx, a, acl: _one(ctx.ssl_object().version() if ctx.ssl_object() else None),
    "req.ssl_sni": _payload(clienthello.ssl_hello_sni),
    "req_ssl_sni": _payload(clienthello.ssl_hello_sni),
    "req.ssl_hello_type": _payload(clienthello.ssl_hello_type),
    "req_ssl_hello_type": _payload(clienthello.ssl_hello_type),
    "req.ssl_ver": _payload(clienthello.req_ssl_ver),
    "req_ssl_ver": _payload(clienthello.req_ssl_ver),
    "req.len": _payload(clienthello.req_len),
    "req_len": _payload(clienthello.req_len),
}
PAYLOAD = frozenset(("req.ssl_sni", "req_ssl_sni", "req.ssl_hello_type", "req_ssl_hello_type", "req.ssl_ver",
                     "req_ssl_ver", "req.len", "req_len"))


# fetches that need no HTTP request: they give a sample in mode tcp too (the others give none there)
LAYER4 = frozenset(("src", "src_port", "dst", "dst_port", "str", "int", "bool", "meth", "ipv4", "ipv6", "env",
                    "always_true", "always_false", "fe_name", "ssl_fc", "ssl_fc_sni", "ssl_fc_has_sni",
                    "ssl_fc_protocol")) | PAYLOAD


# stick-table counters (engine/sticktable.py): sc_<data>(N[,table]), scN_<data>([table]), src_<data>([table])
STICK_DATA = ("conn_cnt", "conn_cur", "conn_rate", "sess_cnt", "sess_rate", "http_req_cnt", "http_req_rate",
              "http_err_cnt", "http_err_rate", "get_gpc0", "get_gpc1", "gpc0_rate", "gpc1_rate", "tracked")


def _stick_fetch(name: str) -> Callable:
    head, _, data = name.partition("_")
    if head == "src":
        return lambda ctx, a, acl: _one(None if ctx.conn is None else src_fetch(
            ctx.conn, ctx.conn.be.name if getattr(ctx.conn, "be", None) is not None else ctx.fe_name, data,
            a[0] if a else None))
    if head == "sc":
        return lambda ctx, a, acl: _one(None if ctx.conn is None else sc_fetch(
            ctx.conn, int(a[0]), data, a[1] if len(a) > 1 else None))
    n = int(head[2])
    return lambda ctx, a, acl: _one(None if ctx.conn is None else sc_fetch(ctx.conn, n, data, a[0] if a else None))


for _name in FETCHES:
    _head, _, _data = _name.partition("_")
    if _head in ("sc", "sc0", "sc1", "sc2", "src") and _data in STICK_DATA and not (_head == "src" and _data == "tracked"):
        IMPLEMENTED[_name] = _stick_fetch(_name)
        LAYER4 = LAYER4 | {_name}


def output_type(name: str) -> str:
    """The type HAProxy gives a fetch's sample (str, sint, bool, ipv4, meth ...)."""
    return FETCHES[name][1]
