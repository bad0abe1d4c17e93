"""Logs: HAProxy 2.6's ``option httplog`` line for each request, and the log targets it goes to.

Follows HAProxy 2.6's src/log.c (the httplog format, ``%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta
%ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r``; copyright Willy Tarreau). With
``log stdout format raw local0`` in ``global`` and ``log global`` + ``option httplog`` in the
frontend (or its defaults), every request gives one line; ``%hr``/``%hs`` vanish since nothing is
captured, and the captured cookies ``%CC %CS`` read ``- -``.

How it works: the engine fills a ``Record`` per request (timers in ms, -1 for a stage never
reached; the termination flags from ``term_flags``, e.g. ``----``, ``SC--``, ``sH--``, ``CD--``) and calls
``Logs.emit(line)``. ``Logs`` keeps the last lines in memory with a global index (a notebook reads
them with ``Balancer.logs()``); the command line (``python -m labsupport.balancer``) prints them on
its standard output, which is where HAProxy's ``log stdout`` writes. Health events (server UP/DOWN)
may be emitted to the same place with ``emit`` too.
"""
from __future__ import annotations

import collections
import time
from typing import Callable

# %tr's month names (C locale), also read back by the course's log reader
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def log_date(t: float) -> str:
    """HAProxy's ``%tr``: ``30/Nov/2026:17:32:09.449`` in local time."""
    lt = time.localtime(t)
    return (f"{lt.tm_mday:02d}/{MONTHS[lt.tm_mon - 1]}/{lt.tm_year}:{lt.tm_hour:02d}:{lt.tm_min:02d}:"
            f"{lt.tm_sec:02d}.{int(t * 1000) % 1000:03d}")


class Record:
    """One request as the httplog line tells it."""

    __slots__ = ("client", "port", "date", "frontend", "backend", "server", "TR", "Tw", "Tc", "Tr", "Ta",
                 "status", "bytes", "term", "ac", "fc", "bc", "sc", "rc", "sq", "bq", "request")

    def __init__(self, **kw) -> None:
        for k in self.__slots__:
            setattr(self, k, kw.get(k, 0))

    def httplog(self) -> str:
        return (f"{self.client}:{self.port} [{log_date(self.date)}] {self.frontend} {self.backend}/{self.server} "
                f"{self.TR}/{self.Tw}/{self.Tc}/{self.Tr}/{self.Ta} {self.status} {self.bytes} - - {self.term} "
                f"{self.ac}/{self.fc}/{self.bc}/{self.sc}/{self.rc} {self.sq}/{self.bq} \"{self.request}\"")


class Logs:
    """The lines the engine logged, bounded, each with a global index: ``since(i)`` -> (lines, next)."""

    def __init__(self, size: int = 10000) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=size)
        self.total = 0
        self.writers: list[Callable[[str], None]] = []  # e.g. the command line's print to stdout

    def emit(self, line: str) -> None:
        self.lines.append(line)
        self.total += 1
        for w in self.writers:
            w(line)

    def since(self, index: int = 0) -> tuple[list[str], int]:
        first = self.total - len(self.lines)
        return list(self.lines)[max(index - first, 0):], self.total


def term_flags(cause: str, state: str) -> str:
    """The 4-char ``%tsc``: who ended the session, at which stage, and '--' (no persistence cookie)."""
    return f"{cause}{state}--"
