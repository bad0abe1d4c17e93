"""Sample expressions: ``fetch(args),converter(args),...`` parsed once at load, evaluated per request.

Follows src/sample.c (sample_parse_expr, make_arg_list: the fetch, its arguments between parentheses
and separated by commas, then converters after commas) and src/map.c / src/sample.c for the converters
the engine implements (``lower``, ``upper``, ``field``, ``length``, the ``map`` family). The error
texts are HAProxy's; the callers (ACLs, log-format strings) add their own context around them.

A fetch or converter HAProxy knows but the engine does not implement parses (its arguments are not
checked) and marks the expression ``missing``: the caller warns, naming it, and never evaluates it.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .fetches import ARG_CHECKS, IMPLEMENTED, LAYER4, Ctx
from .keywords import CONVERTERS, FETCHES
from .maps import MapError, MapFile, MapStore, as_output

MAP_MATCHES = ("str", "beg", "sub", "dir", "dom", "end", "reg", "int", "ip")
# map_<match>[_<output>] (src/map.c): 'map' is map_str; the value is a string unless _int or _ip
MAP_METHODS = {f"map_{m}{o}": (m, o[1:] or "str") for m in MAP_MATCHES for o in ("", "_int", "_ip")}
MAP_METHODS["map"] = ("str", "str")
CONVERTERS_DONE = ("lower", "upper", "field", "length", *MAP_METHODS)


class SampleError(ValueError):
    """A sample expression HAProxy refuses; the message is HAProxy's, without the caller's context."""


def _signature(sig: str) -> tuple[list[str], int]:
    """'string[,integer]' -> (['string', 'integer'], required 1)."""
    required = sig.split("[", 1)[0]
    names = [t for t in sig.replace("[", ",").replace("]", "").split(",") if t]
    need = [t for t in required.split(",") if t]
    while need and need[-1] == "table":  # an omitted table is the current proxy's (src_conn_cur)
        need.pop()
    return names, len(need)


def parse_args(text: str, pos: int, sig: str, stop: str = "") -> tuple[list[str], int]:
    """arg.c make_arg_list: the arguments between '(' at ``pos`` and its ')', typed by ``sig``. Returns
    them (as written) and the position after ')'. An empty argument is an empty string where a string
    is expected ('str()'), and nothing otherwise. Errors as HAProxy words them, without the 'fetch
    method ...' context the caller adds. (``stop`` is accepted for symmetry: HAProxy reads the
    arguments to their ')' wherever they sit.)"""
    names, required = _signature(sig)
    values: list[str] = []
    i = pos + 1
    while True:
        if len(values) >= len(names):  # every argument read: only ')' may follow
            if text[i:i + 1] == ")":
                return values, i + 1
            rest = text[i - 1:] if values and text[i - 1:i] == "," else text[i:]
            raise SampleError(f"expected ')' before '{rest}'" if rest else "expected ')'")
        j, depth = i, 0
        while j < len(text) and (text[j] not in ",)" or depth):
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        if j >= len(text):
            raise SampleError("expected ')'")
        word, kind = text[i:j], names[len(values)]
        if not word and text[j] == ")" and kind != "string":
            if len(values) < required:
                raise SampleError(f"expected type '{kind}' at position {len(values) + 1}, but got nothing")
            return values, j + 1
        _check_type(word, kind, len(values) + 1)
        values.append(word)
        i = j + 1
        if text[j] == ")":
            if len(values) < required:
                raise SampleError(f"expected type '{names[len(values)]}' at position {len(values) + 1}, "
                                  "but got nothing")
            return values, i
        if len(values) >= len(names):
            raise SampleError(f"expected ')' before '{text[j:]}'")


def _check_type(word: str, kind: str, position: int) -> None:
    """An argument that its declared type cannot read: HAProxy's error."""
    if kind == "integer":
        ok = (word[1:] if word[:1] in "+-" else word).isdigit()
    elif kind in ("IPv4 address", "IPv6 address"):
        try:
            ipaddress.ip_address(word)
            ok = True
        except ValueError:
            ok = False
    else:
        return
    if not ok:
        raise SampleError(f"failed to parse '{word}' as type '{kind}' at position {position}")


@dataclass(frozen=True)
class Conv:
    name: str
    args: tuple[str, ...]
    map: MapFile | None = None

    def apply(self, value):
        n = self.name
        if n == "lower":
            return str(value).lower()
        if n == "upper":
            return str(value).upper()
        if n == "length":
            return len(str(value))
        if n == "field":
            return _field(str(value), self.args)
        if self.map is not None:
            out = MAP_METHODS[n][1]
            e = self.map.lookup(str(int(value) if isinstance(value, bool) else value))
            if e is not None:
                return as_output(e.value, out)
            return as_output(self.args[1], out) if len(self.args) > 1 else None
        return None


def _field(text: str, args: tuple[str, ...]) -> str | None:
    """field(index,delimiters[,count]): the index-th field (from 1, or from the end when negative)."""
    index, delims = int(args[0]), args[1]
    count = int(args[2]) if len(args) > 2 else 1
    parts, cur = [], ""
    for ch in text:
        if ch in delims:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    if index == 0 or abs(index) > len(parts):
        return None
    if index > 0:
        chosen = parts[index - 1:index - 1 + (count or len(parts))]
    else:
        start = len(parts) + index - (count or len(parts)) + 1
        chosen = parts[max(start, 0):len(parts) + index + 1]
    return delims[0].join(chosen) if delims else "".join(chosen)


@dataclass(frozen=True)
class Expr:
    """A parsed sample expression."""

    text: str
    fetch: str
    args: tuple[str, ...]
    convs: tuple[Conv, ...]
    missing: str | None = None  # a keyword HAProxy knows that the engine does not implement

    def values(self, ctx: Ctx, in_acl: bool = False) -> list:
        """Every value the fetch gives (all occurrences in an ACL), each through the converters."""
        out = []
        if ctx.req is None and self.fetch not in LAYER4:  # mode tcp: an HTTP fetch finds no sample
            return out
        for v in IMPLEMENTED[self.fetch](ctx, list(self.args), in_acl):
            for c in self.convs:
                v = c.apply(v)
                if v is None:
                    break
            if v is not None:
                out.append(v)
        return out

    def value(self, ctx: Ctx):
        """The sample (the first value), or None when the fetch or a converter gives none."""
        got = self.values(ctx)
        return got[0] if got else None


def parse_expr(text: str, pos: int, maps: MapStore | None, where: str, stop: str = "") -> tuple[Expr, int]:
    """The expression starting at ``text[pos]``, up to the end or a character of ``stop``.
    Returns it and the position after it. ``where`` names the config line for map references."""
    start = pos
    n = len(text)

    def name_end(i: int) -> int:
        while i < n and text[i] not in "(," and text[i] not in stop:
            i += 1
        return i

    end = name_end(pos)
    fetch = text[pos:end]
    if not fetch:
        raise SampleError("missing fetch method")
    if fetch not in FETCHES:
        raise SampleError(f"unknown fetch method '{fetch}'")
    args: list[str] = []
    pos = end
    missing = None if fetch in IMPLEMENTED else f"fetch '{fetch}'"
    if pos < n and text[pos] == "(":
        try:
            args, pos = parse_args(text, pos, FETCHES[fetch][0], stop)
        except SampleError as e:
            raise SampleError(f"fetch method '{fetch}' : {e}") from None
    elif _signature(FETCHES[fetch][0])[1]:
        raise SampleError(f"fetch method '{fetch}' : expected type '{_signature(FETCHES[fetch][0])[0][0]}' at "
                          "position 1, but got nothing")
    check = ARG_CHECKS.get(fetch)
    problem = check(args) if check is not None else None
    if problem:
        raise SampleError(f"invalid args in fetch method '{fetch}' : {problem}")
    convs = []
    while pos < n and text[pos] == ",":
        pos += 1
        end = name_end(pos)
        name = text[pos:end]
        if not name:
            break
        if name not in CONVERTERS:
            raise SampleError(f"unknown converter '{name}'")
        pos = end
        cargs: list[str] = []
        sig = CONVERTERS[name][0]
        if pos < n and text[pos] == "(":
            try:
                cargs, pos = parse_args(text, pos, sig, stop)
            except SampleError as e:
                raise SampleError(f"invalid arg 1 in converter '{name}' : {e}") from None
        elif _signature(sig)[1]:
            raise SampleError(f"missing args for converter '{name}' : expected type '{_signature(sig)[0][0]}' at "
                              "position 1, but got nothing")
        mf = None
        if name in MAP_METHODS:
            path = cargs[0] if cargs else ""
            try:
                mf = maps.load(path, *MAP_METHODS[name], where=where) if maps is not None else None
            except MapError as e:
                raise SampleError(f"invalid args in converter '{name}' : {e}") from None
        if name not in CONVERTERS_DONE and missing is None:
            missing = f"converter '{name}'"
        convs.append(Conv(name, tuple(cargs), mf))
    if pos < n and text[pos] not in stop and not text[pos].isspace():
        raise SampleError(f"syntax error: missing ',' after '{text[start:pos]}'")
    return Expr(text[start:pos], fetch, tuple(args), tuple(convs), missing), pos
