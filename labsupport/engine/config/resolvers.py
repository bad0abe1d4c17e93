"""DNS service discovery in the configuration: the ``resolvers`` section, the server keywords that use
it (``resolvers``, ``resolve-prefer``, ``resolve-opts``, ``init-addr``) and ``server-template``.

How it works: a ``resolvers NAME`` section collects nameservers, hold periods, retries and timeouts
into a ``ResolversConfig`` (HAProxy 2.6's defaults below); the parser sends each of its lines to
``resolvers_line``. ``server-template PREFIX NUM|LOW-HIGH FQDN[:PORT] [params]`` is parsed as one
``server`` line whose settings are copied to servers PREFIX<LOW> .. PREFIX<HIGH>. At the addr stage
``init_address`` applies ``init-addr`` (default ``last,libc``): ``last`` (no state file here: skipped),
``libc`` (the engine's own lookup: IP literals, localhost, /etc/hosts -- never DNS), ``none`` (start
without an address, in MAINT (resolution)) or an IP. proxy/resolver.py does the run-time part.

The course never sends traffic off the machine: a nameserver not on a loopback address is reported
(a located warning) and never queried; ``parse-resolv-conf`` (the machine's real resolvers) likewise.

Follows HAProxy 2.6's src/resolvers.c (cfg_parse_resolvers, resolvers_finalize_config) and
src/server.c (srv_parse_init_addr, srv_parse_resolve_*, _srv_parse_tmpl_range, srv_iterate_initaddr),
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .words import DIGITS, TimeFormatError, atol, parse_time, resolve

HOLD_EVENTS = ("nx", "other", "refused", "timeout", "valid", "obsolete")
# resolvers.c's defaults (ms): a valid answer is kept 10 s; errors 30 s; a vanished record 0 s
DEFAULT_HOLD = {"nx": 30000, "other": 30000, "refused": 30000, "timeout": 30000, "valid": 10000, "obsolete": 0}
RESOLVE_WORDS = ("resolvers", "resolve-prefer", "resolve-opts", "resolve-net", "init-addr")
RESOLVE_OPTS = ("allow-dup-ip", "ignore-weight", "prevent-dup-ip")
ENGINE_HINT = ("The course engine asks nameservers on this machine only (127.0.0.0/8 or ::1), such as "
               "the lab's DNSServer: traffic never leaves the machine.")


@dataclass(frozen=True)
class ResolversConfig:
    """One ``resolvers`` section. ``nameservers``: (name, ip, port, queried); ``queried`` is False for a
    nameserver off this machine (reported at parse time, never asked)."""

    name: str
    line: int = 0
    nameservers: tuple[tuple[str, str, int, bool], ...] = ()
    hold: dict = field(default_factory=lambda: dict(DEFAULT_HOLD))
    resolve_retries: int = 3
    timeout_resolve: int = 1000  # ms between resolutions when no hold period applies
    timeout_retry: int = 1000  # ms to wait for an answer before asking again
    accepted_payload_size: int = 512

    @property
    def queried(self) -> list[tuple[str, int]]:
        return [(ip, port) for _, ip, port, ok in self.nameservers if ok]


def _state(p) -> dict:
    """The parser's resolvers sections, by name (kept on the parser, like maps_of)."""
    if not hasattr(p, "_resolvers"):
        p._resolvers = {}
    return p._resolvers


def start_section(p, args: list[str]) -> None:
    """``resolvers NAME``: a new section (HAProxy refuses a missing or repeated name)."""
    sections = _state(p)
    p.section, p.draft = "resolvers", None
    if len(args) < 2:
        p.alert(f"{p.where}missing name for resolvers section.", "Write e.g. 'resolvers lab'.")
        p._resolvers_current = None
        return
    name = args[1]
    if name in sections:
        p.alert(f"Parsing [{p.file}:{p.line}]: resolvers '{name}' has same name as another resolvers "
                f"(declared at {p.file}:{sections[name]['line']}).", "Give every resolvers section its own name.")
        p._resolvers_current = None
        return
    sections[name] = {"name": name, "line": p.line, "file": p.file, "nameservers": [], "hold": dict(DEFAULT_HOLD),
                      "resolve_retries": 3, "timeout_resolve": 1000, "timeout_retry": 1000,
                      "accepted_payload_size": 512}
    p._resolvers_current = name


def _time(p, value: str, what: str) -> int | None:
    try:
        return parse_time(value)
    except TimeFormatError as e:
        if e.kind == "char":
            p.alert(f"parsing [{p.file}:{p.line}]: unexpected character '{e.char}' in argument to <{what}>.")
        else:
            p.alert(f"parsing [{p.file}:{p.line}]: {e} in argument to <{what}>.")
        return None


def _nameserver(p, r: dict, args: list[str]) -> None:
    if len(args) < 3:
        p.alert(f"{p.where}'nameserver' expects <name> and <addr>[:<port>] as arguments.",
                "Write e.g. 'nameserver ns1 127.0.0.1:5353'.")
        return
    name, addr = args[1], args[2]
    for other in r["nameservers"]:
        if other[0] == name:
            p.alert(f"Parsing [{p.file}:{p.line}]: nameserver '{name}' has same name as another nameserver "
                    f"(declared at {p.file}:{other[4]}).", "Give every nameserver its own name.")
            return
    bare = addr.split("@", 1)[1] if "@" in addr else addr
    host, _, port = bare.rpartition(":") if ":" in bare and not bare.startswith("[") else (bare, "", "")
    if bare.startswith("["):
        host, _, port = bare[1:].partition("]")
        port = port[1:]
    ip = resolve(host)
    if ip is None or host in ("", "*"):
        p.alert(f"{p.where}'nameserver {name}' : invalid address: '{host}' in '{addr}'\n",
                "A nameserver is IP:PORT, e.g. 127.0.0.1:5353.")
        return
    if port and (port[0] not in DIGITS or not 0 < atol(port) <= 65535):
        p.alert(f"{p.where}'nameserver {name}' : invalid port '{port}'", "Use a port between 1 and 65535.")
        return
    local = ipaddress.ip_address(ip).is_loopback
    if "@" in addr and not addr.startswith(("udp@", "ipv4@", "ipv6@", "udp4@", "udp6@")):
        p.warn(f"{p.where}'nameserver {name} {addr}': the course engine asks nameservers over UDP only; "
               "this one is not queried.", ENGINE_HINT)
        local = False
    elif not local:
        p.warn(f"{p.where}nameserver '{name}' at {ip} is not on this machine: the course engine does not "
               "query it.", ENGINE_HINT)
    r["nameservers"].append((name, ip, atol(port) if port else 53, local, p.line))


def resolvers_line(p, args: list[str]) -> None:
    """One line of a ``resolvers`` section, with HAProxy 2.6's messages."""
    name = getattr(p, "_resolvers_current", None)
    if name is None:
        return  # the header was refused: its lines are not parsed
    r = _state(p)[name]
    word = args[0]
    if word == "nameserver":
        _nameserver(p, r, args)
    elif word == "hold":
        if len(args) < 3:
            p.alert(f"{p.where}'hold' expects an <event> and a <time> as arguments.")
            p.alert("<event> can be either 'valid', 'nx', 'refused', 'timeout', or 'other'")
            return
        if args[1] not in HOLD_EVENTS:
            p.alert(f"{p.where}'hold' unknown <event>: '{args[1]}', expects either 'nx', 'timeout', 'valid', "
                    "'obsolete' or 'other'.")
            return
        t = _time(p, args[2], "hold")
        if t is not None:
            r["hold"][args[1]] = t
    elif word == "resolve_retries":
        if len(args) < 2 or not args[1]:
            p.alert(f"{p.where}'resolve_retries' expects <nb> as argument.")
            return
        r["resolve_retries"] = atol(args[1])
    elif word == "timeout":
        if len(args) < 2 or args[1] not in ("retry", "resolve"):
            got = args[1] if len(args) > 1 else ""
            p.alert(f"{p.where}'timeout' expects 'retry' or 'resolve' and <time> as arguments got '{got}'.")
            return
        if len(args) < 3:
            p.alert(f"{p.where}'timeout {args[1]}' expects <time> as argument.")
            return
        t = _time(p, args[2], f"timeout {args[1]}")
        if t is not None:
            r["timeout_" + args[1]] = t
    elif word == "accepted_payload_size":
        size = atol(args[1]) if len(args) > 1 else 0
        if not 12 <= size <= 65535:
            p.alert(f"{p.where}'accepted_payload_size' must be between 12 and 65535 inclusive (was {size}).")
            return
        r["accepted_payload_size"] = size
    elif word == "parse-resolv-conf":
        p.warn(f"{p.where}'parse-resolv-conf' (the machine's own resolvers in /etc/resolv.conf) is accepted by "
               "HAProxy but ignored by the course engine: it never asks them.", ENGINE_HINT)
    elif word == "resolution_pool_size":
        p.warn(f"{p.where}'resolution_pool_size' directive is now deprecated and ignored.")
    else:
        p.alert(f"{p.where}unknown keyword '{word}' in 'resolvers' section",
                "A resolvers section takes: nameserver, hold, resolve_retries, timeout resolve|retry, "
                "accepted_payload_size, parse-resolv-conf.")


def finish_sections(p) -> dict[str, ResolversConfig]:
    """The sections as configs, with resolvers_finalize_config's warning for one without nameservers."""
    out = {}
    for name, r in _state(p).items():
        if not r["nameservers"]:
            p.messages.append(_message(p, "WARNING", f"resolvers '{name}' [{r['file']}:{r['line']}] has no "
                                       "nameservers configured!", r["line"]))
        out[name] = ResolversConfig(name, r["line"], tuple(ns[:4] for ns in r["nameservers"]), r["hold"],
                                    r["resolve_retries"], r["timeout_resolve"], r["timeout_retry"],
                                    r["accepted_payload_size"])
    return out


def _message(p, level: str, text: str, line: int):
    from ...errors import Message

    return Message(level, text, p.file, line)


# --------------------------------------------------------------------------- server keywords
def server_resolve_kw(s: dict, word: str, value: str) -> str | None:
    """``resolvers``, ``resolve-prefer``, ``resolve-opts``, ``resolve-net``, ``init-addr`` on a server or
    default-server line; HAProxy's error text (parse_server adds the final '.')."""
    if word == "resolvers":
        s["resolvers"] = value
    elif word == "resolve-prefer":
        if value not in ("ipv4", "ipv6"):
            return "'resolve-prefer' expects either ipv4 or ipv6 as argument."
        s["resolve_prefer"] = value
    elif word == "resolve-opts":
        for opt in value.split(","):
            if opt not in RESOLVE_OPTS:
                return (f"'resolve-opts' : unknown resolve-opts option '{opt}', supported methods are "
                        "'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'.")
        for opt in ("allow-dup-ip", "ignore-weight"):  # prevent-dup-ip is what the engine does anyway
            if opt in value.split(","):
                s.setdefault("_ignored", []).append(f"resolve-opts {opt}")
    elif word == "init-addr":
        methods = []
        for m in value.split(","):
            if m not in ("libc", "last", "none"):
                try:
                    ipaddress.ip_address(m)
                except ValueError:
                    return (f"'init-addr' : unknown init-addr method '{m}', supported methods are 'libc', "
                            "'last', 'none'.")
            methods.append(m)
        s["init_addr"] = tuple(methods)
    else:  # resolve-net: a preference among several answers, which the lab's answers never need
        s.setdefault("_ignored", []).append(f"{word} {value}")
    return None


def template_range(text: str) -> tuple[int, int] | None:
    """``NUM`` (1..NUM) or ``LOW-HIGH``; None when HAProxy refuses it."""
    low, dash, high = text.partition("-")
    if not low or any(c not in DIGITS for c in low) or (dash and (not high or any(c not in DIGITS for c in high))):
        return None
    lo, hi = (int(low), int(high)) if dash else (1, int(low))
    return (lo, hi) if 0 < lo <= hi else None


def check_servers(p, sections: dict) -> None:
    """The check stage: every server's ``resolvers`` must name a section (HAProxy's message)."""
    for d in p.proxies:
        for s in d.servers:
            if s.get("resolvers") and s["resolvers"] not in sections:
                p.alert(f"backend '{d.name}', server '{s['name']}': unable to find required resolvers "
                        f"'{s['resolvers']}'", "Name a resolvers section declared in this file (e.g. 'resolvers "
                        "lab').", line=s["line"])


def init_address(p, proxy: str, s: dict) -> str | None:
    """The address a server starts with (``""``: none, MAINT (resolution)); None after an alert."""
    host = s["host"]
    if s.get("resolvers") and host.startswith("_"):
        p.warn(f"[{p.file}:{s['line']}] : 'server {proxy}/{s['name']}' : '{host}' is an SRV name: the course "
               "engine asks for A and AAAA records only, so this server gets no address from it.",
               "Name the servers' A records (e.g. app.lab:8080) instead.", line=s["line"])
    explicit = "init_addr" in s
    for method in s.get("init_addr", ("last", "libc")):
        if method == "last":
            continue  # needs a server-state file, which the engine never writes
        if method == "none":
            return ""
        ip = resolve(host) if method == "libc" else method
        if ip is not None:
            return ip
    where = f"[{p.file}:{s['line']}] : 'server {proxy}/{s['name']}' : "
    if s.get("resolvers") and not explicit:
        p.warn(f"{where}could not resolve address '{host}', disabling server.",
               "It starts in MAINT (resolution) and joins when its resolvers answer.", line=s["line"])
        return ""
    p.alert(f"{where}could not resolve address '{host}'.",
            "The course engine resolves IP addresses, 'localhost' and names in /etc/hosts at start (never "
            "DNS): add 'init-addr none' and 'resolvers NAME' to let the resolvers fill the address in.",
            line=s["line"])
    return None
