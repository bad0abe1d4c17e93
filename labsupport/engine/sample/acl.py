"""ACLs and conditions: ``acl NAME CRITERION`` and ``if|unless`` on rules, as HAProxy 2.6 reads them.

Follows src/acl.c: parse_acl_expr (an ACL keyword such as ``path_beg``, or any sample fetch with its
converters; then the flags ``-i``, ``-m METHOD``, ``-f FILE``, ``-n``, ``-u``, ``-M``, ``--``; then the
patterns), parse_acl_cond / acl_exec_cond (terms side by side must all hold, ``||`` or ``or`` separates
alternatives, ``!`` negates the next term, ``{ ... }`` is an anonymous ACL), and the predefined ACLs.
An ACL keyword brings its match method (``path_beg`` is ``path -m beg``); a plain fetch matches by its
output type (a string exactly, a number as int, an address as ip, a boolean as bool).

How it works: ``parse_acl`` and ``parse_condition`` return plain objects or raise ``AclError`` with
HAProxy's text; ``Condition.holds(ctx)`` evaluates on a request (``fetches.Ctx``), fetching lazily;
``Condition.test(ctx)`` is acl_exec_cond's three-valued form for rules that may wait for more bytes
(``tcp-request content``): None while a sample that may still change has not matched. An
ACL that uses a fetch or converter the engine lacks is ``missing``: the caller warns, and the engine
never evaluates it (``holds`` treats it as not matching).
"""
from __future__ import annotations

from dataclasses import dataclass

from .expr import Expr, SampleError, parse_expr
from .fetches import Ctx
from .keywords import ACL_KEYWORDS, CONVERTERS, FETCHES
from .maps import MapStore
from .patterns import METHODS, Matcher, PatternError, compile_patterns

DEFAULT_METHOD = {"str": "str", "sint": "int", "bool": "bool", "ipv4": "ip", "ipv6": "ip", "addr": "ip",
                  "meth": "meth", "bin": "bin"}
# src/acl.c default_acl_list: name -> (fetch expression, match method, patterns)
PREDEFINED = {
    "FALSE": ("always_false", "bool", ()), "HTTP": ("req.proto_http", "bool", ()),
    "HTTP_1.0": ("req.ver", "str", ("1.0",)), "HTTP_1.1": ("req.ver", "str", ("1.1",)),
    "HTTP_2.0": ("req.ver", "str", ("2.0",)), "HTTP_3.0": ("req.ver", "str", ("3.0",)),
    "HTTP_CONTENT": ("req.hdr_val(content-length)", "int", ("gt", "0")),
    "HTTP_URL_ABS": ("url", "reg", ("^[^/:]*://",)), "HTTP_URL_SLASH": ("url", "beg", ("/",)),
    "HTTP_URL_STAR": ("url", "str", ("*",)), "LOCALHOST": ("src", "ip", ("127.0.0.1/8", "::1")),
    "METH_CONNECT": ("method", "meth", ("CONNECT",)), "METH_DELETE": ("method", "meth", ("DELETE",)),
    "METH_GET": ("method", "meth", ("GET", "HEAD")), "METH_HEAD": ("method", "meth", ("HEAD",)),
    "METH_OPTIONS": ("method", "meth", ("OPTIONS",)), "METH_POST": ("method", "meth", ("POST",)),
    "METH_PUT": ("method", "meth", ("PUT",)), "METH_TRACE": ("method", "meth", ("TRACE",)),
    "RDP_COOKIE": ("req.rdp_cookie_cnt", "int", ("gt", "0")), "REQ_CONTENT": ("req.len", "int", ("gt", "0")),
    "TRUE": ("always_true", "bool", ()), "WAIT_END": ("wait_end", "bool", ()),
}
NO_PATTERN_WARNING = ("parsing acl keyword '{0}' :\n"
                      "  no pattern to match against were provided, so this ACL will never match.\n"
                      "  If this is what you intended, please add '--' to get rid of this warning.\n"
                      "  If you intended to match only for existence, please use '-m found'.\n"
                      "  If you wanted to force an int to match as a bool, please use '-m bool'.\n")
USE_BACKEND_COLUMN = 5  # keywords.FETCHES' "where": frontend use-backend rule
FAIL, MISS, PASS = 0, 1, 3  # enum acl_test_res: AND is '&', OR is '|'


class AclError(ValueError):
    """An ACL HAProxy refuses; the message is HAProxy's, without 'error detected while parsing ...'."""


@dataclass(frozen=True)
class Acl:
    """One criterion: a sample expression, how to match it, and its patterns."""

    keyword: str  # as written (for messages): 'path_beg', 'hdr(host)'
    expr: Expr
    matcher: Matcher
    missing: str | None = None  # what the engine lacks to evaluate it
    never: bool = False  # no pattern (HAProxy warns that it never matches)
    files: tuple[str, ...] = ()  # its '-f' files (each a pattern reference of its own)

    def holds(self, ctx: Ctx) -> bool:
        if self.missing or self.never:
            return False
        m = self.matcher
        return any(m.matches(v) for v in self.expr.values(ctx, in_acl=True))

    def test(self, ctx: Ctx) -> int:
        """acl_exec_cond on one criterion: PASS, FAIL, or MISS when nothing matched but a sample may still
        change and more bytes may come (``ctx.final`` False)."""
        if self.missing or self.never:
            return FAIL
        ctx.may_change = False
        m = self.matcher
        if any(m.matches(v) for v in self.expr.values(ctx, in_acl=True)):
            return PASS
        return MISS if ctx.may_change and not ctx.final else FAIL

    def usable_at(self, column: int) -> bool:
        return FETCHES[self.expr.fetch][2][column] == "Y"


def parse_acl(words: list[str], maps: MapStore | None, where: str, warn=None) -> Acl:
    """One criterion from its words ('path_beg', '-i', '/a', '/b'). ``warn(text)`` gets HAProxy's
    warnings (an ACL without patterns)."""
    if not words or not words[0]:
        raise AclError("missing fetch method in ACL expression ''.")
    word = words[0]
    head = word.split("(", 1)[0].split(",", 1)[0]
    if head in ACL_KEYWORDS:
        fetch, method = ACL_KEYWORDS[head]
        text = fetch + word[len(head):]
        label = f"ACL keyword '{head}'"
    elif head in FETCHES:
        text, method, label = word, None, f"fetch method '{head}'"
    else:
        raise AclError(f"unknown fetch method '{head}' in ACL expression '{word}'.")
    try:
        expr, _ = parse_expr(text, 0, maps, where)
    except SampleError as e:
        msg = str(e)
        if label.startswith("ACL keyword"):
            # acl.c words the keyword's own errors with a final dot, sample.c's fetch errors without
            prefix = f"fetch method '{expr_fetch(text)}' : "
            msg = msg[len(prefix):] if msg.startswith(prefix) else f"{msg}."
            raise AclError(f"{label} : {msg}.") from None
        raise AclError(f"{msg} in ACL expression '{word}'.") from None
    if expr.convs:  # converters may change the type: the keyword's own match gives way (acl.c)
        method = None
    elif method == "str" and FETCHES[expr.fetch][1] == "meth":
        method = "meth"  # 'method' lists as '-m str' but matches as pat_match_meth
    if method is None:
        out_type = CONVERTERS[expr.convs[-1].name][1] if expr.convs else FETCHES[expr.fetch][1]
        method = DEFAULT_METHOD.get(out_type, "str")
    icase, rest, patterns, files = False, list(words[1:]), [], []
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag == "--":
            break
        if flag == "-i":
            icase = True
        elif flag in ("-n", "-M"):
            pass
        elif flag == "-u":  # a unique id for the patterns' reference: an integer
            value = rest.pop(0) if rest else ""
            if value and not (value[1:] if value[:1] in "+-" else value).isdigit():
                raise AclError("the argument of -u must be an integer.")
        elif flag == "-m":
            if files:
                raise AclError("'-m' must only be specified before patterns and files in parsing ACL expression.")
            method = rest.pop(0) if rest else ""
            if method not in METHODS:
                raise AclError(f"unknown matching method '{method}' when parsing ACL expression.")
        elif flag == "-f":
            files.append(rest.pop(0) if rest else "")
            patterns += read_pattern_file(files[-1])
        else:
            raise AclError(f"'{flag}' is not a valid ACL option. Please use '--' before any pattern beginning "
                           "with a '-'.")
    patterns += rest
    never = not patterns and method not in ("found", "bool")
    # acl.c warns when nothing at all follows the fetch (a flag alone silences it), unless the expression
    # gives a boolean (the last converter's output type, or the fetch's)
    out_type = CONVERTERS[expr.convs[-1].name][1] if expr.convs else FETCHES[expr.fetch][1]
    if not words[1:] and out_type != "bool" and warn is not None:
        warn(NO_PATTERN_WARNING.format(word))
    try:
        matcher = compile_patterns(method, patterns, icase)
    except PatternError as e:
        raise AclError(str(e)) from None
    missing = expr.missing or matcher.missing
    if method == "bin":
        missing = missing or f"match method '-m {method}'"
    return Acl(word, expr, matcher, missing, never, tuple(files))


def read_pattern_file(path: str) -> list[str]:
    """-f FILE: one pattern per line, its leading blanks dropped and its trailing ones kept, empty lines
    and lines starting with '#' skipped (pattern.c pat_ref_read_from_file); a relative path is opened
    from the current folder, as haproxy does."""
    try:
        with open(path, encoding="latin-1") as f:
            lines = f.read().splitlines()
    except OSError:
        raise AclError(f"failed to open pattern file <{path}>.") from None
    return [w for line in lines if not line.startswith("#") and (w := line.lstrip(" \t"))]


def expr_fetch(text: str) -> str:
    return text.split("(", 1)[0].split(",", 1)[0]


@dataclass(frozen=True)
class Term:
    negated: bool
    name: str  # the ACL's name, or '' for an anonymous one
    acls: tuple[Acl, ...]  # a named ACL declared on several lines: any of them

    def holds(self, ctx: Ctx) -> bool:
        return any(a.holds(ctx) for a in self.acls) != self.negated

    def test(self, ctx: Ctx) -> int:
        res = FAIL
        for a in self.acls:  # the lines of a named ACL: any of them
            res |= a.test(ctx)
            if res == PASS:
                break
        return (3 >> res) if self.negated else res  # acl_neg: MISS stays MISS


@dataclass(frozen=True)
class Condition:
    """OR-ed groups of AND-ed terms (src/acl.c acl_exec_cond); ``unless`` inverts the result."""

    groups: tuple[tuple[Term, ...], ...]
    negate: bool = False  # 'unless'

    def holds(self, ctx: Ctx) -> bool:
        hit = any(all(t.holds(ctx) for t in group) for group in self.groups)
        return hit != self.negate

    def test(self, ctx: Ctx) -> bool | None:
        """Like ``holds`` ('unless' applied), or None: no answer yet (a MISS: wait for more bytes)."""
        res = FAIL
        for group in self.groups:
            suite = PASS
            for t in group:
                suite &= t.test(ctx)
                if suite == FAIL:
                    break
            res |= suite
            if res == PASS:
                break
        if res == MISS:
            return None
        return (res == PASS) != self.negate

    def missing(self) -> list[tuple[str, str]]:
        """(ACL name or '', what the engine lacks) for every ACL it cannot evaluate."""
        return [(t.name, a.missing) for g in self.groups for t in g for a in t.acls if a.missing]

    def acls(self) -> list[Acl]:
        return [a for g in self.groups for t in g for a in t.acls]


def predefined(name: str) -> Acl:
    fetch, method, patterns = PREDEFINED[name]
    expr, _ = parse_expr(fetch, 0, None, "")
    return Acl(name, expr, compile_patterns(method, list(patterns), False), expr.missing)


def parse_condition(words: list[str], named: dict[str, tuple[Acl, ...]], maps: MapStore | None, where: str,
                    negate: bool = False, warn=None) -> Condition:
    """The words after if/unless -> a Condition; AclError with HAProxy's text for a refused one."""
    groups: list[tuple[Term, ...]] = []
    group: list[Term] = []
    neg, i = False, 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in ("||", "or"):
            groups.append(tuple(group))
            group = []
            continue
        while word.startswith("!"):
            neg, word = not neg, word[1:]
        if not word:
            continue
        if word == "{":
            if "}" not in words[i:]:
                raise AclError("missing closing '}' in condition.")
            end = words.index("}", i)
            acls, name = (parse_acl(words[i:end], maps, where, warn),), ""
            i = end + 1
        elif word in named:
            acls, name = named[word], word
        elif word in PREDEFINED:
            acls, name = (predefined(word),), word
        else:
            raise AclError(f"no such ACL : '{word}'.")
        group.append(Term(neg, name, acls))
        neg = False
    groups.append(tuple(group))
    return Condition(tuple(g for g in groups if g), negate)
