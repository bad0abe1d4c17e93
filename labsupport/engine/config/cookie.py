"""The backend's ``cookie`` line (cookie-based persistence) and its ``force-persist`` /
``ignore-persist`` rules, with HAProxy 2.6's messages.

``cookie NAME [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve] [httponly]
[secure] [domain D]* [maxidle T] [maxlife T] [dynamic] [attr V]*`` becomes a ``CookieConfig``
(model.py) that proxy/cookies.py applies. A new ``cookie`` line starts over (its options, domains,
maxidle and maxlife) but keeps the previous line's ``attr`` values, as HAProxy does. ``maxidle`` and
``maxlife`` (dated cookies) are applied by proxy/cookies.py. With ``dynamic`` and the backend's
``dynamic-cookie-key K``, a server without a ``cookie`` value gets one derived from K, its address and
its port (``dynamic_cookie``, worked out once the addresses are resolved); the CLI's ``set
dynamic-cookie-key`` and ``enable|disable dynamic-cookie`` are not implemented.

Follows HAProxy 2.6's src/cfgparse-listen.c (the "cookie" and "dynamic-cookie-key" branches of
cfg_parse_listen), src/tools.c (invalid_domainchar, parse_time_err) and src/server.c (srv_set_dyncookie,
srv_check_for_dup_dyncookie), Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's
licence).
"""
from __future__ import annotations

import socket
import struct
from dataclasses import replace

from ..xxh64 import xxh64
from .conditions import engine_gaps, parse_condition
from .context import IGNORED_HINT, Context, Draft, cap_warning
from .model import CookieConfig
from .words import TimeFormatError, parse_time_s, timer_tail_warning

FLAGS = ("rewrite", "indirect", "insert", "nocache", "postonly", "preserve", "prefix", "httponly", "secure")
UNKNOWN = ("'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', "
           "'maxidle', 'dynamic', 'maxlife' and 'attr' options.")
HINT = "Persistence by cookie: e.g. 'cookie SERVERID insert indirect nocache', and 'cookie s1' on each server."


def _domain_char(name: str) -> str | None:
    """invalid_domainchar: the first character that is not a letter, digit, '.', '_' or '-'."""
    for ch in name:
        if not (ch.isascii() and ch.isalnum()) and ch not in "._-":
            return ch
    return None


def _seconds(p: Context, word: str, value: str) -> int | None:
    """maxidle / maxlife: a time in whole seconds (a bare number is seconds, 500ms is 1)."""
    where = f"parsing [{p.file}:{p.line}]: "
    if not value:
        what = "idletime" if word == "maxidle" else "lifetime"
        p.alert(f"{where}'{word}' expects <{what}> in seconds as argument.", HINT)
        return None
    tail = timer_tail_warning(value)
    if tail is not None:
        p.warn(tail, "Write one number and one unit, e.g. '90m' rather than '1h30m'.")
    try:
        seconds = parse_time_s(value)
    except TimeFormatError as e:
        if e.kind == "char":
            p.alert(f"{where}unexpected character '{e.char}' in argument to <{word}>.", HINT)
        elif e.kind == "over":
            p.alert(f"{where}timer overflow in argument <{value}> to <{word}>, maximum value is 2147483647 s "
                    "(~68 years).", HINT)
        else:
            p.alert(f"{where}timer underflow in argument <{value}> to <{word}>, minimum non-null value is 1 s.",
                    HINT)
        return None
    return seconds


def parse_cookie(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    """``cookie NAME [options]`` in a backend, listen or defaults section."""
    cap_warning(p, d, "cookie", "be")
    if len(args) < 2 or not args[1]:
        p.alert(f"{p.where}'cookie' expects <cookie_name> as argument.", HINT)
        return
    previous = d.values.get("cookie")
    ck = CookieConfig(args[1], attrs=previous.attrs if previous is not None else None)
    d.values["cookie"] = ck  # set at once: an error below leaves it half done, as in HAProxy (fatal anyway)
    where = f"parsing [{p.file}:{p.line}]: "
    i = 2
    while i < len(args):
        word = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        if word in FLAGS:
            ck = replace(ck, **{word: True})
        elif word == "domain":
            if not value:
                p.alert(f"{where}'domain' expects <domain> as argument.", HINT)
                return
            if "." not in value:
                p.warn(f"{where}domain '{value}' contains no embedded dot, this configuration may not work "
                       "properly (see RFC6265#5.2.3).", "A cookie's domain is a name with a dot, e.g. '.lab.test'.")
            bad = _domain_char(value)
            if bad is not None:
                p.alert(f"{where}character '{bad}' is not permitted in domain name '{value}'.", HINT)
                return
            ck = replace(ck, domain=value if ck.domain is None else f"{ck.domain}; domain={value}")
            i += 1
        elif word in ("maxidle", "maxlife"):
            seconds = _seconds(p, word, value)
            if seconds is None:
                return
            ck = replace(ck, **{word: seconds})
            i += 1
        elif word == "dynamic":
            cap_warning(p, d, "dynamic", "be")
            ck = replace(ck, dynamic=True)
        elif word == "attr":
            if not value:
                p.alert(f"{where}'attr' expects <value> as argument.", HINT)
                return
            bad = next((c for c in value if ord(c) < 32 or ord(c) == 127 or c == ";"), None)
            if bad is not None:
                p.alert(f"{where}character '%x{ord(bad):02X}' is not permitted in attribute value.", HINT)
                return
            ck = replace(ck, attrs=value if ck.attrs is None else f"{ck.attrs}; {value}")
            i += 1
        else:
            p.alert(f"{p.where}{UNKNOWN}", HINT)
            return
        d.values["cookie"] = ck
        i += 1
    if ck.rewrite and ck.indirect:
        p.alert(f"{p.where}cookie 'rewrite' and 'indirect' modes are incompatible.", HINT)
    if ck.rewrite + ck.insert + ck.prefix > 1:
        p.alert(f"{p.where}cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.", HINT)
    if ck.preserve and not (ck.insert or ck.indirect):
        p.alert(f"{p.where}cookie 'preserve' requires at least 'insert' or 'indirect'.", HINT)


def parse_dyncookie_key(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    """``dynamic-cookie-key K``: the secret ``cookie ... dynamic`` derives server cookies from."""
    cap_warning(p, d, args[0], "be")
    if len(args) < 2 or not args[1]:
        p.alert(f"{p.where}'{args[0]}' expects <secret_key> as argument.",
                "Write e.g. 'dynamic-cookie-key MYSECRET' (the same on every load balancer).")
        return
    d.values["dyncookie_key"] = args[1]


def dynamic_cookie(key: str, ip: str, port: int) -> str:
    """srv_set_dyncookie: XXH64 of the key, the IPv4 address and the port (4 bytes, network order)."""
    return "%016x" % xxh64(key.encode("utf-8") + socket.inet_aton(ip) + struct.pack(">I", port))


def dynamic_cookies(p: Context, d: Draft, servers: list) -> list:
    """The servers of a ``cookie ... dynamic`` backend with a key, those without a ``cookie`` value given
    the derived one; HAProxy's warning when two servers get the same (a server in maintenance is not
    compared)."""
    ck, key = d.values.get("cookie"), d.values.get("dyncookie_key")
    if ck is None or not ck.dynamic or key is None:
        return servers
    out = []
    for s in servers:
        if s.cookie is None:
            s = replace(s, cookie=dynamic_cookie(key, s.host, s.port))
            for o in [] if s.disabled else out + servers[len(out) + 1:]:
                if o.cookie == s.cookie and not o.disabled:
                    p.warn(f"We generated two equal cookies for two different servers.\n"
                           f"Please change the secret key for '{d.name}'.", "Two servers share an address and port.")
        out.append(s)
    return out


def parse_persist_rule(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    """``force-persist|ignore-persist if|unless COND``: the first rule whose condition holds decides."""
    word = args[0]
    if d.kind == "defaults":
        p.alert(f"{p.where}'{word}' not allowed in 'defaults' section.", "Write it in the backend it is for.")
        return
    cap_warning(p, d, word, "be")
    if len(args) < 2 or args[1] not in ("if", "unless"):
        p.alert(f"{p.where}'{word}' requires either 'if' or 'unless' followed by a condition.",
                f"Write e.g. '{word} if {{ path_beg /admin }}'.")
        return
    # (checked where HAProxy applies them: SMP_VAL_BE_REQ_CNT, the backend's tcp-request content stage)
    cond = parse_condition(p, d, args[2:], f"a '{word}' rule", args[1] == "unless", column=6,
                           place="backend tcp-request content rule")
    if cond is None:
        return
    gaps = engine_gaps(cond)
    if gaps:
        p.warn(f"{p.where}the course engine cannot evaluate {gaps}: it skips the rule '{' '.join(args)}', which "
               "real HAProxy applies.", IGNORED_HINT)
        return
    d.values["persist_rules"] = d.values["persist_rules"] + ((word.split("-")[0], cond),)


def check_cookie(p: Context, d: Draft) -> None:
    """check_config_validity's cookie warnings for a proxy that is not in mode http."""
    if d.values["mode"] == "http":
        return
    if d.values.get("cookie") is not None:
        p.warn(f"cookie will be ignored for {d.type_name} '{d.name}' (needs 'mode http').",
               "Cookie persistence reads HTTP headers: add 'mode http'.", line=d.line)
    for s in d.servers:
        if s.get("cookie"):
            p.warn(f"{d.type_name} '{d.name}' : ignoring cookie for server '{s['name']}' as HTTP mode is disabled.",
                   "Cookie persistence reads HTTP headers: add 'mode http'.", line=s["line"])


__all__ = ["parse_cookie", "parse_persist_rule", "check_cookie", "parse_dyncookie_key", "dynamic_cookie",
           "dynamic_cookies"]
