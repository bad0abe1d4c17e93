"""The layer-6 fetches that read the raw bytes a client sent first: a TLS ClientHello, before any
handshake (``req.ssl_sni``, ``req.ssl_hello_type``, ``req.ssl_ver``, ``req.len``).

Follows HAProxy 2.6's src/payload.c (smp_fetch_ssl_hello_sni, smp_fetch_ssl_hello_type,
smp_fetch_req_ssl_ver, smp_fetch_len), Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this
project's licence), check by check, including its leniencies: the SNI fetch wants the ClientHello
whole only up to 4 bytes short (it compares the bytes after the record header with the handshake's
length, which leaves out the handshake's own 4-byte header), and reads the first record as if the
hello were all in it.

How it works: each function takes the bytes buffered so far and returns ``(value, may_change)``. A
value of None is "no sample"; ``may_change`` is HAProxy's SMP_F_MAY_CHANGE: more bytes could change
the answer (the hello is not all there yet; ``req.len`` always). A rule that finds no match while a
sample may change waits for more bytes until ``tcp-request inspect-delay`` runs out (sample/acl.py,
proxy/tcp.py). Pure functions on bytes: no I/O.
"""
from __future__ import annotations

TOO_SHORT = (None, True)
NOT_HELLO = (None, False)
# record type, version, length; handshake type, length; client version, random, session id length;
# ciphers length, one cipher; compression methods length, one method; extensions length (payload.c)
MIN_RECORD = 1 + 3 + 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2
MIN_HELLO = 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2
BUFSIZE = 16384 - 1024  # tune.bufsize less tune.maxrewrite: what HAProxy's request buffer takes in


def req_len(buf: bytes) -> tuple[int, bool]:
    """smp_fetch_len: the bytes buffered; always subject to change."""
    return len(buf), True


def ssl_hello_type(buf: bytes) -> tuple[int | None, bool]:
    """smp_fetch_ssl_hello_type: the handshake message type of an SSLv3/TLS record (1: ClientHello),
    once the whole handshake message is there."""
    if not buf:
        return TOO_SHORT
    if not (0x14 <= buf[0] <= 0x17 or buf[0] == 0xFF):
        return NOT_HELLO
    if len(buf) < 9:
        return TOO_SHORT
    if (buf[1] << 16) + buf[2] < 0x00030000:  # SSL version 3 or later
        return NOT_HELLO
    if (buf[3] << 8) + buf[4] < 4:  # the record must hold a handshake type and length
        return NOT_HELLO
    hs_type = buf[5]
    hs_len = (buf[6] << 16) + (buf[7] << 8) + buf[8]
    if len(buf) < 9 + hs_len:
        return TOO_SHORT
    return hs_type, False


def req_ssl_ver(buf: bytes) -> tuple[int | None, bool]:
    """smp_fetch_req_ssl_ver: the version the client's hello offers (0x0303 for TLS 1.2, which TLS 1.3
    clients also write there), as major << 16 | minor (TLS 1.2: 0x30003), from an SSLv3/TLS record or
    an SSLv2-format hello; once the message is all there."""
    if not buf:
        return TOO_SHORT
    bleft, pos = len(buf), 0
    if 0x14 <= buf[0] <= 0x17 or buf[0] == 0xFF:
        if bleft < 11:
            return TOO_SHORT
        version = (buf[1] << 16) + buf[2]
        msg_len = (buf[3] << 8) + buf[4]
        if version < 0x00030000:
            return NOT_HELLO
        if msg_len < 6 or msg_len > (1 << 14) + 2048:
            return NOT_HELLO
        bleft -= 5
        version = (buf[9] << 16) + buf[10]  # the hello's version, not the record layer's
    else:  # SSLv2 header format, only for a hello (message type 1)
        if buf[0] & 0x80:
            if bleft < 3:
                return TOO_SHORT
            rlen, plen = ((buf[0] & 0x7F) << 8) | buf[1], 0
            bleft, pos = bleft - 2, 2
        else:
            if bleft < 4:
                return TOO_SHORT
            rlen, plen = ((buf[0] & 0x3F) << 8) | buf[1], buf[2]
            bleft, pos = bleft - 3, 3
        if buf[pos] != 0x01:
            return NOT_HELLO
        bleft, pos = bleft - 1, pos + 1
        if bleft < 8:
            return TOO_SHORT
        d = buf[pos:pos + 8]
        version = (d[0] << 16) + d[1]
        cilen, silen, chlen = (d[2] << 8) + d[3], (d[4] << 8) + d[5], (d[6] << 8) + d[7]
        bleft -= 8
        if cilen % 3 or (silen and silen != 16) or not 16 <= chlen <= 32 or rlen != 9 + cilen + silen + chlen:
            return NOT_HELLO
        msg_len = cilen + silen + chlen + plen
    msg_len = min(msg_len, BUFSIZE)  # no more than the request buffer can hold
    if bleft < msg_len:
        return TOO_SHORT
    return version, False


def ssl_hello_sni(buf: bytes) -> tuple[str | None, bool]:
    """smp_fetch_ssl_hello_sni: the host_name of the server_name extension of a ClientHello."""
    try:
        return _sni(buf)
    except IndexError:  # a length that points past the bytes received (payload.c would read stale bytes)
        return TOO_SHORT


def _sni(buf: bytes) -> tuple[str | None, bool]:
    bleft = len(buf)
    if not bleft:
        return TOO_SHORT
    if buf[0] != 0x16:  # a handshake record
        return NOT_HELLO
    if bleft < 3:
        return TOO_SHORT
    if buf[1] < 0x03:  # SSLv3 or later in the record layer
        return NOT_HELLO
    if bleft < 5:
        return TOO_SHORT
    if (buf[3] << 8) + buf[4] < MIN_RECORD:
        return NOT_HELLO  # too short to have an extension
    p, bleft = 5, bleft - 5
    if bleft < 1:
        return TOO_SHORT
    if buf[p] != 0x01:  # ClientHello
        return NOT_HELLO
    if bleft < 4:
        return TOO_SHORT
    hs_len = (buf[p + 1] << 16) + (buf[p + 2] << 8) + buf[p + 3]
    if hs_len < MIN_HELLO:
        return NOT_HELLO
    if bleft < hs_len:  # "we want the full handshake here"
        return TOO_SHORT
    p += 4
    if buf[p] < 0x03 or buf[p + 1] < 0x01:  # TLSv1 minimum
        return NOT_HELLO
    ext_len = buf[p + 34]  # session_id length
    if ext_len > 32 or ext_len > hs_len - 35:
        return NOT_HELLO
    hs_len -= 35 + ext_len
    p += 35 + ext_len
    ext_len = (buf[p] << 8) + buf[p + 1]  # cipher suites
    if hs_len < 4 or ext_len < 2 or ext_len > hs_len:
        return NOT_HELLO
    hs_len -= 2 + ext_len
    p += 2 + ext_len
    if hs_len < 2 or buf[p] < 1 or buf[p] > hs_len:  # compression methods
        return NOT_HELLO
    hs_len -= 1 + buf[p]
    p += 1 + buf[p]
    if hs_len < 2:
        return NOT_HELLO
    ext_len = (buf[p] << 8) + buf[p + 1]
    if ext_len > hs_len - 2:  # extension list too long
        return NOT_HELLO
    hs_len = ext_len
    p += 2
    while hs_len >= 4:
        ext_type = (buf[p] << 8) + buf[p + 1]
        ext_len = (buf[p + 2] << 8) + buf[p + 3]
        if ext_len > hs_len - 4:
            return NOT_HELLO
        if ext_type == 0:  # server_name
            if ext_len < 2:
                return NOT_HELLO
            srv_len = (buf[p + 4] << 8) + buf[p + 5]
            if srv_len < 4 or srv_len > hs_len - 6:
                return NOT_HELLO
            name_len = (buf[p + 7] << 8) + buf[p + 8]
            if buf[p + 6] == 0:  # host_name
                name = buf[p + 9:p + 9 + name_len]
                if len(name) < name_len:
                    raise IndexError
                return name.decode("latin-1"), False
        hs_len -= 4 + ext_len
        p += 4 + ext_len
    return NOT_HELLO
