"""Cookie persistence (mode http): the ``Cookie`` headers of a request, the ``Set-Cookie`` headers of
its answer, and the two persistence characters of the log's termination state.

How it works. A backend with a ``cookie`` line gives each request a ``CookieTxn`` (httpclient.py):

1. Request side (``CookieTxn.request``, before the server is chosen): every ``Cookie`` header is
   walked cookie by cookie as HAProxy does (``NAME=VALUE`` separated by ``;`` or ``,``, quotes
   respected, ``$attributes`` skipped, spaces around ``=`` removed). The first cookie with the
   backend's name picks the first server whose ``cookie`` value matches (in prefix mode, the part
   before ``~``; otherwise the part before a ``|`` date). With ``maxlife`` / ``maxidle``, a cookie whose
   first date (``NAME=SRV|last|first``) is more than maxlife seconds old, or whose last date is more than
   maxidle seconds old (or either more than a day ahead), is not read at all (the log says O, then E)
   and the algorithm chooses. That server is used directly, without the
   algorithm, when it is not DOWN (UP, DRAIN, weight 0 ... all count), or when ``option persist``
   holds; a DOWN one is skipped (the log says D) and the algorithm chooses. Then ``insert indirect``
   deletes the persistence cookie from the header (the header itself when nothing else is left in
   it), and ``prefix`` removes ``SRV~`` from the value.
2. Session side (session.py): a direct request bypasses the algorithm; a redispatch after failed
   connections forgets it (the log's V becomes D), and it is never redispatched at once just
   because other servers are usable.
3. Response side (``CookieTxn.response``, on the answer's head, after the http-response rules):
   the server's own ``Set-Cookie`` for the name is left alone (``preserve``), deleted (``insert``,
   or ``indirect`` on a direct request), rewritten to the server's value (``rewrite``) or prefixed
   with ``SRV~`` (``prefix``). Then ``insert`` adds ``NAME=VALUE; path=/`` (with ``; domain=D``,
   ``; HttpOnly``, ``; Secure``, ``; ATTR`` in that order) unless the request came direct (or is
   not a POST under ``postonly``); a server without a ``cookie`` value gets an expired, empty one.
   With ``maxidle`` or ``maxlife`` the value carries dates, ``NAME=SRV|last|first`` (first only with
   maxlife), each 5 base64 digits of the Unix time in 4-second units, rounded up; it is written again
   for a direct request once the cookie's last date is past (so at most once per 4 seconds), or to add or
   drop the first date.
   ``nocache`` then adds ``Cache-control: private`` when the answer is still cacheable: a GET,
   HEAD, OPTIONS or TRACE request, a status cacheable by default, no ``private``/``no-cache``/...
   in the answer's own Cache-Control or Pragma, and something a cache could keep it by (max-age,
   s-maxage, Expires, ETag or Last-Modified), or ``public``.

Not done by the engine (warned when the config is read): ``dynamic`` cookies, ``Set-Cookie2`` headers. ``force-persist`` / ``ignore-persist`` rules are
read when the CookieTxn is made (the backend is known, as in HAProxy's process_switching_rules).

Follows HAProxy 2.6's src/http_ana.c (http_manage_client_side_cookies,
http_manage_server_side_cookies, http_del_hdr_value, the insertion in http_process_res_common,
http_check_response_for_cacheability), src/http.c (http_find_cookie_value_end) and src/log.c
(sess_cookie, sess_set_cookie), Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this
project's licence).
"""
from __future__ import annotations

import time

SPHT = b" \t"
_SP, _HT, _EQ, _SEMI, _COMMA, _QUOTE, _BSLASH, _DOLLAR = 32, 9, 61, 59, 44, 34, 92, 36
_DELIM_PREFIX = 126  # '~' (COOKIE_DELIM)
_DELIM_DATE = 124  # '|' (COOKIE_DELIM_DATE)
CACHEABLE_METHODS = (b"GET", b"HEAD", b"OPTIONS", b"TRACE")
CACHEABLE_STATUS = frozenset((200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501))
_NOT_CACHEABLE = (b"private", b"no-cache", b"no-store", b"max-age=0", b"s-maxage=0")
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
EXPIRED = "=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"


def _sp(c: int) -> bool:
    return c == _SP or c == _HT


def value_end(buf: bytearray, s: int, e: int) -> int:
    """http_find_cookie_value_end: the first unquoted ',' or ';' from ``s`` (or ``e``)."""
    quoted = qdpair = False
    while s < e:
        c = buf[s]
        if qdpair:
            qdpair = False
        elif quoted:
            if c == _BSLASH:
                qdpair = True
            elif c == _QUOTE:
                quoted = False
        elif c == _QUOTE:
            quoted = True
        elif c == _COMMA or c == _SEMI:
            return s
        s += 1
    return s


def del_value(buf: bytearray, start: int, end: int, frm: int, nxt: int) -> tuple[int, int]:
    """http_del_hdr_value: remove ``[frm, nxt)`` (a value and one of its delimiters) from a header
    value ending at ``end``, leaving one space after the delimiter kept. Returns (delta, new frm)."""
    prev = frm
    if prev == start:  # the first value: eat the delimiter after it, and the spaces
        if nxt < end:
            nxt += 1
        while nxt < end and _sp(buf[nxt]):
            nxt += 1
    else:
        while _sp(buf[prev - 1]):  # spaces before the old delimiter go
            prev -= 1
        frm = prev
        if nxt < end:  # keep the next delimiter, and a space if there is room
            buf[prev] = buf[nxt]
            prev += 1
            nxt += 1
            if prev + 1 < nxt:
                buf[prev] = _SP
                prev += 1
            while nxt < end and _sp(buf[nxt]):
                nxt += 1
    del buf[prev:nxt]
    return prev - nxt, frm


class CookieTxn:
    """One request's persistence: the log's two characters, and the server its cookie chose."""

    __slots__ = ("cfg", "req", "res", "direct", "last_date", "first_date", "persist", "force", "ignore")

    def __init__(self, proxy, c=None, req=None) -> None:
        """``proxy``: the backend's config.Proxy; ``c`` and ``req``: the client connection and its request,
        read by the backend's force-persist / ignore-persist conditions (the first that holds decides)."""
        self.cfg = proxy.cookie  # config.CookieConfig
        self.persist = proxy.persist  # 'option persist' (PR_O_PERSIST)
        self.force = False  # a force-persist rule held (SF_FORCE_PRST): never redispatched either
        self.ignore = False  # an ignore-persist rule held (SF_IGNORE_PRST)
        if proxy.persist_rules:
            ctx = c._sample_ctx(req)
            for kind, cond in proxy.persist_rules:
                if cond.holds(ctx):
                    if kind == "force":
                        self.force = True
                    else:
                        self.ignore = True
                    break
        self.req = "N"  # sess_cookie: N I D V E O U
        self.res = "N"  # sess_set_cookie: N P D I R (U: not produced)
        self.direct = None  # the ServerRT the cookie designates (SF_DIRECT), None: the algorithm chooses
        self.last_date = self.first_date = 0  # dates a cookie carried (NAME=SRV|last|first), Unix seconds

    def log_flags(self) -> str:
        return self.req + self.res if self.cfg.active else "--"

    # ----- request side
    def request(self, be, headers: list[bytes]) -> None:
        """Read (and edit) the request's Cookie header lines; set ``direct`` and ``req``."""
        name = self.cfg.name.encode("utf-8")
        out = []
        for line in headers:
            if line[:7].lower() == b"cookie:":
                value = line[7:-2].strip(SPHT)
                new = self._cookie_line(be, bytearray(value), name)
                if new is None:
                    continue  # nothing left: the header goes
                if new != value:
                    line = b"%s %s\r\n" % (line[:7], bytes(new))
            out.append(line)
        headers[:] = out

    def _cookie_line(self, be, buf: bytearray, name: bytes) -> bytearray | None:
        """One Cookie header's value, walked as http_manage_client_side_cookies does."""
        cfg = self.cfg
        hdr_beg, hdr_end = 0, len(buf)
        is_first, del_from, preserve_hdr = True, None, False
        prev = 0
        while prev < hdr_end:
            att_beg = prev if is_first else prev + 1
            is_first = False
            while att_beg < hdr_end and _sp(buf[att_beg]):
                att_beg += 1
            equal = att_end = att_beg  # att_end: after the last non-space before '='
            while equal < hdr_end:
                c = buf[equal]
                if c == _EQ or c == _COMMA or c == _SEMI:
                    break
                equal += 1
                if not _sp(c):
                    att_end = equal
            if equal < hdr_end and buf[equal] == _EQ:
                val_beg = equal + 1
                while val_beg < hdr_end and _sp(buf[val_beg]):
                    val_beg += 1
                nxt = value_end(buf, val_beg, hdr_end)
                val_end = nxt
                while val_end > val_beg and _sp(buf[val_end - 1]):
                    val_end -= 1
            else:
                val_beg = val_end = nxt = equal
            if att_beg < hdr_end and buf[att_beg] == _DOLLAR:  # $Path, $Domain ... stay with their cookie
                prev = nxt
                continue
            if equal == nxt:  # no '=': not ours, keep it (and delete what was marked before it)
                preserve_hdr = True
                if del_from is not None:
                    delta, _ = del_value(buf, hdr_beg, hdr_end, del_from, prev)
                    nxt += delta
                    hdr_end += delta
                    del_from = None
                prev = nxt
                continue
            if att_end != equal or val_beg > equal + 1:  # spaces around '=': removed
                stripped = 0
                if att_end != equal:
                    del buf[att_end:equal]
                    stripped = att_end - equal
                    equal += stripped
                    val_beg += stripped
                if val_beg > equal + 1:
                    after = equal + 1 - val_beg
                    del buf[equal + 1:val_beg]
                    val_beg += after
                    stripped += after
                val_end += stripped
                nxt += stripped
                hdr_end += stripped
            if buf[att_beg:att_end] == name:
                if cfg.prefix:
                    delim = buf.find(_DELIM_PREFIX, val_beg, val_end)
                    delim = val_end if delim < 0 else delim
                else:  # NAME=SRV|lastseen|firstseen: dates in 5 base64 digits of 4-second units
                    delim = buf.find(_DELIM_DATE, val_beg, val_end)
                    if delim < 0:
                        delim = val_end
                    else:
                        self._dates(buf, delim + 1, val_end)
                if self._expired():
                    delim = val_beg  # as if there were no cookie
                self._choose(be, bytes(buf[val_beg:delim]) if delim != val_beg else None)
                if cfg.prefix and delim != val_end:  # SRV~VALUE -> VALUE: the application's cookie stays
                    delta = val_beg - (delim + 1)
                    del buf[val_beg:delim + 1]
                    nxt += delta
                    hdr_end += delta
                    del_from = None
                    preserve_hdr = True
                elif del_from is None and cfg.insert and cfg.indirect:
                    del_from = prev
            else:
                preserve_hdr = True
                if del_from is not None:
                    delta, _ = del_value(buf, hdr_beg, hdr_end, del_from, prev)
                    nxt += delta
                    hdr_end += delta
                    del_from = None
            prev = nxt
        if del_from is not None:
            hdr_end = del_from if preserve_hdr else hdr_beg
            del buf[hdr_end:]
        return buf if hdr_end != hdr_beg else None

    def _dates(self, buf: bytearray, v1: int, val_end: int) -> None:
        """The dates after the server's value: its last and first dates (0: none, or invalid)."""
        if val_end - v1 >= 5:
            val = b64tos30(buf[v1:v1 + 5])
            if val > 0:
                self.last_date = _int32(val << 2)
        v2 = buf.find(_DELIM_DATE, v1, val_end)
        if v2 >= 0 and val_end - v2 > 5:
            val = b64tos30(buf[v2 + 1:v2 + 6])
            if val > 0:
                self.first_date = _int32(val << 2)

    def _expired(self) -> bool:
        """Too old (maxlife since the first date: O) or idle too long (maxidle since the last: E); a date
        more than a day ahead counts as expired too. The dates are forgotten then."""
        cfg, now = self.cfg, int(time.time())
        first, last = self.first_date, self.last_date
        if first and cfg.maxlife and (_int32(now - first) > cfg.maxlife or _int32(first - now) > 86400):
            self.req = "O"
        elif last and cfg.maxidle and (_int32(now - last) > cfg.maxidle or _int32(last - now) > 86400):
            self.req = "E"
        else:
            return False
        self.first_date = self.last_date = 0
        return True

    def _choose(self, be, value: bytes | None) -> None:
        """The server a persistence cookie's ``value`` designates (the first usable one that has it)."""
        if value is not None and self.direct is None and not self.ignore:
            for srv in be.servers.values():
                cookie = srv.cfg.cookie
                if cookie is not None and cookie.encode("utf-8") == value:
                    up = srv.health.op != "stopped"  # cur_state != SRV_ST_STOPPED: DRAIN is still up
                    if up or self.persist or self.force:
                        self.req = "V" if up else "D"
                        self.direct = srv
                        return
                    self.req = "D"  # and on, in case another server has the same cookie
        if self.req == "N":  # the first word said stays (TX_CK_MASK is tested whole)
            self.req = "U" if self.direct is not None or self.ignore else "I"

    # ----- response side
    def response(self, head: bytes, srv, status: int, method: bytes) -> bytes:
        """The answer's head (status line and header lines, no final CRLF) as the client gets it."""
        if status < 200 and status != 101:
            return head
        cfg = self.cfg
        lines = head.split(b"\r\n")
        name = cfg.name.encode("utf-8")
        cacheable = method in CACHEABLE_METHODS and status in CACHEABLE_STATUS
        out = [lines[0]]
        for line in lines[1:]:
            if line[:11].lower() == b"set-cookie:":
                line = self._set_cookie(line, name, srv)
                if line is None:
                    continue
            out.append(line)
        if cfg.nocache:
            cacheable = _cacheable(out, cacheable)
        now = int(time.time())
        last, first = self.last_date, self.first_date
        if (cfg.insert and not (self.res == "P" and cfg.preserve)
                and (self.direct is None
                     or ((cfg.maxidle or last) and (not last or last < now))  # the last date is past
                     or (cfg.maxlife and not first)  # a first date to set
                     or (not cfg.maxlife and first))  # one to drop
                and (not cfg.postonly or method == b"POST") and not self.ignore):
            if srv.cfg.cookie is None:
                value = cfg.name + EXPIRED
            else:
                value = f"{cfg.name}={srv.cfg.cookie}"
                if cfg.maxidle or cfg.maxlife:
                    value += "|" + s30tob64((now + 3) >> 2)
                    if cfg.maxlife:
                        value += "|" + s30tob64(first >> 2 if first else (now + 3) >> 2)
                value += "; path=/"
            if cfg.domain:
                value += f"; domain={cfg.domain}"
            if cfg.httponly:
                value += "; HttpOnly"
            if cfg.secure:
                value += "; Secure"
            if cfg.attrs:
                value += f"; {cfg.attrs}"
            out.append(b"set-cookie: " + value.encode("utf-8"))
            self.res = "U" if srv.cfg.cookie is not None and self.direct is not None else "I"
            if cfg.nocache and cacheable:
                out.append(b"cache-control: private")
        return b"\r\n".join(out)

    def _set_cookie(self, line: bytes, name: bytes, srv) -> bytes | None:
        """One Set-Cookie line (its first cookie only: commas may sit in an Expires date)."""
        cfg = self.cfg
        colon = 11
        buf = bytearray(line[colon:].strip(SPHT))
        hdr_end = len(buf)
        att_beg = 0
        while att_beg < hdr_end and _sp(buf[att_beg]):
            att_beg += 1
        equal = att_end = att_beg
        while equal < hdr_end:
            c = buf[equal]
            if c == _EQ or c == _SEMI:
                break
            equal += 1
            if not _sp(c):
                att_end = equal
        if equal < hdr_end and buf[equal] == _EQ:
            val_beg = equal + 1
            while val_beg < hdr_end and _sp(buf[val_beg]):
                val_beg += 1
            val_end = value_end(buf, val_beg, hdr_end)
            while val_end > val_beg and _sp(buf[val_end - 1]):
                val_end -= 1
        else:
            val_beg = val_end = equal
        if equal == val_end:
            return line
        if att_end != equal or val_beg > equal + 1:
            if att_end != equal:
                del buf[att_end:equal]
                shift = att_end - equal
                equal += shift
                val_beg += shift
                val_end += shift
            if val_beg > equal + 1:
                shift = equal + 1 - val_beg
                del buf[equal + 1:val_beg]
                val_beg += shift
                val_end += shift
        if self.ignore or buf[att_beg:att_end] != name:
            return line[:colon] + b" " + bytes(buf) if buf != line[colon:].strip(SPHT) else line
        self.res = "P"  # found, passed on as it is unless changed below
        if cfg.preserve:
            pass
        elif cfg.insert or (self.direct is not None and cfg.indirect):
            self.res = "D"
            return None
        elif srv.cfg.cookie is not None and cfg.rewrite:
            buf[val_beg:val_end] = srv.cfg.cookie.encode("utf-8")
            self.res = "R"
        elif srv.cfg.cookie is not None and cfg.prefix:
            buf[val_beg:val_beg] = srv.cfg.cookie.encode("utf-8") + b"~"
            self.res = "R"
        return line[:colon] + b" " + bytes(buf)


def _int32(n: int) -> int:
    """C's int: dates after 2038 wrap to negative ones (so they count as past)."""
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n


def s30tob64(n: int) -> str:
    """base64.c s30tob64: the low 30 bits of ``n`` as 5 base64 digits."""
    return "".join(chr(_B64[(n >> shift) & 0x3F]) for shift in (24, 18, 12, 6, 0))


def b64tos30(digits: bytes | bytearray) -> int:
    """base64.c b64tos30: 5 base64 digits (A-Z a-z 0-9 + /, no padding) as a 30-bit number, -1 if invalid."""
    out = 0
    for c in digits:
        i = _B64.find(bytes((c,)))
        if i < 0:
            return -1
        out = (out << 6) + i
    return out


def _cacheable(lines: list[bytes], cacheable: bool) -> bool:
    """http_check_response_for_cacheability as far as 'nocache' needs it (TX_CACHEABLE), with 2.6's
    backported fix (879debeec): an answer without freshness (max-age, s-maxage, Expires) nor validator
    (ETag, Last-Modified) is not cacheable either."""
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields.append((name.strip().lower(), value.strip(SPHT)))
    pragma = next((v for n, v in fields if n == b"pragma"), None)  # the first one, whole
    if pragma is not None and pragma.lower() == b"no-cache":
        return False
    fresh = False
    for name, value in fields:
        if name != b"cache-control":
            continue
        for v in value.split(b","):
            v = v.strip(SPHT).lower()
            if v == b"public":
                cacheable = True
            elif v in _NOT_CACHEABLE:
                cacheable = False
            elif v.startswith((b"s-maxage", b"max-age")):
                fresh = True
    names = {n for n, _ in fields}
    if not fresh and b"expires" not in names and b"etag" not in names and b"last-modified" not in names:
        return False
    return cacheable


def log_flags(c, be) -> str:
    """The 3rd and 4th characters of the log's termination state for client connection ``c``'s
    request on backend ``be`` (None: it reached none, and the frontend stands for it, as in HAProxy)."""
    if be is None:
        cfg = c.fe.cfg.cookie
        return "NN" if cfg is not None and cfg.active else "--"
    ck = c.ck
    return ck.log_flags() if ck is not None else "--"


__all__ = ["CookieTxn", "log_flags", "s30tob64", "b64tos30"]
