"""Small edits to haproxy.cfg *text*, keeping every other line (and comment) as the student wrote it.

The dashboard changes a running balancer's algorithm by reloading an edited copy of its config,
and exercises build a config from a student's weights; both need the same three edits:

    edit_backend(text, balance="leastconn", weights={"server01": 4})   # one backend's lines
    rebind(text, 3999)                                                  # every 'bind' to another port

Lines are matched by HAProxy's keywords (``balance``, ``server NAME ADDR ... weight N``) inside
the chosen ``backend``/``listen`` section; anything else passes through untouched.
"""
from __future__ import annotations

import re
from typing import Mapping

from .errors import UsageError

# Every keyword that opens a section in HAProxy 2.6: a section ends where the next one starts.
SECTIONS = ("global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist", "program",
            "http-errors", "ring", "cache", "mailers")
_SECTION = re.compile(r"^\s*(" + "|".join(re.escape(s) for s in SECTIONS) + r")\b\s*(\S*)")
_BALANCE = re.compile(r"^(\s*)balance\b")
_SERVER = re.compile(r"^(\s*server\s+(\S+)\s+\S+)([^#]*?)(\s*#.*)?$")
_WEIGHT = re.compile(r"(\s)weight\s+\S+")
_BIND = re.compile(r"^(\s*bind\s+)(\S*?):(\d+)(.*)$")


def backends_in(text: str) -> list[str]:
    """The names of the sections that can hold servers (``backend`` and ``listen``), in order."""
    out = []
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m and m.group(1) in ("backend", "listen") and m.group(2):
            out.append(m.group(2))
    return out


def _pick_backend(text: str, backend: str | None) -> str:
    names = backends_in(text)
    if backend is not None:
        if backend not in names:
            raise UsageError(f"no backend named {backend!r} in this configuration (backends: "
                             f"{', '.join(names) or 'none'})")
        return backend
    with_servers = [n for n in names if servers_in(text, n)]
    if not with_servers:
        raise UsageError("this configuration has no backend with servers: add a 'backend' section with 'server' lines")
    return with_servers[0]


def servers_in(text: str, backend: str) -> list[str]:
    """The server names declared in ``backend``, in order."""
    out, inside = [], False
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            inside = m.group(1) in ("backend", "listen") and m.group(2) == backend
            continue
        s = _SERVER.match(line)
        if inside and s:
            out.append(s.group(2))
    return out


def edit_backend(text: str, *, backend: str | None = None, balance: str | None = None,
                 weights: Mapping[str, int] | None = None) -> str:
    """``text`` with one backend's ``balance`` line and/or servers' weights replaced.

    ``backend`` defaults to the first backend that has servers. A missing ``balance`` line is
    added under the section header. Unknown server names raise UsageError naming the known ones.
    """
    name = _pick_backend(text, backend)
    weights = dict(weights or {})
    known = servers_in(text, name)
    unknown = [s for s in weights if s not in known]
    if unknown:
        raise UsageError(f"backend {name!r} has no server named {', '.join(map(repr, unknown))} "
                         f"(its servers: {', '.join(known)})")
    has_balance = _has_balance(text, name)
    out, inside = [], False
    for line in text.splitlines(keepends=True):
        end = "\n" if line.endswith("\n") else ""
        body = line[:-1] if end else line
        m = _SECTION.match(body)
        if m:
            inside = m.group(1) in ("backend", "listen") and m.group(2) == name
            out.append(line)
            if inside and balance is not None and not has_balance:
                out.append(f"    balance {balance}\n")
            continue
        b = _BALANCE.match(body) if inside and balance is not None else None
        if b:  # replaced in place; its old comment would now be wrong, so it goes too
            out.append(f"{b.group(1)}balance {balance}{end}")
            continue
        s = _SERVER.match(body) if inside else None
        if s and s.group(2) in weights:
            head, opts, comment = s.group(1), s.group(3) or "", s.group(4) or ""
            w = int(weights[s.group(2)])
            if _WEIGHT.search(opts):
                opts = _WEIGHT.sub(lambda m: f"{m.group(1)}weight {w}", opts, count=1)
            else:
                opts = opts.rstrip() + f" weight {w}"
            body = head + opts + comment
            line = body + end
        out.append(line)
    return "".join(out)


def _has_balance(text: str, backend: str) -> bool:
    inside = False
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            inside = m.group(1) in ("backend", "listen") and m.group(2) == backend
        elif inside and _BALANCE.match(line):
            return True
    return False


def rebind(text: str, port: int, host: str = "127.0.0.1") -> str:
    """``text`` with every ``bind`` line moved to ``host:port`` (one frontend, run beside another copy)."""
    return "\n".join(_BIND.sub(lambda m: f"{m.group(1)}{host}:{port}{m.group(4)}", line)
                     for line in text.split("\n"))
