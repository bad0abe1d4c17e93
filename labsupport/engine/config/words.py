"""Word-level helpers of the configuration language: numbers, times, line splitting, addresses.

Each follows HAProxy 2.6: ``atol`` is C's atol as ``cfgparse.c`` uses it, ``split_line`` cuts a
line as ``parse_line`` (src/tools.c) does, ``parse_time`` is ``parse_time_err`` (src/tools.c).
Imports nothing from the rest of the config package.

Follows HAProxy 2.6's src/tools.c and src/cfgparse.c, Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this
project's licence).
"""
from __future__ import annotations

import os
import socket

MAX_TIME_MS = 2147483647
SECTION_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:")


def atol(text: str) -> int:
    """C's atol: leading blanks, optional sign, digits; anything else stops it ("abc" -> 0)."""
    s = text.lstrip(" \t")
    i = 1 if s[:1] in "+-" and s[:1] else 0
    j = i
    while j < len(s) and s[j].isdigit():
        j += 1
    if j == i:
        return 0
    return int(s[:j])


def split_line(line: str) -> list[str]:
    """Words of one line as haproxy's parse_line cuts them (quotes, backslashes, # comments)."""
    words: list[str] = []
    cur: list[str] = []
    in_word = False
    quote = ""
    i = 0
    escapes = {"r": "\r", "n": "\n", "t": "\t"}
    while i < len(line):
        c = line[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"' and i + 1 < len(line):
                i += 1
                cur.append(escapes.get(line[i], line[i]))
            else:
                cur.append(c)
        elif c in " \t\r":
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        elif c == "#":
            break
        elif c in "\"'":
            quote, in_word = c, True
        elif c == "\\" and i + 1 < len(line):
            i += 1
            cur.append(escapes.get(line[i], line[i]))
            in_word = True
        else:
            cur.append(c)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(cur))
    return words


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
    if not value or not value[0].isdigit():
        raise TimeFormatError(value, "char", value[:1])
    i = 0
    while i < len(value) and value[i].isdigit():
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
    if not text or not all(c.isdigit() or c == "." for c in text):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(text))
    except OSError:
        return None


def resolve(host: str) -> str | None:
    """IPv4 literal, IPv6 literal (kept), 'localhost', or an /etc/hosts name; never DNS."""
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
