"""Log-format strings with sample expressions: ``use_backend %[req.hdr(host),lower,map(hosts.map,web)]``.

Follows src/log.c (parse_logformat_string, build_logline) for what the engine needs: literal text, ``%%``,
``%[expr]`` (a sample expression, up to its ``]``; one that does not exist prints ``-``) and the variables
``%ci %cp %fi %fp %f``. Other ``%`` variables are HAProxy's but not the engine's: ``parse_logformat``
reports them as missing, so the caller warns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .expr import Expr, SampleError, parse_expr
from .fetches import Ctx
from .keywords import fetch_source, usable_at
from .maps import MapStore

# log.c's variables the engine renders: name -> the text of a request's value ('-' when there is none)
VARIABLES: dict[str, Callable] = {
    "ci": lambda ctx: ctx.src or "-", "cp": lambda ctx: "-" if ctx.sport is None else str(ctx.sport),
    "fi": lambda ctx: ctx.dst or "-", "fp": lambda ctx: "-" if ctx.dport is None else str(ctx.dport),
    "f": lambda ctx: ctx.fe_name,
}


class FormatError(ValueError):
    """A log-format string HAProxy refuses; the message is HAProxy's inner text."""


@dataclass(frozen=True)
class LogFormat:
    text: str
    parts: tuple  # str (literal) or Expr
    missing: str | None = None

    @property
    def static_name(self) -> str | None:
        """The name as written when HAProxy reads it as one plain text node, so as a static backend name
        (cfgparse.c check_config_validity), else None. Text alone makes one node unless a '%%' follows
        other text ('%%b' is the backend named '%%b'; 'b%%' is worked out per request, as 'b%')."""
        if not all(isinstance(p, str) for p in self.parts):
            return None
        pairs = self.text.count("%%")
        return self.text if pairs == 0 or (pairs == 1 and self.text.startswith("%%")) else None

    def render(self, ctx: Ctx) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif callable(part):
                out.append(part(ctx))
            else:
                v = part.value(ctx)  # a sample that does not exist prints '-' (log.c build_logline)
                out.append("-" if v is None else str(int(v) if isinstance(v, bool) else v))
        return "".join(out)


def parse_logformat(text: str, maps: MapStore | None, where: str, column: int | None = None) -> LogFormat:
    """A log-format string's parts; ``column``: where keywords.FETCHES says each fetch must be usable
    (add_sample_to_logformat_list refuses one that is not)."""
    parts: list = []
    missing = None
    i, lit = 0, ""
    while i < len(text):
        c = text[i]
        if c == "%" and text[i + 1:i + 2] == "[":
            if lit:
                parts.append(lit)
                lit = ""
            close = text.find("]", i + 2)
            if close < 0:
                raise FormatError(f"missing ']' after '{text[i + 2:]}'.")
            try:
                expr, end = parse_expr(text, i + 2, maps, where, stop="]")
            except SampleError as e:
                raise FormatError(f"failed to parse sample expression <{text[i + 2:]}> : {e}.") from None
            if end >= len(text) or text[end] != "]":
                raise FormatError(f"missing ']' after '{text[i + 2:end]}'.")
            if column is not None and not usable_at(expr.fetch, column):
                raise FormatError(f"sample fetch <{text[i + 2:]}> may not be reliably used here because it needs "
                                  f"'{fetch_source(expr.fetch)}' which is not available here.")
            parts.append(expr)
            missing = missing or expr.missing
            i = end + 1
            continue
        if c == "%" and text[i + 1:i + 2] == "%":  # '%%' is a literal '%'
            lit += c
            i += 2
            continue
        if c == "%" and text[i + 1:i + 2] != "":
            j = i + 1
            while j < len(text) and text[j].isalpha():
                j += 1
            if text[i + 1:j] in VARIABLES:  # %ci %cp %fi %fp %f: the connection's addresses, the frontend
                if lit:
                    parts.append(lit)
                    lit = ""
                parts.append(VARIABLES[text[i + 1:j]])
                i = j
                continue
            missing = missing or f"log-format variable '{text[i:i + 3]}...'"
        lit += c
        i += 1
    if lit:
        parts.append(lit)
    return LogFormat(text, tuple(parts), missing)


def is_dynamic(text: str) -> bool:
    """Is a use_backend name a log-format string? HAProxy reads it as one when it holds a '%'
    (cfgparse-listen.c); one that turns out to be text alone ('b%%x') names a backend statically."""
    return "%" in text


__all__ = ["Expr", "FormatError", "LogFormat", "is_dynamic", "parse_logformat"]
