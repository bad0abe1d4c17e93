"""``http-check send`` and ``http-check expect``: the health-check request and what its answer must be.

Follows HAProxy 2.6's parse_http_check_send / parse_http_check_expect (src/tcpcheck.c, Willy
Tarreau and contributors): one ``send`` rule (meth, uri, ver, hdr NAME VALUE; body and the
``-lf`` forms are not implemented) and one ``expect`` rule (``[!] status|rstatus|string|rstring``).
Everything else of the family (min-recv, string-lf, hdr, fhdr, comment, connect, set-var,
disable-on-404, a second expect rule...) is accepted as HAProxy accepts it, with a located
"ignored by the course engine" warning.
"""
from __future__ import annotations

import re

from .context import Context, Draft, cap_warning
from .model import CheckExpect

EXPECT_WORDS = ("min-recv", "string", "rstring", "string-lf", "status", "rstatus", "hdr", "fhdr", "comment")
ENGINE_EXPECT = ("status", "rstatus", "string", "rstring")
SEND_WORDS = ("meth", "uri", "uri-lf", "ver", "hdr", "body", "body-lf", "comment")
HINT = ("The course engine applies 'http-check send meth M uri U ver V hdr N V' and "
        "'http-check expect [!] status|rstatus|string|rstring PATTERN'.")
_STATUS_LIST = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")


def status_matches(pattern: str, code: int) -> bool:
    """``status 200``, ``status 200,204``, ``status 200-299``: does ``code`` match?"""
    for part in pattern.split(","):
        low, _, high = part.partition("-")
        if int(low) <= code <= int(high or low):
            return True
    return False


def parse_http_check(p: Context, d: Draft, args: list[str]) -> None:
    """``http-check send ...`` / ``http-check expect ...``; other sub-commands are located warnings."""
    if cap_warning(p, d, "http-check", "be"):
        return
    sub = args[1] if len(args) > 1 else ""
    if sub == "expect":
        _expect(p, d, args)
    elif sub == "send":
        _send(p, d, args)
    else:
        p.ignored(" ".join(args[:2]), HINT)


def _send(p: Context, d: Draft, args: list[str]) -> None:
    i, headers, unused = 2, list(d.values["http_check_headers"]), []
    method, uri = d.values["httpchk"] or ("OPTIONS", "/")
    version = d.values["httpchk_version"]
    while i < len(args):
        word = args[i]
        if word not in SEND_WORDS:
            p.alert(f"{p.where}'http-check send' : 'meth', 'uri', 'ver', 'hdr' and 'body' are the only supported "
                    f"options but got '{word}'.", HINT)
            return
        need = 3 if word == "hdr" else 2
        if i + need > len(args):
            what = "<name> and <value>" if word == "hdr" else "an argument"
            p.alert(f"{p.where}'http-check send' : '{word}' expects {what}.", HINT)
            return
        value = args[i + 1]
        if word == "meth":
            method = value
        elif word == "uri":
            uri = value
        elif word == "ver":
            version = value
        elif word == "hdr":
            headers.append((value, args[i + 2]))
        else:
            unused.append(f"{word} {value}")
        i += need
    d.values["httpchk"] = (method, uri)  # like HAProxy, 'send' needs 'option httpchk' to take effect
    d.values["httpchk_version"] = version
    d.values["http_check_headers"] = tuple(headers)
    for what in unused:
        p.ignored(f"http-check send {what}", HINT)


def _expect(p: Context, d: Draft, args: list[str]) -> None:
    rest = args[2:]
    negate = bool(rest) and rest[0] == "!"
    if negate:
        rest = rest[1:]
    if not rest:
        p.alert(f"{p.where}'http-check expect' : expects at least a matching pattern as arguments.")
        return
    kind = rest[0].lstrip("!")
    negate = negate or rest[0].startswith("!")
    if kind not in EXPECT_WORDS:
        p.alert(f"{p.where}'http-check expect' : 'only supports min-recv, [!]string', '[!]rstring', "
                "'[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got "
                f"'{rest[0]}' as argument..")
        return
    if kind in ("status", "rstatus", "string", "rstring") and len(rest) < 2:
        p.alert(f"{p.where}'http-check expect' : '{kind}' expects a <pattern> as argument.")
        return
    if kind not in ENGINE_EXPECT or len(rest) > 2 or d.values["http_check_expect"] is not None:
        p.ignored(" ".join(args), HINT)
        return
    pattern = rest[1]
    if kind in ("rstatus", "rstring"):
        try:
            re.compile(pattern)
        except re.error as e:
            p.alert(f"{p.where}'http-check expect' : regex '{pattern}' is invalid (error={e}).",
                    "Write a regular expression, e.g. '^2' for any 2xx status.")
            return
    if kind == "status" and not _STATUS_LIST.match(pattern):
        p.ignored(" ".join(args), "The course engine reads 'status' patterns like 200, 200,204 or 200-299.")
        return
    d.values["http_check_expect"] = CheckExpect(kind, pattern, negate)
    single = kind == "status" and not negate and pattern.isdigit()
    d.values["http_check_expect_status"] = int(pattern) if single else None
