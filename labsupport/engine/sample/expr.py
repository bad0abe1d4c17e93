"""Sample expressions: ``fetch(args),converter(args),...`` parsed once at load, evaluated per request.

Follows src/sample.c (sample_parse_expr, make_arg_list: the fetch, its arguments between parentheses
and separated by commas, then converters after commas) and src/map.c / src/sample.c for the converters
the engine implements (``lower``, ``upper``, ``field``, ``length``, the ``map`` family). The error
texts are HAProxy's; the callers (ACLs, log-format strings) add their own context around them.

A fetch or converter HAProxy knows but the engine does not implement parses (its arguments are not
checked) and marks the expression ``missing``: the caller warns, naming it, and never evaluates it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .fetches import IMPLEMENTED, Ctx
from .keywords import CONVERTERS, FETCHES
from .maps import MapFile, MapStore

MAP_METHODS = {"map": "str", "map_str": "str", "map_beg": "beg", "map_sub": "sub", "map_dir": "dir",
               "map_dom": "dom", "map_end": "end", "map_reg": "reg", "map_int": "int", "map_ip": "ip"}
CONVERTERS_DONE = ("lower", "upper", "field", "length", *MAP_METHODS)


class SampleError(ValueError):
    """A sample expression HAProxy refuses; the message is HAProxy's, without the caller's context."""


def _signature(sig: str) -> tuple[list[str], int]:
    """'string[,integer]' -> (['string', 'integer'], required 1)."""
    required = sig.split("[", 1)[0]
    names = [t for t in sig.replace("[", ",").replace("]", "").split(",") if t]
    return names, len([t for t in required.split(",") if t])


def parse_args(text: str, pos: int, sig: str, stop: str) -> tuple[list[str], int]:
    """make_arg_list: the arguments between '(' at ``pos`` and ')'. Returns them and the position after
    ')'. Errors as HAProxy words them (without 'fetch method ...' context)."""
    names, required = _signature(sig)
    end = text.find(")", pos)
    if end < 0 or any(c in text[pos:end] for c in stop):
        raise SampleError("expected ')'")
    raw = text[pos + 1:end]
    args = raw.split(",") if raw else []
    if len(args) > len(names):  # HAProxy stops after the last argument it expects
        consumed = ",".join(args[:len(names)])
        rest = text[pos + 1 + len(consumed):]
        raise SampleError(f"expected ')' before '{rest}'")
    for i, (arg, kind) in enumerate(zip(args, names)):
        if kind == "integer" and not arg.lstrip("+-").isdigit():
            raise SampleError(f"failed to parse '{arg}' as type 'integer' at position {i + 1}")
    if len(args) < required:
        raise SampleError(f"expected type '{names[len(args)]}' at position {len(args) + 1}, but got nothing")
    return args, end + 1


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
            e = self.map.lookup(str(value))
            if e is not None:
                return e.value
            return self.args[1] if len(self.args) > 1 else None
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
    elif not missing:
        try:
            parse_args("()", 0, FETCHES[fetch][0], "")
        except SampleError as e:
            raise SampleError(f"fetch method '{fetch}' : {e}") from None
    convs = []
    while pos < n and text[pos] == ",":
        pos += 1
        end = name_end(pos)
        name = text[pos:end]
        if not name:
            break
        if name not in CONVERTERS:
            raise SampleError(f"unknown converter '{name}'.")
        pos = end
        cargs: list[str] = []
        if pos < n and text[pos] == "(":
            sig = "[string,string]" if name in MAP_METHODS else CONVERTERS[name][0]  # the file is checked below
            try:
                cargs, pos = parse_args(text, pos, sig, stop)
            except SampleError as e:
                raise SampleError(f"invalid arg 1 in converter '{name}' : {e}.") from None
        elif name in MAP_METHODS or CONVERTERS[name][0][:1].isalpha():
            if name not in MAP_METHODS:
                raise SampleError(f"missing args for converter '{name}'.")
        mf = None
        if name in MAP_METHODS:
            path = cargs[0] if cargs else ""
            try:
                mf = maps.load(path, MAP_METHODS[name], where) if maps is not None else None
            except OSError:
                raise SampleError(f"invalid args in converter '{name}' : failed to open pattern file <{path}>.") \
                    from None
        if name not in CONVERTERS_DONE and missing is None:
            missing = f"converter '{name}'"
        convs.append(Conv(name, tuple(cargs), mf))
    if pos < n and text[pos] not in stop and not text[pos].isspace():
        raise SampleError(f"syntax error: missing ',' after '{text[start:pos]}'")
    return Expr(text[start:pos], fetch, tuple(args), tuple(convs), missing), pos
