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
from dataclasses import dataclass

from .fetches import strl2ic
from .regexp import compile_regex, regex_error

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
    if pl == 0:  # only delimiters: HAProxy compares the byte after the sample with the pattern's NUL (never
        return False  # equal in a request: ' ', '?' or CR follow), so it never matches (measured on 2.6.12)
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


def _number(text: str) -> int | None:
    """strl2llrc: an optional sign then digits, the whole of ``text``; None otherwise."""
    digits = text[1:] if text[:1] in "+-" else text
    return int(text) if digits.isdigit() and digits.isascii() else None


def parse_int_range(text: str) -> tuple[int | None, int | None]:
    """pat_parse_int: 'N', 'N:M' or 'N-M', ':M' or '-M', 'N:' or 'N-' -> (low, high), None when open.
    The first ':' or '-' separates, so HAProxy reads '-1' as ':1' (at most 1): a negative bound cannot
    be written. Anything else is HAProxy's error."""
    cut = min((i for i in (text.find(":"), text.find("-")) if i >= 0), default=-1)
    bad = PatternError(f"'{text}' is not a valid number range.")
    if not text:
        raise bad
    if cut < 0:
        value = _number(text)
        if value is None:
            raise PatternError(f"'{text}' is not a number.")
        return value, value
    low_text, high_text = text[:cut], text[cut + 1:]
    if cut == 0 and high_text:
        high = _number(high_text)
        if high is None:
            raise bad
        return None, high
    if not high_text:
        low = _number(low_text)
        if low is None:
            raise bad
        return low, None
    low, high = _number(low_text), _number(high_text)
    if low is None or high is None or low > high:
        raise bad
    return low, high


def _with_operator(word: str, operator: str) -> tuple[int | None, int | None]:
    """acl.c's compatibility layer for 'ge 3', 'lt 3' ...: the one number after the operator."""
    n = _number(word)
    if n is None:
        raise PatternError(f"'{word}' is neither a number nor a supported operator.")
    return {"eq": (n, n), "ge": (n, None), "gt": (n + 1, None), "le": (None, n), "lt": (None, n - 1)}[operator]


def _ip_pattern(word: str):
    """pat_parse_ip: an address, or a network with a prefix length or a dotted mask."""
    try:
        return ipaddress.ip_network(word, strict=False) if "/" in word else ipaddress.ip_network(word)
    except ValueError:
        raise PatternError(f"'{word}' is not a valid IPv4 or IPv6 address.") from None


@dataclass(frozen=True)
class Matcher:
    """Compiled patterns and how to compare a sample with them."""

    method: str
    patterns: tuple
    icase: bool = False
    raw: tuple = ()  # the patterns as written (methods compare a known method without -i)
    missing: str | None = None  # a pattern HAProxy accepts that the engine cannot evaluate

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
                text = str(value)
                if not text:  # c_str2int: an empty string does not cast
                    return False
                value = strl2ic(text)  # a leading integer, 0 when there is none ('5abc' is 5, 'abc' 0)
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
        out, op = [], "eq"
        for w in words:
            if w in _OPERATORS:
                op = w
                continue
            # a range ('1:3', '1-3', '-3') is read as written; one number takes the operator before it
            out.append(_with_operator(w, op) if op != "eq" and ":" not in w and "-" not in w
                       else parse_int_range(w))
        return Matcher(method, tuple(out), icase)
    if method == "ip":
        return Matcher(method, tuple(_ip_pattern(w) for w in words), icase)
    if method == "reg":
        compiled, missing = [], None
        for w in words:
            err = regex_error(w, icase)
            if err:
                raise PatternError(f"{err}.")
            rx = compile_regex(w, icase)
            if rx is None:  # PCRE reads it, Python's re cannot: the engine cannot evaluate it
                missing = missing or f"regex '{w}' (PCRE syntax Python's re does not read)"
            else:
                compiled.append(rx)
        return Matcher(method, tuple(compiled), icase, missing=missing)
    if method in ("found", "bool"):
        return Matcher(method, (), icase)
    return Matcher(method, tuple(w.lower() for w in words) if icase else tuple(words), icase, tuple(words))
