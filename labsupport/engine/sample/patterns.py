"""Pattern matching: how an ACL compares a sample with its patterns, as HAProxy 2.6 does.

Follows src/pattern.c: ``pat_match_str`` (the same string), ``beg``, ``end``, ``sub``, ``dir`` and ``dom``
(``match_word``: the pattern as whole words between delimiters), ``reg``, ``len``, ``found``, ``int``
(values and ranges, with the operators eq/ge/gt/le/lt), ``ip`` (addresses and networks), ``bool``, and
``meth`` (HTTP methods). ``-i`` compares without case (PAT_MF_IGNORE_CASE).

How it works: ``compile_patterns(method, words, icase)`` checks the patterns once, at load, and returns a
``Matcher``, or raises ``PatternError`` with HAProxy's words; ``Matcher.matches(value)`` then decides
for one sample value. The errors are HAProxy's own text, located by the caller.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

METHODS = ("str", "beg", "end", "sub", "dir", "dom", "reg", "len", "found", "int", "ip", "bool", "bin", "meth")
_DIR_DELIMS = frozenset("/?")
_DOM_DELIMS = frozenset("/?.:")
KNOWN_METHODS = ("OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT")  # HTTP_METH_* of 2.6
_OPERATORS = {"eq": "eq", "ge": "ge", "gt": "gt", "le": "le", "lt": "lt"}


class PatternError(ValueError):
    """A pattern HAProxy refuses: the message is HAProxy's."""


def _match_word(sample: str, pattern: str, delims: frozenset, icase: bool) -> bool:
    """pattern.c match_word: ``pattern`` found in ``sample`` between delimiters (or the ends); the
    pattern's own leading and trailing delimiters do not count."""
    ps = pattern
    while ps and ps[0] in delims:
        ps = ps[1:]
    while ps and ps[-1] in delims:
        ps = ps[:-1]
    pl = len(ps)
    if pl > len(sample):
        return False
    if icase:
        sample, ps = sample.lower(), ps.lower()
    may_match = True
    end = len(sample) - pl
    for c in range(end + 1):
        ch = sample[c]
        if ch in delims:
            may_match = True
            continue
        if not may_match:
            continue
        if sample.startswith(ps, c) and (c == end or sample[c + pl] in delims):
            return True
        may_match = False
    return False


def _int_pattern(word: str) -> tuple[int | None, int | None]:
    """'10', '10:20', ':20', '10:' -> (min, max) as pat_parse_int; anything else is HAProxy's error."""
    def number(text: str) -> int:
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise PatternError(f"'{word}' is not a valid number range." if ":" in word
                               else f"'{word}' is neither a number nor a supported operator.")
        return int(text)

    if ":" in word:
        low, _, high = word.partition(":")
        return (number(low) if low else None), (number(high) if high else None)
    n = number(word)
    return n, n


def _ip_pattern(word: str):
    try:
        return ipaddress.ip_network(word, strict=False)
    except ValueError:
        raise PatternError(f"'{word}' is not a valid IPv4 or IPv6 address.") from None


@dataclass(frozen=True)
class Matcher:
    """Compiled patterns and how to compare a sample with them."""

    method: str
    patterns: tuple
    icase: bool = False
    raw: tuple = ()  # the patterns as written (methods compare a known method without -i)

    def matches(self, value) -> bool:
        m = self.method
        if m == "found":
            return True
        if m in ("int", "len"):
            if m == "len":
                value = len(str(value))
            elif isinstance(value, bool):
                value = int(value)
            elif not isinstance(value, int):
                try:
                    value = int(str(value))
                except ValueError:
                    return False
            return any((low is None or value >= low) and (high is None or value <= high)
                       for low, high in self.patterns)
        if m == "bool":
            return bool(value)
        if m == "ip":
            try:
                addr = ipaddress.ip_address(str(value))
            except ValueError:
                return False
            for net in self.patterns:
                if addr.version != net.version:  # an IPv4 client against an IPv6 network: mapped form
                    if addr.version == 4 and net.version == 6 and ipaddress.IPv6Address(f"::ffff:{addr}") in net:
                        return True
                    if addr.version == 6 and addr.ipv4_mapped is not None and addr.ipv4_mapped in net:
                        return True
                    continue
                if addr in net:
                    return True
            return False
        text = value if isinstance(value, str) else str(int(value) if isinstance(value, bool) else value)
        if m == "reg":
            return any(p.search(text) for p in self.patterns)
        if self.icase:
            text = text.lower()
        if m == "meth":  # pat_match_meth: a known method only as itself, in capitals; -i for the others
            if text.upper() in KNOWN_METHODS:
                return any(p == value for p in self.raw)
            return text in self.patterns
        if m in ("str", "bin"):
            return text in self.patterns
        if m == "beg":
            return any(text.startswith(p) for p in self.patterns)
        if m == "end":
            return any(text.endswith(p) for p in self.patterns)
        if m == "sub":
            return any(p in text for p in self.patterns)
        if m == "dir":
            return any(_match_word(text, p, _DIR_DELIMS, False) for p in self.patterns)
        if m == "dom":
            return any(_match_word(text, p, _DOM_DELIMS, False) for p in self.patterns)
        return False


def compile_patterns(method: str, words: list[str], icase: bool) -> Matcher:
    """The patterns of one ACL (or a -f file's lines) for ``method``; raises PatternError as HAProxy does."""
    if method in ("int", "len"):
        out, op = [], None
        for w in words:
            if op is None and w in _OPERATORS:
                op = w
                continue
            low, high = _int_pattern(w)
            if op is not None:  # 'gt 5' and friends apply to the one value after them
                n = low
                low, high = {"eq": (n, n), "ge": (n, None), "gt": (n + 1, None), "le": (None, n),
                             "lt": (None, n - 1)}[op]
                op = None
            out.append((low, high))
        return Matcher(method, tuple(out), icase)
    if method == "ip":
        return Matcher(method, tuple(_ip_pattern(w) for w in words), icase)
    if method == "reg":
        compiled = []
        for w in words:
            try:
                compiled.append(re.compile(w, re.IGNORECASE if icase else 0))
            except re.error as e:
                raise PatternError(f"regex '{w}' is invalid (error={e.msg}, erroffset={e.pos}).") from None
        return Matcher(method, tuple(compiled), icase)
    if method in ("found", "bool"):
        return Matcher(method, (), icase)
    return Matcher(method, tuple(w.lower() for w in words) if icase else tuple(words), icase, tuple(words))
