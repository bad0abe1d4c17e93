"""Small edits to haproxy.cfg *text*, keeping every other line (and comment) as the student wrote it.

The dashboard changes a running balancer's algorithm by reloading an edited copy of its config,
and exercises build a config from a student's weights; both need the same three edits:

    edit_backend(text, balance="leastconn", weights={"server01": 4})   # one backend's lines
    rebind(text, 3999)                                                  # every 'bind' to another port

Sections, servers and binds are found the way haproxy reads the file (``engine.config.outline``:
its line splitting and its section keywords); only the words being changed are rewritten in place,
so the rest of each line, its indentation and its comment stay as they were.
"""
from __future__ import annotations

from typing import Mapping

from ..engine.config import SourceLine, outline
from ..errors import UsageError

SERVER_SECTIONS = ("backend", "listen")


def _in_backend(line: SourceLine, backend: str) -> bool:
    return line.section in SERVER_SECTIONS and line.name == backend and not line.opens


def backends_in(text: str) -> list[str]:
    """The names of the sections that can hold servers (``backend`` and ``listen``), in order."""
    return [ln.name for ln in outline(text) if ln.opens and ln.section in SERVER_SECTIONS and ln.name]


def servers_in(text: str, backend: str) -> list[str]:
    """The server names declared in ``backend``, in order."""
    return [ln.words[1] for ln in outline(text)
            if _in_backend(ln, backend) and ln.words[0:1] == ("server",) and len(ln.words) > 2]


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


def _with_weight(line: SourceLine, weight: int) -> str:
    """A server line with its ``weight`` value replaced, or ``weight N`` added after its last word."""
    words = line.words
    for i in range(3, len(words) - 1):  # after 'server NAME ADDRESS': the keywords and their values
        if words[i] == "weight":
            return line.with_word(i + 1, str(weight))
    return line.with_word(len(words) - 1, f"{words[-1]} weight {weight}")


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
    lines = outline(text)
    has_balance = any(_in_backend(ln, name) and ln.words[0:1] == ("balance",) for ln in lines)
    out = []
    for ln in lines:
        body = ln.text
        if ln.opens and ln.section in SERVER_SECTIONS and ln.name == name:
            if balance is not None and not has_balance:
                body += f"\n    balance {balance}"
        elif _in_backend(ln, name) and balance is not None and ln.words[0:1] == ("balance",):
            body = f"{ln.indent}balance {balance}"  # its old comment would now be wrong, so it goes too
        elif _in_backend(ln, name) and ln.words[0:1] == ("server",) and len(ln.words) > 2 \
                and ln.words[1] in weights:
            body = _with_weight(ln, int(weights[ln.words[1]]))
        out.append(body)
    return "\n".join(out)


def rebind(text: str, port: int, host: str = "127.0.0.1") -> str:
    """``text`` with every ``bind`` line moved to ``host:port`` (one frontend, run beside another copy)."""
    out = []
    for ln in outline(text):
        body = ln.text
        if ln.words[0:1] == ("bind",) and len(ln.words) > 1:
            body = ln.with_word(1, f"{host}:{port}")
        out.append(body)
    return "\n".join(out)


def section(text: str, kind: str, name: str = "") -> str:
    """The lines of one section (``section(text, "frontend", "edge")``), as written, trailing blank lines
    left out: what a lesson prints to show the part of a file it is about."""
    lines = [ln.text for ln in outline(text) if ln.section == kind and ln.name == name]
    if not lines:
        raise UsageError(f"no '{kind}{' ' + name if name else ''}' section in this configuration")
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)
