"""The values of http-request/http-response rules: log-format strings and regexes, read as HAProxy 2.6 reads them.

``parse_fmt`` is the one place a log-format value is read: literal text, ``%%``, the variables
that need no sample fetch (%ci %cp %fi %fp), and ``%[...]`` sample expressions (read by
engine/sample's ``parse_expr``) become parts that proxy/actions.py's ``render`` turns into bytes.
``check_regex`` compiles a regex with Python's ``re`` (standing for PCRE2) and words its errors as
PCRE2 does for the common mistakes.

Follows src/log.c (parse_logformat_string, the variable names) and src/regex.c of HAProxy 2.6
(Copyright Willy Tarreau and contributors, GPL-2.0-or-later).
"""
from __future__ import annotations

import re

from ..sample import SampleError, parse_expr
from ..sample.keywords import fetch_source, usable_at

LOG_VARIABLES = frozenset(
    "o B CC CS H ID ST T Ta Tc Th Ti Tl Tq Tr TR Td Ts Tt Tu Tw U ac b bc bi bp bq ci cp f fc fi fp ft hr hrl "
    "hs hsl HM HP HPO HQ HU HV lc ms pid r rc rt s sc si sp sq sslc sslv t tr trg trl ts tsc".split())
ENGINE_VARIABLES = ("ci", "cp", "fi", "fp")  # need no sample fetch: the connection's addresses


class Refused(Exception):
    """An action's arguments HAProxy refuses: the message after 'rule : '."""


def parse_fmt(text: str, maps=None, where: str = "", column: int | None = None) -> tuple | None:
    """A log-format string -> its parts (bytes; a variable's name; an engine/sample ``Expr`` for
    ``%[...]``); None when the engine cannot render it (a fetch or converter it lacks, a log variable
    it does not have, %{...} options). Raises Refused where HAProxy refuses the string: an unknown
    variable, a bad sample expression, a fetch that cannot be used at ``column`` of keywords.FETCHES'
    "where" (src/log.c parse_logformat_string, add_sample_to_logformat_list)."""
    parts: list = []
    lit = bytearray()
    i, n = 0, len(text)
    usable = True
    while i < n:
        c = text[i]
        if c != "%":
            lit += c.encode("latin-1", "replace")
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt == "%":
            lit += b"%"
            i += 2
            continue
        if nxt == "[":
            if text.find("]", i + 2) < 0:
                raise Refused(f"missing ']' after '{text[i + 2:]}'")
            try:
                expr, end = parse_expr(text, i + 2, maps, where, stop="]")
            except SampleError as e:
                msg = str(e)[:-1] if str(e).endswith(".") else str(e)
                raise Refused(f"failed to parse sample expression <{text[i + 2:]}> : {msg}") from None
            if end >= n or text[end] != "]":
                raise Refused(f"missing ']' after '{text[i + 2:end]}'")
            if column is not None and not usable_at(expr.fetch, column):
                raise Refused(f"sample fetch <{text[i + 2:]}> may not be reliably used here because it needs "
                              f"'{fetch_source(expr.fetch)}' which is not available here")
            if lit:
                parts.append(bytes(lit))
                lit = bytearray()
            parts.append(expr)
            usable = usable and not expr.missing
            i = end + 1
            continue
        if nxt == "{":
            usable = False
            end = text.find("}", i)
            i = n if end < 0 else end + 1
            continue
        j = i + 1
        while j < n and (text[j].isalnum() or text[j] == "_"):
            j += 1
        name = text[i + 1:j]
        if name not in LOG_VARIABLES:
            raise Refused(f"no such format variable '{name}'. If you wanted to emit the '%' character "
                          "verbatim, you need to use '%%'")
        if name in ENGINE_VARIABLES:
            if lit:
                parts.append(bytes(lit))
                lit = bytearray()
            parts.append(name)
        else:
            usable = False
        i = j
    if lit:
        parts.append(bytes(lit))
    return tuple(parts) if usable else None


def check_regex(pattern: str, lead: str = "") -> str:
    """Compile-check ``pattern`` (Python's re standing for PCRE2); Refused in HAProxy's words."""
    try:
        re.compile(pattern.encode("utf-8"))
    except re.error as e:
        msg, off = _pcre_error(e, pattern)
        raise Refused(f"{lead}regex '{pattern}' is invalid (error={msg}, erroffset={off})") from None
    return pattern


def _pcre_error(e: re.error, pattern: str) -> tuple[str, int]:
    """PCRE2's wording for the common mistakes (Python's for the rest)."""
    text, pos = e.msg, e.pos or 0
    if text.startswith("missing ), unterminated subpattern"):
        return "missing closing parenthesis", len(pattern)
    if text.startswith("unbalanced parenthesis"):
        return "unmatched closing parenthesis", pos
    if text.startswith("nothing to repeat") or text.startswith("multiple repeat"):
        return "quantifier does not follow a repeatable item", pos
    if text.startswith("unterminated character set"):
        return "missing terminating ] for character class", len(pattern)
    return text, pos
