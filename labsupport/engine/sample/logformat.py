"""Log-format strings with sample expressions: ``use_backend %[req.hdr(host),lower,map(hosts.map,web)]``.

Follows src/log.c (parse_logformat_string) for what the engine needs: literal text and ``%[expr]``
(a sample expression, up to its ``]``). Other ``%`` variables are HAProxy's but not the engine's:
``parse_logformat`` reports them as missing, so the caller warns.
"""
from __future__ import annotations

from dataclasses import dataclass

from .expr import Expr, SampleError, parse_expr
from .fetches import Ctx
from .maps import MapStore


class FormatError(ValueError):
    """A log-format string HAProxy refuses; the message is HAProxy's inner text."""


@dataclass(frozen=True)
class LogFormat:
    text: str
    parts: tuple  # str (literal) or Expr
    missing: str | None = None

    def render(self, ctx: Ctx) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                v = part.value(ctx)
                out.append("" if v is None else str(int(v) if isinstance(v, bool) else v))
        return "".join(out)


def parse_logformat(text: str, maps: MapStore | None, where: str) -> LogFormat:
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
                msg = str(e) if str(e).endswith(".") else f"{e}."  # converter messages carry their own
                raise FormatError(f"failed to parse sample expression <{text[i + 2:]}> : {msg}") from None
            if end >= len(text) or text[end] != "]":
                raise FormatError(f"missing ']' after '{text[i + 2:end]}'.")
            parts.append(expr)
            missing = missing or expr.missing
            i = end + 1
            continue
        if c == "%" and text[i + 1:i + 2] not in ("", "%"):
            missing = missing or f"log-format variable '{text[i:i + 3]}...'"
        lit += c
        i += 1
    if lit:
        parts.append(lit)
    return LogFormat(text, tuple(parts), missing)


def is_dynamic(text: str) -> bool:
    """Does a use_backend name hold a log-format expression (HAProxy looks for '%[')?"""
    return "%[" in text


__all__ = ["Expr", "FormatError", "LogFormat", "is_dynamic", "parse_logformat"]
