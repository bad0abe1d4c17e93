"""Keyword table of proxy sections (frontend, backend, listen, defaults) and their checks.

How it works: ``PROXY_KEYWORDS`` maps each keyword the course engine implements to a handler
``(parser, draft, args, kwm)``. Handlers store values on the ``Draft`` and report problems in
HAProxy 2.6's wording. A keyword HAProxy knows but the engine does not implement gets the
parser's "ignored by the course engine" warning; an unknown one gets HAProxy's alert with its
"did you mean" suggestion. ``check_proxy`` is the per-proxy part of haproxy's later stage.

Follows HAProxy 2.6's src/cfgparse-listen.c (cfg_parse_listen) and src/cfgparse.c
(check_config_validity), Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..sample.logformat import FormatError, is_dynamic, parse_logformat
from . import keywords as kw
from .actions import defaults_rule, parse_http_rule
from .checks import parse_http_check
from .conditions import USE_BACKEND_COLUMN, engine_gaps, maps_of, parse_acl_line, parse_condition, uses_l6
from .context import IGNORED_HINT, Context, Draft, cap_warning, too_many
from .cookie import check_cookie, parse_cookie, parse_dyncookie_key, parse_persist_rule
from .model import ALGORITHMS, UseBackend
from .resolvers import template_range
from .server import parse_bind, parse_default_server, parse_option, parse_server, parse_stats
from .stick import check_stick, kw_stick, kw_stick_table
from .tcprules import check_tcp_rules, parse_tcp_request
from .tls import check_tls
from .words import DIGITS, SECTION_NAME_CHARS, TimeFormatError, atol, parse_time

Handler = Callable[[Context, Draft, list, str], None]

NOT_IN_DEFAULTS = ("bind", "use_backend", "dispatch", "id", "monitor", "acl")
ANONYMOUS_DEFAULTS_REFUSE = ("acl", "http-request", "http-response", "http-after-response")
TIMEOUT_CAP = {"client": "fe", "tarpit": "both", "http-keep-alive": "both", "http-request": "both",
               "server": "be", "connect": "be", "check": "be", "queue": "be", "tunnel": "be",
               "client-fin": "fe", "server-fin": "be"}
ENGINE_TIMEOUTS = ("client", "server", "connect", "check", "queue", "http-request", "tarpit")
REMOVED = {
    "redispatch": "keyword '{0}' directive is not supported anymore since HAProxy 2.1. Use 'option redispatch'.",
    "redisp": "keyword '{0}' directive is not supported anymore since HAProxy 2.1. Use 'option redispatch'.",
    "block": "The '{0}' directive is not supported anymore since HAProxy 2.1. Use 'http-request deny' "
             "which uses the exact same syntax.",
    "appsession": "'{0}' is not supported anymore since HAProxy 1.6.",
}


# --------------------------------------------------------------------------- handlers
def kw_mode(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    if too_many(p, args, 1):
        return
    mode = args[1] if len(args) > 1 else ""
    if mode in ("http", "tcp"):
        d.values["mode"] = mode
    elif mode == "health":
        p.alert(f"{p.where}'mode health' doesn't exist anymore. Please use 'http-request return status 200' instead.")
    else:
        p.alert(f"{p.where}unknown proxy mode '{mode}'.", "Use 'mode http' or 'mode tcp'.")


def kw_bind(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    cap_warning(p, d, "bind", "fe")
    if len(args) < 2:
        p.alert(f"{p.where}'bind' expects {{<path>|[addr1]:port1[-end1]}}{{,[addr]:port[-end]}}... as arguments.",
                "Write the address and port to listen on, e.g. 'bind *:3000'.")
        return
    parse_bind(p, d, args)


def kw_default_backend(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    cap_warning(p, d, "default_backend", "fe")
    if len(args) < 2:
        p.alert(f"{p.where}'default_backend' expects a backend name.")
        return
    d.values["default_backend"] = args[1]
    too_many(p, args, 1)


def kw_use_backend(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    cap_warning(p, d, "use_backend", "fe")
    if len(args) < 2:
        p.alert(f"{p.where}'use_backend' expects a backend name.")
        return
    if len(args) > 2 and args[2] not in ("if", "unless"):
        p.alert(f"{p.where}unexpected keyword '{args[2]}' after switching rule, only 'if' and 'unless' are allowed.",
                "Write 'use_backend NAME if CONDITION'.")
        return
    negate = len(args) > 2 and args[2] == "unless"
    cond = None
    if len(args) > 2:
        cond = parse_condition(p, d, args[3:], "switching rule", negate)
        if cond is None:
            return
    d.use_backend_targets.append((args[1], p.line, cond is not None and uses_l6(cond)))
    gaps = engine_gaps(cond) if cond is not None else ""
    if gaps:
        p.warn(f"{p.where}the course engine cannot evaluate {gaps}: it skips the rule 'use_backend "
               f"{' '.join(args[1:])}', which real HAProxy applies.", IGNORED_HINT)
        return
    # a name with %[...] is read once the whole file is (check_proxy), as HAProxy does
    d.use_backends.append(UseBackend(args[1], negate, p.line, cond))


def _dynamic_rules(p: Context, d: Draft) -> None:
    """check_config_validity's switching rules: a use_backend name with %[...] is a log-format string,
    parsed now (its map files are read now too); a refused one is a fatal alert of this stage."""
    kept = []
    for rule in d.use_backends:
        if is_dynamic(rule.backend):
            where = f"file '{p.file}' line {rule.line}"
            try:
                dynamic = parse_logformat(rule.backend, maps_of(p), where, USE_BACKEND_COLUMN)
            except FormatError as e:
                p.alert(f"Parsing [{p.file}:{rule.line}]: failed to parse use_backend rule '{rule.backend}' : {e}",
                        line=rule.line)
                continue
            if dynamic.missing:
                p.warn(f"parsing [{p.file}:{rule.line}] : the course engine cannot evaluate {dynamic.missing} in "
                       f"the backend's name: it skips the rule 'use_backend {rule.backend}', which real HAProxy "
                       "applies.", IGNORED_HINT, line=rule.line)
                continue
            static = dynamic.static_name
            if static is not None:  # one plain text node ('%%b'): a backend named statically, as written
                if _backend(p, static) is None:
                    p.alert(f"Proxy '{d.name}': unable to find required use_backend: '{static}'.", line=rule.line)
                    continue
                rule = replace(rule, backend=static)
            else:
                rule = replace(rule, dynamic=dynamic)
        kept.append(rule)
    d.use_backends[:] = kept


def kw_acl(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    if len(args) < 2:
        p.alert(f"{p.where}'acl' expects a name and a criterion.")
        return
    parse_acl_line(p, d, args)


def kw_balance(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    cap_warning(p, d, "balance", "be")
    algo, rest = (args[1] if len(args) > 1 else ""), args[2:]
    err = None
    if algo == "" or (algo in ALGORITHMS and algo not in ("random", "uri")):  # the ones without arguments
        d.values.update(balance=algo or "roundrobin", balance_args=())
    elif algo.startswith("random"):
        draws = ()
        if algo[6:7] == "(" and algo[7:8] != ")":
            digits = algo[7:]
            i = 0
            while i < len(digits) and (digits[i] in DIGITS or (i == 0 and digits[i] in "+-")):
                i += 1
            if digits[i:i + 1] != ")":
                err = ("random : missing closing parenthesis." if i >= len(digits)
                       else f"random : unexpected character '{digits[i]}' after argument.")
            elif atol(digits[:i]) < 1:
                err = "random : number of draws must be at least 1."
            draws = (str(atol(digits[:i])),)
        if not err:
            d.values.update(balance="random", balance_args=draws)
    elif algo == "uri":
        i = 0
        while i < len(rest) and not err:
            word = rest[i]
            if word in ("len", "depth"):
                value = rest[i + 1] if i + 1 < len(rest) else ""
                if atol(value) <= 0:
                    err = f"uri : '{word}' expects a positive integer (got '{value}')."
                i += 2
            elif word in ("whole", "path-only"):
                i += 1
            else:
                err = f"uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '{word}')."
        if not err:
            d.values.update(balance="uri", balance_args=tuple(rest))
    elif algo in ("url_param", "hash") or algo.startswith(("hdr(", "rdp-cookie")):
        p.ignored(" ".join(args), f"The course engine implements {', '.join(ALGORITHMS[:-1])} and "
                  f"{ALGORITHMS[-1]}; this backend keeps its previous algorithm.")
        return
    else:
        err = ("only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', "
               "'hdr(name)' and 'rdp-cookie(name)' options.")
    if err:
        p.alert(f"{p.where}balance {err}", f"Algorithms: {', '.join(ALGORITHMS)} (e.g. 'balance roundrobin').")


def kw_hash_type(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    cap_warning(p, d, "hash-type", "be")
    a = args + ["", "", ""]
    if a[1] == "avalanche":
        p.alert(f"{p.where}experimental feature 'hash-type avalanche' is not supported anymore, "
                "please use 'hash-type map-based sdbm avalanche' instead.")
    elif a[1] not in ("consistent", "map-based"):
        p.alert(f"{p.where}'hash-type' only supports 'consistent' and 'map-based'.")
    elif a[2] and a[2] not in ("sdbm", "djb2", "wt6", "crc32"):
        p.alert(f"{p.where}'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.")
    elif a[2] and a[3] and a[3] != "avalanche":
        p.alert(f"{p.where}'hash-type' only supports 'avalanche' as a modifier for hash functions.")
    else:
        d.values.update(hash_type=a[1], hash_function=a[2] or None, hash_avalanche=a[3] == "avalanche")


def kw_hash_balance_factor(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    cap_warning(p, d, "hash-balance-factor", "be")
    if len(args) < 2 or not args[1]:
        p.alert(f"{p.where}'hash-balance-factor' expects an integer argument.")
        return
    factor = atol(args[1])
    if factor != 0 and factor <= 100:
        p.alert(f"{p.where}'hash-balance-factor' must be 0 or greater than 100.",
                "A factor of 150 lets a server take up to 1.5 times its fair share of the requests in flight.")
        return
    d.values["hash_balance_factor"] = factor


def kw_timeout(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    name = args[1] if len(args) > 1 else ""
    if name not in TIMEOUT_CAP:
        p.alert(f"{p.where}'timeout' supports 'client', 'server', 'connect', 'check', 'queue', "
                "'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' "
                f"(got '{name}')", "The course uses 'timeout connect', 'timeout client' and 'timeout server'.")
        return
    if len(args) < 3 or not args[2]:
        p.alert(f"{p.where}'timeout {name}' expects an integer value (in milliseconds)")
        return
    try:
        value = parse_time(args[2])
    except TimeFormatError as e:
        if e.kind == "over":
            msg = (f"timer overflow in argument '{args[2]}' to 'timeout {name}' "
                   "(maximum value is 2147483647 ms or ~24.8 days)")
        elif e.kind == "under":
            msg = f"timer underflow in argument '{args[2]}' to 'timeout {name}' (minimum non-null value is 1 ms)"
        else:
            msg = f"unexpected character '{e.char}' in 'timeout {name}'"
        p.alert(p.where + msg, "Times are whole numbers with an optional unit written right after "
                "them: us, ms, s, m, h or d (10s, 500ms, 1m); a bare number means milliseconds.")
        return
    field = name.replace("-", "_")
    current = d.timeouts.get(field) if name in ENGINE_TIMEOUTS else None
    need = TIMEOUT_CAP[name]
    if (need == "fe" and not d.cap_fe) or (need == "be" and not d.cap_be):
        side = "backend" if need == "be" else "frontend"
        p.warn(f"{p.where}'timeout {name}' will be ignored because {d.type_name} '{d.name}' has no {side} capability")
    elif d.kind != "defaults" and name in ENGINE_TIMEOUTS and current != p.defaults.timeouts.get(field):
        p.warn(f"{p.where}overwriting 'timeout {name}' which was already specified")
    if len(args) > 3:
        p.alert(f"{p.where}'timeout {name}' : unexpected extra argument '{args[3]}' after value '{args[2]}'.",
                "Write the unit right after the number, with no space: 10s.")
    if name in ENGINE_TIMEOUTS:
        d.timeouts[field] = value
        if name == "connect":
            d.connect_here = True  # (set even where it is ignored, as proxy.c sets it)
    elif name == "tunnel":
        d.tunnel_timeout = True
        p.ignored(f"timeout {name}")
    else:
        p.ignored(f"timeout {name}")


def kw_retries(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    cap_warning(p, d, "retries", "be")
    if too_many(p, args, 1):
        return
    if len(args) < 2:
        p.alert(f"{p.where}'retries' expects an integer argument (dispatch counts for one).")
        return
    d.values["retries"] = atol(args[1])


def kw_maxconn(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    cap_warning(p, d, "maxconn", "fe", " Maybe you want 'fullconn' instead ?")
    if len(args) < 2:
        p.alert(f"{p.where}'maxconn' expects an integer argument.")
        return
    d.values["maxconn"] = atol(args[1])
    too_many(p, args, 1)


def kw_option(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    parse_option(p, d, args, kwm)


def kw_http_check(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    parse_http_check(p, d, args)


def kw_stats(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    parse_stats(p, d, args)


def kw_server(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    parse_server(p, d, args)


def kw_server_template(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    """``server-template PREFIX NUM|LOW-HIGH ADDR[:PORT] [keywords...]``."""
    if d.kind == "defaults":
        p.alert(f"[{p.file}:{p.line}] : 'server-template' not allowed in 'defaults' section.",
                "Servers belong in a backend (or listen) section.")
        return
    if len(args) < 4:
        p.alert(f"[{p.file}:{p.line}] : 'server-template' expects <prefix> <nb | range> <addr>[:<port>] as "
                "arguments.", "Write e.g. 'server-template web 1-6 app.lab:8080 resolvers lab init-addr none'.")
        return
    bad = next((c for c in args[1] if c not in SECTION_NAME_CHARS), None)
    if bad:
        p.alert(f"[{p.file}:{p.line}] : character '{bad}' is not permitted in server-template prefix '{args[1]}'.")
        return
    span = template_range(args[2])
    if span is None:
        p.alert(f"[{p.file}:{p.line}] : Wrong server-template number or range arg '{args[2]}'.",
                "Give a count (6: servers 1 to 6) or a range (3-8).")
        return
    parse_server(p, d, ["server", args[1], *args[3:]], template=span)


def kw_default_server(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    parse_default_server(p, d, args)


def kw_tcp_request(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    parse_tcp_request(p, d, args)


PROXY_KEYWORDS: dict[str, Handler] = {
    "mode": kw_mode, "bind": kw_bind, "default_backend": kw_default_backend,
    "use_backend": kw_use_backend, "acl": kw_acl, "balance": kw_balance, "hash-type": kw_hash_type,
    "hash-balance-factor": kw_hash_balance_factor,
    "timeout": kw_timeout, "retries": kw_retries, "maxconn": kw_maxconn, "option": kw_option,
    "http-check": kw_http_check, "stats": kw_stats, "server": kw_server, "server-template": kw_server_template, "cookie": parse_cookie,
    "force-persist": parse_persist_rule, "ignore-persist": parse_persist_rule, "tcp-request": kw_tcp_request,
    "dynamic-cookie-key": parse_dyncookie_key, "default-server": kw_default_server,
}

PROXY_KEYWORDS.update({"stick-table": kw_stick_table, "stick": kw_stick})  # stick tables (stick.py)


def parse_proxy_line(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    """Dispatch one line of a proxy or defaults section."""
    word = args[0]
    if d.kind == "orphan":
        # haproxy refused the section line, so these lines have no proxy to go to
        p.alert(f"{p.where}'listen' or 'defaults' expected.")
        return
    if d.kind == "defaults" and not d.name and word in ANONYMOUS_DEFAULTS_REFUSE:
        p.alert(f"{p.where}'{word}' not allowed in anonymous 'defaults' section.",
                f"Move '{word}' into the frontend or backend it is for (or name the defaults section).")
        return
    if d.kind == "defaults" and word in NOT_IN_DEFAULTS:
        if word == "acl" and not d.name:
            p.alert(f"{p.where}'acl' not allowed in anonymous 'defaults' section.")
        else:
            p.alert(f"{p.where}'{word}' not allowed in 'defaults' section.",
                    f"Move '{word}' into the frontend, backend or listen section it is for.")
        return
    if kwm and word not in ("option", "log"):
        return  # already reported by the parser
    handler = PROXY_KEYWORDS.get(word)
    if word == "http-request" and args[1:3] == ["use-service", "prometheus-exporter"] and not kwm:
        rest = args[3:]
        if not rest:
            d.values["prometheus"] = ("always", "")
        elif (len(rest) == 5 and rest[0] == "if" and rest[1] == "{" and rest[4] == "}"
              and rest[2] in ("path", "path_beg")):
            d.values["prometheus"] = (rest[2], rest[3])
        else:
            p.ignored(" ".join(args), "The course engine serves the exporter with no condition or with "
                      "'if { path /metrics }' (or path_beg).")
    elif word == "log" and len(args) == 2 and args[1] == "global":
        d.values["log_global"] = kwm != "no"
    elif word == "log" and kwm == "no" and len(args) == 1:
        d.values["log_global"] = False
    elif handler:
        handler(p, d, args, kwm)
    elif word in ("http-request", "http-response"):
        (defaults_rule if d.kind == "defaults" else parse_http_rule)(p, d, args)
    elif word in REMOVED:
        p.alert(p.where + REMOVED[word].format(word))
    elif word in ("clitimeout", "srvtimeout", "contimeout"):
        new = {"clitimeout": "client", "srvtimeout": "server", "contimeout": "connect"}[word]
        p.alert(f"{p.where}the '{word}' directive is not supported anymore since HAProxy 2.1. Use 'timeout {new}'.")
    elif word in kw.PROXY_KNOWN:
        if word == "errorfile" and not p.errorfile_ok(args):
            return
        p.ignored(" ".join(args[:2]) if word in ("http-request", "http-response", "log",
                                                 "compression", "cookie", "errorfile") else word)
    else:
        best = kw.best_match(word, kw.PROXY_REGISTERED, kw.PROXY_COMMON)
        tail = f"; did you mean '{best}' maybe ?" if best else ""
        section = "listen" if d.kind == "listen" else d.kind
        p.alert(f"{p.where}unknown keyword '{word}' in '{section}' section{tail}",
                f"Check the spelling of '{word}'" + (f" (did you mean '{best}'?)." if best else "."))


# --------------------------------------------------------------------------- check stage
def _backend(p: Context, name: str):
    return next((o for o in p.proxies if o.name == name and o.cap_be), None)


def _mode_conflict(d: Draft, target: Draft) -> bool:
    return target.values["mode"] != d.values["mode"] and not (
        d.values["mode"] == "tcp" and target.values["mode"] == "http")


def _check_target(p: Context, d: Draft, name: str, line: int, where_d: str) -> None:
    """A use_backend rule's backend: it exists, is not the proxy itself, and has a compatible mode."""
    if is_dynamic(name):  # read as a log-format string by _dynamic_rules
        return
    target = _backend(p, name)
    if target is None:
        p.alert(f"Proxy '{d.name}': unable to find required use_backend: '{name}'.",
                f"Add a section 'backend {name}' or fix the name on line {line}.", line=line)
    elif target is d:
        p.alert(f"Proxy '{d.name}': loop detected for use_backend: '{name}'.", line=line)
    elif _mode_conflict(d, target):
        p.alert(f"{where_d} tries to use incompatible {target.values['mode']} {target.type_name} "
                f"'{target.name}' ({p.file}:{target.line}) in a 'use_backend' rule (see 'mode').", line=line)


def check_proxy(p: Context, d: Draft) -> None:
    """Per-proxy checks of haproxy's second stage, in haproxy's order."""
    f = p.file
    where_d = f"{d.values['mode']} {d.type_name} '{d.name}' ({f}:{d.line})"
    check_cookie(p, d)
    name = d.values["default_backend"] if d.cap_fe else None
    if name:
        target = _backend(p, name)
        if target is None:
            p.alert(f"Proxy '{d.name}': unable to find required default_backend: '{name}'.",
                    f"Add a section 'backend {name}', or point default_backend at an existing backend "
                    f"({', '.join(o.name for o in p.proxies if o.cap_be) or 'none yet'}).", line=d.line)
        elif target is d:
            p.alert(f"Proxy '{d.name}': loop detected for default_backend: '{name}'.", line=d.line)
        elif _mode_conflict(d, target):
            p.alert(f"{where_d} tries to use incompatible {target.values['mode']} {target.type_name} "
                    f"'{target.name}' ({f}:{target.line}) as its default backend (see 'mode').",
                    "Give the frontend and the backend the same 'mode'.", line=d.line)
        elif d.servers and d.cap_be:
            p.warn(f"In proxy '{d.name}', the 'default_backend' rule always has precedence over the "
                   "servers, which will never be used.", line=d.line)
    _dynamic_rules(p, d)
    for name, line, l6 in d.use_backend_targets:
        _check_target(p, d, name, line, where_d)
        if l6 and d.values["mode"] == "http":
            p.warn(f"Proxy '{d.name}': L6 sample fetches ignored on HTTP proxies (declared at {f}:{line}).",
                   line=line)
    check_tcp_rules(p, d)

    t = d.timeouts
    if ((d.cap_fe and not t["client"]) or (d.cap_be and d.servers and (
            not t["connect"] or (not t["server"] and (d.values["mode"] == "http" or not d.tunnel_timeout))))):
        p.warn(f"missing timeouts for {d.type_name} '{d.name}'.\n"
               "   | While not properly invalid, you will certainly encounter various problems\n"
               "   | with such a configuration. To fix this, please ensure that all following\n"
               "   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
               "Add 'timeout connect 5s', 'timeout client 50s' and 'timeout server 50s' to the "
               "defaults section.", line=d.line)
    seen: dict[str, int] = {}
    for s in d.servers:
        if s["id"]:
            continue
        if s["name"] in seen:
            p.alert(f"parsing [{f}:{s['line']}] : {d.type_name} '{d.name}', another server named "
                    f"'{s['name']}' was already defined at line {seen[s['name']]}, please use distinct names.",
                    "Give each server of a backend its own name (s1, s2, ...).", line=s["line"])
        else:
            seen[s["name"]] = s["line"]
    if d.values["mode"] != "http" and d.rule_keywords:  # (a tcp frontend before an http backend too: observed)
        for keyword in ("http-request", "http-response"):
            if keyword in d.rule_keywords:
                p.warn(f"'{keyword}' rules ignored for {d.type_name} '{d.name}' as they require HTTP mode.",
                       "Add 'mode http' to this section (or to the defaults).", line=d.line)
    check_tls(p, d)
    check_stick(p, d)
    if d.cap_fe and d.kind != "defaults" and d.values["mode"] != "http" and d.values["httplog"]:
        p.warn(f"parsing [{f}:{d.logformat_line}] : 'option httplog' not usable with {d.type_name} '{d.name}' "
               "(needs 'mode http'). Falling back to 'option tcplog'.", line=d.logformat_line)


__all__ = ["PROXY_KEYWORDS", "parse_proxy_line", "check_proxy"]
