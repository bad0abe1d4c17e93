"""Parsers for the multi-word proxy lines: ``server``, ``default-server``, ``bind``, ``option`` and ``stats``.

Each follows the matching HAProxy 2.6 function (parse_server/_srv_parse_kw, str2listener,
the 'option' branch of cfg_parse_listen, the 'stats' branch) closely enough to print the
same messages; see ``proxy`` for the keyword table that calls them.

Follows HAProxy 2.6's src/server.c (parse_server, the server keywords), src/cfgparse.c
(str2listener) and src/cfgparse-listen.c, Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

import copy

from . import keywords as kw
from .conditions import parse_condition
from .context import Context, Draft, cap_warning, too_many
from .model import Bind
from .resolvers import RESOLVE_WORDS, server_resolve_kw
from .tls import BIND_TLS_WORDS, SERVER_TLS_WORDS, based_ca, bind_tls, parse_bind_tls, parse_server_tls
from .words import DIGITS, SECTION_NAME_CHARS, TimeFormatError, atol, expand_braced, parse_time, resolve

FD_FAMILIES = ("fd", "sockpair")
UNIX_FAMILIES = ("unix", "abns")
IP_FAMILIES = ("ipv4", "ipv6", "tcp", "tcp4", "tcp6")
ON_ERROR = ("fastinter", "fail-check", "sudden-death", "mark-down")
TIME_HINT = "Times are whole numbers with an optional unit right after them: us, ms, s, m, h or d."


def port_error(port: str, addr: str, allow_zero: bool) -> str | None:
    """str2sa_range's complaints about a port (None when it is fine)."""
    # like strtol, haproxy reads the leading digits ("80a" is 80) and only refuses a non-digit start
    if port and port[0] not in DIGITS:
        return f"invalid character '{port[0]}' in port number '{port}' in '{addr}'"
    if not port:
        return None if allow_zero else f"invalid port '{port}'"
    if atol(port) > 65535 or (atol(port) == 0 and not allow_zero):
        return f"invalid port '{port}'"
    return None


# --------------------------------------------------------------------------- server
def server_keyword(p: Context, d: Draft, s: dict, args: list[str], i: int) -> str | None:
    """Apply server keyword args[i]; return haproxy's error text (without the final '.')."""
    word = args[i]
    value = args[i + 1] if i + 1 < len(args) else ""
    name = s["name"]
    if word in SERVER_TLS_WORDS:
        return parse_server_tls(p, s, args, i)
    if word in RESOLVE_WORDS:
        return server_resolve_kw(s, word, value)
    if word == "weight":
        w = atol(value)
        if w < 0 or w > 256:
            return f"weight of server {name} is not within 0 and 256 ({w})."
        s["weight"] = w
    elif word in ("rise", "fall"):
        if not value:
            return f"'{word}' expects an integer argument."
        if atol(value) <= 0:
            return f"'{word}' has to be > 0."
        s[word] = atol(value)
    elif word in ("inter", "fastinter", "downinter"):
        if not value:
            return f"'{word}' expects a delay as argument."
        try:
            delay = parse_time(value)
        except TimeFormatError as e:
            if e.kind == "over":
                return (f"timer overflow in argument <{value}> to <{word}> of server {name}, maximum value "
                        "is 2147483647 ms (~24.8 days).")
            if e.kind == "under":
                return f"timer underflow in argument <{value}> to <{word}> of server {name}, minimum non-null value is 1 ms."
            return f"unexpected character '{e.char}' in 'agent-inter' argument of server {name}."  # sic
        if delay <= 0:
            return f"invalid value {delay} for argument '{word}' of server {name}."
        s[word] = delay
    elif word == "id":
        if not value:
            return "'id' : expects an integer argument"
        sid = atol(value)
        if sid <= 0:
            return "'id' : custom id has to be > 0"
        other = next((o for o in d.servers if o["id"] == sid), None)
        if other:
            return f"'id' : custom id {sid} already used at {p.file}:{other['line']} ('server {other['name']}')"
        s["id"] = sid
    elif word in ("maxconn", "maxqueue"):
        s[word] = atol(value)
    elif word == "cookie":
        if not value:
            return "'cookie' expects <value> as argument."
        s["cookie"] = value
    elif word in ("check", "no-check"):
        s["check"] = word == "check"
    elif word in ("backup", "no-backup"):
        s["backup"] = word == "backup"
    elif word in ("disabled", "enabled"):
        s["disabled"] = word == "disabled"
    elif word == "observe":
        if not value:
            return "'observe' expects <mode> as argument."
        if value not in ("none", "layer4", "layer7"):
            return f"'observe' expects one of 'none', 'layer4', 'layer7' but got '{value}'"
        s["observe"] = value
    elif word == "error-limit":
        if not value:
            return "'error-limit' expects an integer argument."
        if atol(value) <= 0:
            return "error-limit has to be > 0."
        s["error_limit"] = atol(value)
    elif word == "on-error":
        if value not in ON_ERROR:
            return ("'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' "
                    f"but got '{value}'")
        s["on_error"] = value
    elif word == "on-marked-down":
        if value != "shutdown-sessions":
            return f"'on-marked-down' expects 'shutdown-sessions' but got '{value}'"
        s["shutdown_sessions"] = True
    elif word in ("slowstart", "agent-inter"):
        try:
            delay = parse_time(value)
        except TimeFormatError as e:
            if e.kind == "char":
                return f"unexpected character '{e.char}' in '{word}' argument of server {name}."
            delay = None
        if word == "slowstart" and delay is not None:
            s["slowstart"] = delay
        else:
            s.setdefault("_ignored", []).append(f"{word} {value}")
    else:
        s.setdefault("_ignored", []).append(word if word in kw.SERVER_FLAGS else f"{word} {value}".strip())
    return None


def unknown_server_keyword(word: str) -> str:
    """HAProxy's words for a word that is no server keyword, with its closest keyword when there is one."""
    best = kw.best_match(word, kw.SERVER_KEYWORDS, kw.SERVER_EXTRA)
    return f"unknown keyword '{word}'; did you mean '{best}' maybe ?" if best else f"unknown keyword '{word}'."


def parse_server(p: Context, d: Draft, args: list[str], template: tuple[int, int] | None = None) -> None:
    """``server NAME ADDR[:PORT] [keywords...]`` (``template``: the range of a server-template, whose
    args come as ``server PREFIX FQDN ...``; config/resolvers.py parses the rest of that line)."""
    loc = f"[{p.file}:{p.line}] : "
    if d.kind == "defaults":
        p.alert(f"{loc}'server' not allowed in 'defaults' section.",
                "Servers belong in a backend (or listen) section.")
        return
    if not d.cap_be:
        p.alert(f"{loc}{p.where}'server' not allowed because {d.type_name} '{d.name}' has no backend capability.",
                "Servers belong in a backend: point the frontend at it with 'default_backend'.")
        return
    if len(args) < 3:
        p.alert(f"{loc}'server' expects <name> and <addr>[:<port>] as arguments.",
                "Write e.g. 'server s1 127.0.0.1:8080'.")
        return
    name, addr = args[1], expand_braced(args[2])
    bad = next((c for c in name if c not in SECTION_NAME_CHARS), None)
    if bad:
        p.alert(f"{loc}character '{bad}' is not permitted in server name '{name}'.",
                "Server names use letters, digits and . _ - : only.")
        return
    prefix = f"{loc}'server {d.name}/{name if template is None else '(null)'}' : "
    family, at, rest = addr.partition("@")
    if at and family in FD_FAMILIES:
        p.alert(f"{prefix}a file descriptor is not acceptable here in '{addr}'\n",
                "A server address is IP:PORT, e.g. 127.0.0.1:8080.")
        return
    if at and family in UNIX_FAMILIES or addr.startswith("/"):
        p.warn(f"{prefix}'{addr}' (a UNIX socket) is accepted by HAProxy but ignored by the course engine, "
               "which connects to servers over TCP only: this server is left out.",
               "Give the server an IP:PORT address to use it with the course engine.")
        return
    bare = rest if at and family in IP_FAMILIES else addr  # str2sa_range's ipv4@, ipv6@, tcp@ ... prefixes
    host, sep, port = bare.rpartition(":") if ":" in bare else (bare, "", "")
    if bare.startswith("["):
        host, _, port = bare[1:].partition("]")
        port = port[1:]
    if port[:1] in ("+", "-"):  # a port offset: the client's destination port plus or minus N
        if port_error(port[1:], addr, allow_zero=True) is None:
            p.warn(f"{prefix}the port offset in '{addr}' is accepted by HAProxy but ignored by the course "
                   "engine.", "Write the server's port, e.g. 127.0.0.1:8080.")
            port = ""
    low, dash, high = port.partition("-")
    if dash and low and all(c in DIGITS for c in low):
        p.alert(f"{prefix}port range not permitted here in '{addr}'",
                "A server has one port, e.g. 127.0.0.1:8080.")
        return
    err = port_error(port, addr, allow_zero=True)
    if err:
        # haproxy's message for a bad character really ends with an extra newline
        p.alert(prefix + err + ("\n" if err.startswith("invalid character") else ""),
                "A server address is IP:PORT with PORT between 1 and 65535, e.g. 127.0.0.1:8080.")
        return
    # srv_settings_cpy: the proxy's default-server settings first, then this line's own keywords
    s = dict(copy.deepcopy(d.defsrv), name=name, host=host, port=atol(port), line=p.line, address=addr)
    i = 3
    while i < len(args):
        word = args[i]
        if word not in kw.SERVER_KEYWORDS:
            text = unknown_server_keyword(word)
            p.alert(prefix + text, "Server keywords: weight N, check, inter T, fastinter T, downinter T, "
                    "rise N, fall N, backup, disabled, maxconn N, id N.")
            return
        err = server_keyword(p, d, s, args, i)
        if err:
            p.alert(prefix + err + ".", None)
            if err.startswith("Couldn't open the ca-file"):  # ssl_store_load_locations_file's own line
                p.alert(f"'ca-file' : unable to load {based_ca(p, args[i + 1])}.", None)
            return
        i += 1 if word in kw.SERVER_FLAGS else 2
    if not port:
        p.warn(f"{prefix}no port in '{addr}': the course engine, like HAProxy, connects to the port the client connected to.",
               "Write the server's port, e.g. 127.0.0.1:8080.")
    if s["observe"] != "none" and not s["check"]:
        p.warn(f"{prefix}'observe {s['observe']}' without 'check' is ignored by the course engine.",
               "Passive checks adjust the health of a checked server: add 'check'.")
    for word in s.pop("_ignored", []):
        p.warn(f"{prefix}'{word}' is accepted by HAProxy but ignored by the course engine.",
               "The bundled engine does not implement this server keyword and runs without it.")
    if template is None:
        d.servers.append(s)
        return
    for n in range(template[0], template[1] + 1):  # PREFIX1 .. PREFIXn, each with the line's settings
        d.servers.append(dict(copy.deepcopy(s), name=f"{name}{n}", template=name))


# --------------------------------------------------------------------------- default-server
# Keywords server.c registers with default_ok = 0 (haproxy's alert is not fatal; the words are skipped).
NOT_IN_DEFAULT_SERVER = ("id", "no-sslv3", "no-tlsv10", "no-tlsv11", "no-tlsv12", "no-tlsv13")


def parse_default_server(p: Context, d: Draft, args: list[str]) -> None:
    """``default-server [keywords...]``: settings the proxy's later servers start from (parse_server
    with SRV_PARSE_DEFAULT_SERVER); a proxy starts from its defaults section's, and lines accumulate."""
    loc = f"[{p.file}:{p.line}] : "
    if not d.cap_be:
        p.alert(f"{loc}{p.where}'default-server' not allowed because {d.type_name} '{d.name}' has no backend "
                "capability.", "'default-server' belongs in a backend, listen or defaults section.")
        return
    s = d.defsrv
    s["name"] = "default-server"  # how haproxy names it in its messages
    ignored: list[str] = []
    i = 1
    while i < len(args):
        word = args[i]
        if word not in kw.SERVER_KEYWORDS:
            text = unknown_server_keyword(word)
            p.alert(f"{loc}{text} Hint: no address was expected for this server.",
                    "default-server takes server keywords only (check, inter T, weight N ...), no name or address.")
            break
        step = 1 if word in kw.SERVER_FLAGS else 2
        if word in NOT_IN_DEFAULT_SERVER:
            p.alert(f"{loc}'{word}' option is not accepted in default-server sections",
                    f"Write '{word}' on the server lines instead.", fatal=False)
            loc = ""  # haproxy's next message on this line comes without its location
            i += step
            continue
        err = server_keyword(p, d, s, args, i)
        if err:
            p.alert(loc + err + ".", None)
            if err.startswith("Couldn't open the ca-file"):
                p.alert(f"'ca-file' : unable to load {based_ca(p, args[i + 1])}.", None)
            break
        ignored += s.pop("_ignored", [])
        i += step
    s.pop("_ignored", None)
    for word in ignored:
        p.warn(f"{p.where}'default-server ... {word}' is accepted by HAProxy but ignored by the course engine.",
               "The bundled engine does not implement this server keyword and runs without it.")


# --------------------------------------------------------------------------- bind
def parse_bind(p: Context, d: Draft, args: list[str]) -> None:
    """``bind [ADDR]:PORT[,...] [options]``: "" host means every address."""
    new: list[Bind] = []
    for part in args[1].split(","):
        if part.startswith("/") or "@" in part:
            p.ignored(f"bind {part}", "The course engine listens on TCP ports only (e.g. 'bind *:3000').")
            continue
        if ":" not in part:
            p.alert(f"{p.where}'bind' : missing port specification in '{part}'",
                    "Write the port after a colon: 'bind *:3000' or 'bind 127.0.0.1:3000'.")
            return
        host, _, port = part.rpartition(":")
        host = host.strip("[]")
        low, _, high = port.partition("-")
        err = port_error(low, part, allow_zero=False) or (high and port_error(high, part, allow_zero=False))
        if err:
            p.alert(f"{p.where}'bind' : {err}", "A port is a number between 1 and 65535.")
            return
        ip = "" if host in ("", "*", "0.0.0.0", "::") else resolve(host)
        if ip is None:
            p.alert(f"{p.where}'bind' : invalid address: '{host}' in '{part}'",
                    "Listen on '*:PORT' (every address) or on an IPv4 address such as 127.0.0.1.")
            return
        for number in range(atol(low), min(atol(high or low), atol(low) + 99) + 1):
            new.append((ip, number))
    i = 2
    tls: dict = dict(getattr(p, "default_bind_tls", {}))  # ssl-default-bind-options seen so far
    while i < len(args):
        word = args[i]
        if word not in kw.BIND_KEYWORDS:
            best = kw.best_match(word, kw.BIND_KEYWORDS)
            tail = f"; did you mean '{best}' maybe ?" if best else "."
            p.alert(f"{p.where}'bind {args[1]}' in section '{d.kind}': unknown keyword '{word}'{tail}")
            return
        if word in BIND_TLS_WORDS:
            got = parse_bind_tls(p, d, args, i, tls)
            if isinstance(got, str):
                p.alert(got, "Check the path: HAProxy loads certificate files when it reads the configuration.")
                return
            i += got
            continue
        step = 1 if word in kw.BIND_FLAGS else 2
        p.ignored(" ".join(["bind", args[1]] + args[i:i + step]))
        i += step
    model, notes = bind_tls(tls)
    if model is not None:  # checked after parsing, as haproxy does (check_tls)
        d.tls_binds.append((p.line, args[1], model, notes))
    elif tls.get("certs") or "alpn" in tls:
        p.warn(f"{p.where}'bind {args[1]}' names certificates but has no 'ssl': HAProxy, like the course engine, "
               "then listens in clear text.", "Add 'ssl' to the bind line to terminate TLS.")
    d.binds.extend(Bind(ip, number, p.line, model) for ip, number in new)


# --------------------------------------------------------------------------- option
def parse_option(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    """``[no] option NAME [args]``."""
    if len(args) < 2:
        p.alert(f"parsing [{p.file}:{p.line}]: 'option' expects an option name.")
        return
    name, on = args[1], kwm != "no"
    if name in ("redispatch", "allbackups", "httpchk", "persist"):
        if cap_warning(p, d, name, "be"):
            return
        if name in ("allbackups", "persist") and too_many(p, args, 0, 1):
            return
        if name == "httpchk":
            rest = args[2:]
            chk = ("OPTIONS", rest[0]) if len(rest) == 1 else (rest[0], rest[1]) if rest else ("OPTIONS", "/")
            d.values["httpchk"] = chk if on else None
            d.values["httpchk_version"] = rest[2] if len(rest) > 2 else "HTTP/1.0"
        else:
            d.values[name] = on
            if name == "redispatch":  # cfgparse-listen.c: -1, or atol() of the interval when one is given
                d.values["redispatch_after"] = (atol(args[2]) if len(args) > 2 and args[2] else -1) if on else 0
    elif name in ("httplog", "dontlognull", "tcplog"):
        if name != "dontlognull" and kwm:
            p.alert(f"parsing [{p.file}:{p.line}]: negation/default is not supported for option '{name}'.")
            return
        if name == "tcplog" and too_many(p, args, 0, 1):
            return
        d.values[name] = on
        if name != "dontlognull":  # one log format: the last of httplog and tcplog wins
            if d.kind == "defaults" and d.logformat_here:
                p.warn(f"parsing [{p.file}:{p.line}]: 'option {name}' overrides previous 'option "
                       f"{d.logformat_here}' in 'defaults' section.")
            d.values["tcplog" if name == "httplog" else "httplog"] = False
            d.logformat_line, d.logformat_here = p.line, name
        if name == "httplog" and len(args) > 2:
            p.ignored(" ".join(args), "The course engine writes the plain 'option httplog' line.")
    elif name == "log-health-checks":
        if too_many(p, args, 0, 1):
            return
        d.values["log_health_checks"] = on
    elif name == "forwardfor":
        d.values["forwardfor"] = on
        if len(args) > 2:
            p.ignored(" ".join(args), "The course engine always adds a plain 'X-Forwarded-For' header.")
    elif name == "forceclose":
        p.alert(f"parsing [{p.file}:{p.line}]: option 'forceclose' is not supported any more since HAProxy 2.0, "
                "please just remove it, or use 'option httpclose' if absolutely needed.")
    elif name == "http-tunnel":
        p.alert(f"parsing [{p.file}:{p.line}]: option 'http-tunnel' is not supported any more since HAProxy 2.1, "
                "please just remove it, it shouldn't be needed.")
    elif name in kw.OPTIONS_TABLE and too_many(p, args, 0, 1):
        return
    elif name in kw.OPTIONS_KNOWN:
        p.ignored(f"{'no ' if kwm == 'no' else ''}option {name}")
    else:
        best = kw.best_match(name, kw.OPTIONS_TABLE, kw.OPTIONS_COMMON)
        tail = f"; did you mean '{best}' maybe ?" if best else "."
        p.alert(f"{p.where}unknown option '{name}'{tail}",
                "Options the course engine applies: redispatch, forwardfor, httpchk, allbackups, log-health-checks.")


# --------------------------------------------------------------------------- stats
STATS_EXPECTS = ("expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', "
                 "'show-node', 'show-desc' or 'show-legends'.")


def parse_stats(p: Context, d: Draft, args: list[str]) -> None:
    """``stats enable|uri U|refresh T|auth U:P|admin if COND|...`` in a proxy section."""
    if d.stats_inherited and d.kind != "defaults":
        # haproxy detaches from the defaults' stats settings at the first 'stats' line
        d.stats = {"enabled": False, "uri": "/haproxy?stats", "refresh": None, "auth": [], "admin": False}
        d.stats_inherited = False
    sub = args[1] if len(args) > 1 else ""
    value = args[2] if len(args) > 2 else ""
    st = d.stats
    if sub == "enable":
        st["enabled"] = True
    elif sub == "uri":
        if not value:
            p.alert(f"{p.where}'uri' needs an URI prefix.")
            return
        st.update(enabled=True, uri=value)
    elif sub == "refresh":
        try:
            st.update(enabled=True, refresh=parse_time(value, unit="s"))
        except TimeFormatError as e:
            if e.kind == "char":
                p.alert(f"parsing [{p.file}:{p.line}]: unexpected character '{e.char}' in argument to stats "
                        "refresh interval.", TIME_HINT + " A bare number means seconds here.")
            else:
                p.alert(f"parsing [{p.file}:{p.line}]: timer overflow in argument <{value}> to stats refresh "
                        "interval, maximum value is 2147483647 s (~68 years).")
    elif sub == "auth":
        if not value:
            p.alert(f"{p.where}'auth' needs a user:password account.", "Write 'stats auth admin:secret'.")
            return
        user, _, password = value.partition(":")
        st["enabled"] = True
        st["auth"].append((user, password))
    elif sub == "admin":
        if d.kind == "defaults":
            p.alert(f"parsing [{p.file}:{p.line}]: 'stats admin' not allowed in 'defaults' section.")
            return
        if value not in ("if", "unless"):
            p.alert(f"{p.where}'stats admin' requires either 'if' or 'unless' followed by a condition.",
                    "Write 'stats admin if TRUE'.")
            return
        cond_words = args[3:]
        if parse_condition(p, d, cond_words, "a 'stats admin' rule", column=None) is None:
            return
        st["enabled"] = True
        truth = {"TRUE": True, "LOCALHOST": True, "FALSE": False}.get(" ".join(cond_words))
        if truth is None:
            p.ignored(" ".join(args), "The course engine understands 'stats admin if TRUE' (or LOCALHOST).")
        else:
            st["admin"] = truth if value == "if" else not truth
    elif sub in ("realm", "scope", "hide-version", "show-legends", "show-modules", "show-node",
                 "show-desc", "http-request"):
        st["enabled"] = True
        p.ignored(f"stats {sub}")
    else:
        what = f"unknown stats parameter '{sub}'" if sub else "missing keyword in 'stats'"
        p.alert(f"parsing [{p.file}:{p.line}]: {what}, {STATS_EXPECTS}",
                "The course uses 'stats enable', 'stats uri /stats', 'stats refresh 5s', "
                "'stats auth user:password' and 'stats admin if TRUE'.")
