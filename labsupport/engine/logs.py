"""Logs: HAProxy 2.6's ``option httplog`` line for each request, and the log targets it goes to.

Follows HAProxy 2.6's src/log.c (the httplog format, ``%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta
%ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r``; copyright Willy Tarreau). With
``log stdout format raw local0`` in ``global`` and ``log global`` + ``option httplog`` in the
frontend (or its defaults), every request gives one line; ``%hr``/``%hs`` vanish since nothing is
captured, and the captured cookies ``%CC %CS`` read ``- -``.

How it works: the engine fills a ``Record`` per request (timers in ms, -1 for a stage never
reached; the termination flags from ``term_flags``, e.g. ``----``, ``SC--``, ``sH--``, ``CD--``) and calls
``Logs.emit(record)``; the line itself is written when it is read. ``Logs`` keeps the last lines
in memory with a global index (a notebook reads them with ``Balancer.logs()``); the command line
(``python -m labsupport.balancer``) prints them on its standard output, which is where HAProxy's
``log stdout`` writes. Health events (server UP/DOWN) may be emitted to the same place with ``emit`` too.
"""
from __future__ import annotations

import collections
import itertools
import time
from typing import Callable, NamedTuple

# %tr's month names (C locale), also read back by the course's log reader
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_second: tuple[int, str] = (-1, "")  # the last second log_date wrote, and its text up to the seconds


def log_date(t: float) -> str:
    """HAProxy's ``%tr``: ``30/Nov/2026:17:32:09.449`` in local time."""
    global _second
    sec, text = _second  # one read: another engine's thread may replace it meanwhile
    if sec != int(t):  # one localtime() per second of log lines, not one per line
        sec = int(t)
        lt = time.localtime(sec)
        text = (f"{lt.tm_mday:02d}/{MONTHS[lt.tm_mon - 1]}/{lt.tm_year}:{lt.tm_hour:02d}:{lt.tm_min:02d}:"
                f"{lt.tm_sec:02d}.")
        _second = sec, text
    return f"{text}{int(t * 1000) % 1000:03d}"


class Record(NamedTuple):
    """One request as the httplog line tells it: the values, taken when the request ends; the line
    is written only when someone reads it (``Logs.since``), most lines of a busy run never are."""

    client: str | None
    port: int
    date: float
    frontend: str
    backend: str
    server: str
    TR: int
    Tw: int
    Tc: int
    Tr: int
    Ta: int
    status: int
    bytes: int
    term: str
    ac: int
    fc: int
    bc: int
    sc: int
    rc: str
    sq: int
    bq: int
    request: tuple[bytes, bytes, bytes] | None  # method, target, version; None: <BADREQ>

    def httplog(self) -> str:
        ci, cp, date, ft, b, s, TR, Tw, Tc, Tr, Ta, ST, B, tsc, ac, fc, bc, sc, rc, sq, bq, r = self  # locals: fast
        request = "<BADREQ>" if r is None else f"{r[0].decode()} {r[1].decode('latin-1')} HTTP/{r[2].decode()}"
        return (f"{ci}:{cp} [{log_date(date)}] {ft} {b}/{s} {TR}/{Tw}/{Tc}/{Tr}/{Ta} {ST} {B} - - {tsc} "
                f"{ac}/{fc}/{bc}/{sc}/{rc} {sq}/{bq} \"{request}\"")


class Logs:
    """The lines the engine logged, bounded, each with a global index: ``since(i)`` -> (lines, next)."""

    def __init__(self, size: int = 10000) -> None:
        self.lines: collections.deque[str | Record] = collections.deque(maxlen=size)
        self.total = 0
        self.writers: list[Callable[[str], None]] = []  # called with each line as it is emitted

    def emit(self, line: str | Record) -> None:
        """Log a line, or a request's ``Record`` (its line is written when read)."""
        self.lines.append(line)
        self.total += 1
        if self.writers:
            text = line if isinstance(line, str) else line.httplog()
            for w in self.writers:
                w(text)

    def since(self, index: int = 0) -> tuple[list[str], int]:
        entries, total = self.entries(index)
        return texts(entries), total

    def entries(self, index: int = 0) -> tuple[list[str | Record], int]:
        """``since`` without writing the lines (``texts`` does, on the caller's thread)."""
        first = self.total - len(self.lines)
        skip = max(index - first, 0)
        return list(self.lines if not skip else itertools.islice(self.lines, skip, None)), self.total


def texts(entries: list[str | Record]) -> list[str]:
    """The lines of ``Logs.entries``."""
    return [x if isinstance(x, str) else x.httplog() for x in entries]


def term_flags(cause: str, state: str, cookie: str = "--") -> str:
    """The 4-char ``%tsc``: who ended the session, at which stage, and the persistence cookie's two
    characters (proxy/cookies.py; '--' when the backend has no cookie)."""
    return f"{cause}{state}{cookie}"
