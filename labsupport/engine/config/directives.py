"""HAProxy 2.6's conditional blocks and message directives: ``.if/.elif/.else/.endif``,
``.warning/.notice/.alert/.diag``.

Follows src/cfgparse.c (readcfgfile) and src/cfgcond.c (HAProxy, Copyright Willy Tarreau and
contributors, GPL-2.0-or-later). A condition is ``expr := and [ '||' expr ]``, ``and := term
[ '&&' and ]``, ``term := '!' term | '(' expr ')' | predicate | word``; a word is true unless it
is empty or an integer equal to 0; predicates: defined(VAR), feature(NAME), streq(a,b),
strneq(a,b), version_atleast(V), version_before(V). Lines in a false block are skipped whole.
Messages are worded as haproxy -c prints them (checked in tests/configs).
"""
from __future__ import annotations

import os

from ...errors import Message
from .context import Context

VERSION = (2, 6, 12)  # the HAProxy version the engine follows (version_atleast / version_before)
# HAProxy 2.6.12 (Debian) build features, from ``haproxy -vv``
FEATURES = frozenset(("ACCEPT4 BACKTRACE CPU_AFFINITY CRYPT_H DL EPOLL GETADDRINFO LIBCRYPT LINUX_SPLICE "
                      "LINUX_TPROXY LUA NETFILTER NS OPENSSL OT PCRE2 PCRE2_JIT POLL PRCTL PROMEX RT SLZ "
                      "SYSTEMD TFO THREAD THREAD_DUMP TPROXY").split())
LEVELS = {".warning": "WARNING", ".notice": "NOTICE", ".alert": "ALERT"}


class CondError(ValueError):
    """An unparsable condition: ``pos`` is where in the expression it went wrong, ``what`` the
    message's start (``{text}`` is replaced by the expression as haproxy quotes it)."""

    def __init__(self, pos: int, what: str = "unparsable conditional expression '{rest}'") -> None:
        super().__init__(pos)
        self.pos, self.what = pos, what


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = ""
        for c in piece:
            if c not in "0123456789":
                break
            digits += c
        parts.append(int(digits or 0))
    return tuple(parts)


class _Expr:
    """A recursive-descent reader of one condition string."""

    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0

    def _blank(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def expr(self) -> bool:
        left = self.conj()
        self._blank()
        if self.s.startswith("||", self.i):
            self.i += 2
            return self.expr() or left
        return left

    def conj(self) -> bool:
        left = self.term()
        self._blank()
        if self.s.startswith("&&", self.i):
            self.i += 2
            return self.conj() and left
        return left

    def term(self) -> bool:
        self._blank()
        s, i = self.s, self.i
        if s.startswith("!", i):
            self.i += 1
            if not s[self.i:].strip():  # haproxy points at the '!' itself
                raise CondError(i)
            return not self.term()
        if s.startswith("(", i):
            self.i += 1
            value = self.expr()
            self._blank()
            if not self.s.startswith(")", self.i):
                raise CondError(i, "expected ')' after conditional expression '{rest}'")
            self.i += 1
            return value
        j = i
        while j < len(s) and s[j] not in " \t()&|!,":
            j += 1
        word = s[i:j]
        if j < len(s) and s[j] == "(":  # a predicate
            end = s.find(")", j)
            if end < 0:
                raise CondError(i)
            args = [a.strip() for a in s[j + 1:end].split(",")]
            self.i = end + 1
            return self._predicate(word, args, i)
        self.i = j
        digits = word[1:] if word[:1] == "-" else word
        if not (digits and all(c in "0123456789" for c in digits)):
            raise CondError(i)  # a bare word is neither a number nor a predicate
        return int(word) != 0

    def _predicate(self, name: str, args: list[str], at: int) -> bool:
        if name == "defined" and len(args) == 1:
            return args[0] in os.environ
        if name == "feature" and len(args) == 1:
            return args[0] in FEATURES
        if name in ("streq", "strneq") and len(args) == 2:
            return (args[0] == args[1]) == (name == "streq")
        if name == "version_atleast" and len(args) == 1:
            return VERSION >= _version(args[0])
        if name == "version_before" and len(args) == 1:
            return VERSION < _version(args[0])
        raise CondError(at)


def evaluate(text: str) -> bool:
    """The value of a condition; raises ``CondError`` when haproxy could not parse it."""
    if not text.strip():
        return False
    e = _Expr(text)
    value = e.expr()
    e._blank()
    if e.i != len(text):
        raise CondError(e.i, f"unexpected character '{text[e.i]}' at the end of conditional expression '{{text}}'")
    return value


class Blocks:
    """The stack of open ``.if`` blocks while reading a file."""

    def __init__(self) -> None:
        self.stack: list[list] = []  # [taking this branch, a branch was taken, seen .else, line]

    @property
    def active(self) -> bool:
        return all(level[0] for level in self.stack)

    def _condition(self, p: Context, args: list[str], raw: str) -> bool | None:
        """The condition's value; None (after an alert) when haproxy cannot parse it."""
        text = " ".join(args[1:])
        try:
            return evaluate(text)
        except CondError as e:
            body = raw.lstrip(" \t")
            start = body.find(args[1]) if len(args) > 1 else len(body)
            what = e.what.format(rest=text[e.pos:], text=text)
            p.alert(f"parsing [{p.file}:{p.line}]: {what} in '{args[0]}' "
                    f"at position {e.pos + 1}:\n  {body}\n  {' ' * (max(start, 0) + e.pos)}^")
            return None

    def handle(self, p: Context, args: list[str], raw: str) -> str | None:
        """Apply a directive line; returns "abort" when parsing must stop, else None."""
        word = args[0]
        where = f"parsing [{p.file}:{p.line}]: "
        outer = all(level[0] for level in self.stack)
        if word == ".if":
            take = self._condition(p, args, raw) if outer else False
            if take is None:
                return "abort"
            self.stack.append([take, take, False, p.line])
        elif word in (".elif", ".else", ".endif"):
            if not self.stack:
                p.alert(f"{where}lone '{word}' with no matching '.if'.")
                return "abort"
            level = self.stack[-1]
            if word == ".endif":
                self.stack.pop()
            elif level[2]:
                p.alert(f"{where}'{word}' after '.else' is not permitted.")
                return "abort"
            else:
                inner_outer = all(lv[0] for lv in self.stack[:-1])
                if word == ".else":
                    level[2] = True
                    level[0] = inner_outer and not level[1]
                else:
                    take = self._condition(p, args, raw) if inner_outer and not level[1] else False
                    if take is None:
                        return "abort"
                    level[0] = take
                    level[1] = level[1] or take
        elif not outer:
            return None
        elif word in LEVELS:
            p.messages.append(Message(LEVELS[word], f"{where}'{' '.join(args[1:])}'.", p.file, p.line))
            if word == ".alert":
                p.fatal = True
                return "abort"
        elif word == ".diag":
            pass  # printed only with haproxy -dD
        else:
            p.alert(f"{where}unknown directive '{word}'.")
        return None

    def finish(self, p: Context) -> bool:
        """At the end of a file: False (after an alert) when a block is still open."""
        if self.stack:
            p.alert(f"parsing [{p.file}:{p.line}]: non-terminated '.if' block.")
            return False
        return True
