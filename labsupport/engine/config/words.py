"""Word-level helpers of the configuration language: numbers, times, line splitting, addresses.

Each follows HAProxy 2.6: ``atol`` is C's atol as ``cfgparse.c`` uses it, ``split_line`` cuts a
line as ``parse_line`` (src/tools.c) does -- quotes, backslash escapes (``\\xHH`` too), ``#``
comments and ``$VAR``/``${VAR}`` environment expansion outside single quotes -- and
``parse_time`` is ``parse_time_err`` (src/tools.c). Numbers are ASCII digits only, as C's
``isdigit`` reads them (``str.isdigit`` also accepts ``²`` or fullwidth digits, which ``int``
refuses). Imports nothing from the rest of the config package.

Follows HAProxy 2.6's src/tools.c and src/cfgparse.c, Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this
project's licence).
"""
from __future__ import annotations

import os
import socket

MAX_TIME_MS = 2147483647
SECTION_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:")


DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", " ": " ", "\\": "\\", "#": "#", "'": "'", '"': '"', "$": "$"}
_VAR_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def atol(text: str) -> int:
    """C's atol: leading blanks, optional sign, ASCII digits; anything else stops it ("abc" -> 0)."""
    s = text.lstrip(" \t")
    i = 1 if s[:1] in ("+", "-") else 0
    j = i
    while j < len(s) and s[j] in DIGITS:
        j += 1
    if j == i:
        return 0
    return int(s[:j])


class LineError(ValueError):
    """A line haproxy's parse_line refuses: ``text`` is its message, caret under ``pos`` (0-based)."""

    def __init__(self, what: str, line: str, pos: int) -> None:
        body = line.lstrip(" \t")
        skipped = len(line) - len(body)
        self.text = f"{what} at position {pos + 1}:\n  {body}\n  {' ' * (pos - skipped)}^"
        super().__init__(self.text)


def _expand(line: str, i: int, cur: list[str]) -> int:
    """``$NAME``, ``${NAME}`` or ``${NAME-default}`` at line[i]: append its value (empty when unset, or the
    default: only an unset variable takes it, an empty one stays empty); the index after it. As parse_line
    in HAProxy 2.6's src/tools.c: the name is letters, digits and '_'; in braces, what follows it is '}' or
    '-default}', anything else an unmatched brace."""
    if line[i + 1:i + 2] == "{":
        j = i + 2
        while j < len(line) and line[j] in _VAR_CHARS:
            j += 1
        name, value = line[i + 2:j], os.environ.get(line[i + 2:j])
        if line[j:j + 1] == "-":
            end = line.find("}", j + 1)
            if value is None and end >= 0:
                value = line[j + 1:end]
        else:
            end = j if line[j:j + 1] == "}" else -1
        if end < 0:
            raise LineError("unmatched brace in environment variable name", line, i + 1)
        cur.append(value or "")
        return end + 1
    else:
        j = i + 1
        while j < len(line) and line[j] in _VAR_CHARS:
            j += 1
        if j == i + 1:  # a lone '$' stays
            cur.append("$")
            return i + 1
        name, after = line[i + 1:j], j
    cur.append(os.environ.get(name, ""))
    return after


def split_line(line: str) -> list[str]:
    """Words of one line as haproxy's parse_line cuts them; raises ``LineError`` as haproxy refuses.

    Backslash escapes apply outside single quotes (``\\r \\n \\t \\xHH`` and the quoted
    characters themselves; any other backslash stays); ``$VAR``/``${VAR}`` expands outside single
    quotes; an unmatched quote or a broken ``\\x`` sequence is an error.
    """
    words: list[str] = []
    cur: list[str] = []
    in_word = False
    quote, quote_at = "", 0
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                cur.append(c)
        elif c == "\\" and i + 1 < n:
            nxt = line[i + 1]
            if nxt == "x":
                hexa = line[i + 2:i + 4]
                if len(hexa) < 2 or hexa[0] not in _HEX or hexa[1] not in _HEX:
                    raise LineError("truncated or invalid hexadecimal sequence", line, i)
                cur.append(chr(int(hexa, 16)))
                i += 4
                in_word = True
                continue
            cur.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            in_word = True
            continue
        elif c == "$" and i + 1 < n:
            i = _expand(line, i, cur)
            in_word = True
            continue
        elif quote:  # inside double quotes
            if c == '"':
                quote = ""
            else:
                cur.append(c)
        elif c in " \t\r":
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        elif c == "#":
            break
        elif c in "\"'":
            quote, quote_at, in_word = c, i, True
        else:
            cur.append(c)
            in_word = True
        i += 1
    if quote:
        raise LineError("unmatched quote", line, quote_at)
    if in_word:
        words.append("".join(cur))
    return words


def expand_braced(text: str) -> str:
    """``${NAME}`` expanded wherever it is (single quotes too), as str2sa_range does for addresses."""
    out, i = [], 0
    while True:
        j = text.find("${", i)
        end = text.find("}", j + 2) if j >= 0 else -1
        if end < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j] + os.environ.get(text[j + 2:end], ""))
        i = end + 1


def split_words(line: str) -> list[str]:
    """``split_line``, with [] for a line haproxy would refuse (for looking ahead, never for verdicts)."""
    try:
        return split_line(line)
    except LineError:
        return []


class TimeFormatError(ValueError):
    """A time value haproxy refuses; ``kind`` is "char", "over" or "under" (``char`` for "char")."""

    def __init__(self, value: str, kind: str, char: str = ""):
        self.value, self.kind, self.char = value, kind, char
        if kind == "over":
            msg = f"timer overflow in '{value}' (maximum value is {MAX_TIME_MS} ms or ~24.8 days)"
        elif kind == "under":
            msg = f"timer underflow in '{value}' (minimum non-null value is 1 ms)"
        else:
            msg = (f"unexpected character '{char}' in time '{value}' (write a whole number with a "
                   "unit among us ms s m h d, e.g. 10s; a bare number means ms)")
        super().__init__(msg)


_UNITS_US = {"us": 1, "ms": 1000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}


def parse_time(value: str, unit: str = "ms") -> int:
    """HAProxy time: bare number = ``unit`` (ms); units us ms s m h d; returns milliseconds.

    Port of haproxy's ``parse_time_err``: ``1.5s``, ``5S``, ``-1`` and empty strings raise
    ``TimeFormatError``; a fraction of a ms rounds up (``10us`` -> 1); values must stay below
    2^31 ms. Extra characters after a unit (``10sx``) are accepted, as haproxy 2.6 does (it
    only warns).
    """
    if not value or value[0] not in DIGITS:
        raise TimeFormatError(value, "char", value[:1])
    i = 0
    while i < len(value) and value[i] in DIGITS:
        i += 1
    number, rest = int(value[:i]), value[i:]
    if not rest:
        result_us = number * _UNITS_US[unit]
    else:
        u = "us" if rest.startswith("us") else "ms" if rest.startswith("ms") else rest[0]
        if u not in _UNITS_US:
            raise TimeFormatError(value, "char", rest[0])
        result_us = number * _UNITS_US[u]
    result = -(-result_us // 1000)  # round up to whole ms
    if result > MAX_TIME_MS:
        raise TimeFormatError(value, "over")
    if result == 0 and number:
        raise TimeFormatError(value, "under")
    return result


def _time_unit(rest: str) -> str:
    """The unit word at the start of ``rest`` (after the digits), as parse_time_err reads it."""
    return "us" if rest.startswith("us") else "ms" if rest.startswith("ms") else rest[:1]


def parse_time_s(value: str) -> int:
    """haproxy's ``parse_time_err`` with TIME_UNIT_S: whole seconds, a bare number being seconds and a
    fraction rounding up (``500ms`` -> 1); values must stay below 2^31 s. Raises ``TimeFormatError``
    ("char", "over", "under") as ``parse_time`` does."""
    if not value or value[0] not in DIGITS:
        raise TimeFormatError(value, "char", value[:1])
    i = 0
    while i < len(value) and value[i] in DIGITS:
        i += 1
    number, rest = int(value[:i]), value[i:]
    if not rest:
        result = number
    else:
        u = _time_unit(rest)
        if u not in _UNITS_US:
            raise TimeFormatError(value, "char", rest[0])
        result = -(-number * _UNITS_US[u] // 1_000_000)
    if result >= 1 << 31:
        raise TimeFormatError(value, "over")
    if result == 0 and number:
        raise TimeFormatError(value, "under")
    return result


def timer_tail_warning(value: str) -> str | None:
    """haproxy 2.6's warning (printed by parse_time_err itself, unlocated) for characters after a
    time's unit (``1h5m``: only the ``h`` counts), or None."""
    i = 0
    while i < len(value) and value[i] in DIGITS:
        i += 1
    if i == 0 or i == len(value):
        return None
    u = _time_unit(value[i:])
    tail = value[i + len(u):]
    if u not in _UNITS_US or not tail:
        return None
    return (f"unexpected character '{tail[0]}' after the timer value '{value}', only "
            "(us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported. "
            "This will be reported as an error in next versions.")


_HOSTS_CACHE: dict[str, str] | None = None


def _etc_hosts() -> dict[str, str]:
    """IPv4 names from /etc/hosts (read once); a plain file read, so it is fast and offline."""
    global _HOSTS_CACHE
    if _HOSTS_CACHE is None:
        _HOSTS_CACHE = {}
        try:
            with open(os.environ.get("LAB_HOSTS_FILE", "/etc/hosts"), encoding="utf-8", errors="replace") as f:
                for raw in f:
                    words = raw.split("#", 1)[0].split()
                    if len(words) >= 2 and _ipv4(words[0]):
                        for name in words[1:]:
                            _HOSTS_CACHE.setdefault(name.lower(), words[0])
        except OSError:
            pass
    return _HOSTS_CACHE


def _ipv4(text: str) -> str | None:
    """The dotted-quad form of an IPv4 literal as libc reads it ("127.1" too), else None."""
    if not text or not all(c in DIGITS or c == "." for c in text):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(text))
    except OSError:
        return None


def resolve(host: str) -> str | None:
    """IPv4 literal, IPv6 literal (kept), 'localhost', or an /etc/hosts name; never DNS.

    An empty host and '*' mean 0.0.0.0, as in haproxy (connecting there reaches this machine)."""
    if host in ("", "*"):
        return "0.0.0.0"
    ip = _ipv4(host)
    if ip:
        return ip
    if ":" in host:
        try:
            socket.inet_pton(socket.AF_INET6, host.strip("[]"))
            return host.strip("[]")
        except OSError:
            return None
    if host.lower() == "localhost":
        return "127.0.0.1"
    return _etc_hosts().get(host.lower())
