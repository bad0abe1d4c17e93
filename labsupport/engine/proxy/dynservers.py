"""Servers added and removed at run time: ``add server``, ``del server``, ``set server ... addr``,
``enable|disable agent``, answered as HAProxy 2.6.12's CLI answers them.

Follows HAProxy 2.6's src/server.c (cli_parse_add_server, cli_parse_delete_server,
srv_update_addr_port, the keywords flagged SRV_PARSE_DYNAMIC) and src/check.c (the agent commands),
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).

How it works (what 2.6.12 does, measured): ``add server be/s ADDR[:PORT] [keywords]`` parses a server
line of its own: ``default-server`` is NOT applied, the server gets the lowest free id, joins the
backend in maintenance (unless the line says ``enabled``) and, with ``check``, its checks stay off
until ``enable health``. Only backends whose algorithm is dynamic take one (not static-rr, not
hash-type map-based). ``del server`` removes a server in maintenance with no connection in flight or
in its queue. Errors found before the server line is read (a missing name, no such backend, a static
algorithm) and every ``del server`` answer come without the usual empty line after them.
The engine answers with a sentence, never silently, for what HAProxy accepts and it does not do
(an FQDN address, port maps, track, agent checks, and server keywords it ignores in a config).
"""
from __future__ import annotations

from ..config import ServerConfig
from ..config import keywords as kw
from ..config.context import SERVER_DEFAULTS, Context, Draft
from ..config.server import port_error, server_keyword
from ..config.words import SECTION_NAME_CHARS, atol
from .state import BackendRT, ServerRT, ip_literal

REQUIRE = "Require 'backend/server'."
REASON = "stats socket command"
VERIFY_MSG = ("verify is enabled by default but no CA file specified. If you're running on a LAN where you're "
              "certain to trust the server's certificate, please set an explicit 'verify none' statement on the "
              "'server' line, or use 'ssl-server-verify none' in the global section to disable server-side "
              "verifications by default.\n")
# server keywords 2.6 registers without SRV_PARSE_DYNAMIC: refused on 'add server'
NOT_DYNAMIC = frozenset("cookie redir resolvers resolve-net resolve-opts resolve-prefer init-addr non-stick "
                        "stick no-check no-agent-check no-check-ssl".split())
# what the engine runs with on a dynamic server (the rest HAProxy accepts, the engine does not do)
ENGINE_WORDS = frozenset("weight check inter fastinter downinter rise fall maxconn maxqueue disabled enabled backup "
                         "id slowstart observe error-limit on-error on-marked-down no-backup ssl verify ca-file "
                         "sni check-sni check-ssl".split())


def _not_implemented(what: str) -> str:
    return (f"The course engine does not implement {what} on 'add server' (real HAProxy 2.6 accepts it); "
            "it takes weight, check, inter, fastinter, downinter, rise, fall, maxconn, maxqueue, disabled, "
            "enabled, backup, id, slowstart, observe, error-limit, on-error, on-marked-down and ssl, "
            "verify, ca-file, sni.\n")


class _Bare(Exception):
    """An answer HAProxy sends with no empty line after it (cli_err in these handlers)."""


def _split(spec: str | None) -> tuple[str, str]:
    be, slash, name = (spec or "").partition("/")
    if not slash or not be or not name:
        raise _Bare(REQUIRE)
    return be, name


def _backend(engine, name: str) -> BackendRT:
    be = engine.backends.get(name)
    if be is None:
        raise _Bare("No such backend.")
    return be


def add_server(engine, args: list[str]) -> str:
    """``add server <backend>/<server> <addr>[:<port>] [keywords]``: the answer."""
    try:
        bname, name = _split(args[2] if len(args) > 2 else None)
        be = _backend(engine, bname)
        if not be.algo.dynamic:
            raise _Bare("Backend must use a dynamic load balancing to support dynamic servers.")
    except _Bare as e:
        return str(e)
    if len(args) < 4:
        return "'server' expects <name> and <addr>[:<port>] as arguments.\n"
    bad = next((c for c in name if c not in SECTION_NAME_CHARS), None)
    if bad:
        return f"character '{bad}' is not permitted in server name '{name}'.\n"
    addr = args[3]
    parsed = _parse_addr(addr)
    if isinstance(parsed, str):
        return parsed
    host, port = parsed
    s = dict(SERVER_DEFAULTS, name=name, host=host, port=port, line=0, address=addr)
    enabled = forced = disabled = False
    p, d = Context(None), Draft.fresh("backend", bname, 0)
    i = 4
    while i < len(args):
        word = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        if word not in kw.SERVER_KEYWORDS:
            return f"unknown keyword '{word}'.\n"
        if word in NOT_DYNAMIC:
            return f"'{word}' option is not accepted for dynamic server\n"
        if word == "track":
            target = be.servers.get(value) if "/" not in value else None
            if "/" in value:
                tb, _, tname = value.partition("/")
                target = engine.backends[tb].servers.get(tname) if tb in engine.backends else None
            if target is not None and target.dynamic:
                return f"unable to use {value} for tracking as it is a dynamic server.\n"
            return _not_implemented("'track'")
        if word == "usesrc":
            return "'usesrc' only allowed after a 'source' statement..\n"
        if word not in ENGINE_WORDS:
            return _not_implemented(f"'{word}'")
        if word == "id":  # checked here: the config's message names a file and line, the CLI's "(null):0"
            if not value:
                return "'id' : expects an integer argument.\n"
            sid = atol(value) & 0xFFFFFFFF  # an int: 99999999999 becomes 1215752191
            if not 0 < sid < 1 << 31:
                return "'id' : custom id has to be > 0.\n"
            other = next((o for o in be.servers.values() if o.sid == sid), None)
            if other is not None:
                where = "(null):0" if other.dynamic else f"{engine.config.path or 'haproxy.cfg'}:{other.cfg.line}"
                return f"'id' : custom id {sid} already used at {where} ('server {other.name}').\n"
            s["id"], forced = sid, True
        else:
            err = server_keyword(p, d, s, args, i)
            if err:
                return err + ".\n"
            alerts = [m.text for m in p.messages if m.level == "ALERT"]
            if alerts:
                return alerts[0] + "\n"
        if word in ("enabled", "disabled"):
            enabled, disabled = word == "enabled", word == "disabled"
        i += 1 if word in kw.SERVER_FLAGS else 2
    default_verify = getattr(engine.config, "ssl_server_verify", "required")
    s["verify"] = s.pop("_verify", None) or default_verify
    if (s["ssl"] or s["check_ssl"]) and s["verify"] == "required" and not s["ca_file"]:
        return VERIFY_MSG if default_verify == "required" else "verify is enabled but no CA file specified.\n"
    if name in be.servers:
        return "Already exists a server with the same name in backend.\n"
    if not s["id"]:
        used = {srv.sid for srv in be.servers.values()}
        s["id"] = next(n for n in range(1, len(used) + 2) if n not in used)
    s["disabled"] = not enabled  # a new server starts in maintenance unless 'enabled'
    cfg = ServerConfig(**{k: v for k, v in s.items() if k in ServerConfig.__dataclass_fields__})
    srv = be.add_server(cfg, forced)
    srv.dynamic = 5 if disabled else 1
    srv.health.check = False  # 2.6: checks on a dynamic server start with 'enable health'
    if cfg.check:
        from .checker import Checker  # (the checker imports the engine's health code: only when needed)

        srv.checker = Checker(engine, srv, cfg.inter)
        engine.checkers.append(srv.checker)
    return "New server registered.\n"


def _parse_addr(addr: str) -> tuple[str, int] | str:
    """ADDR[:PORT] as 'add server' reads it: (ip, port) or the answer refusing it."""
    if addr.startswith("[") and "]" not in addr:  # 2.6 takes it for a name ('[:' port 1 for '[::1')
        return _not_implemented(f"a name as address ('{addr}')")
    if addr.startswith("["):
        host, _, port = addr[1:].partition("]")
        port = port[1:]
    elif addr.count(":") > 1:  # a bare IPv6 address: the last ':' starts the port
        host, _, port = addr.rpartition(":")
    else:
        host, _, port = addr.partition(":")
    if port[:1] in ("+", "-"):
        return _not_implemented(f"a port map ('{addr}')")
    err = port_error(port, addr, allow_zero=True)
    if err:
        # haproxy's message for a bad character ends with an extra newline
        return err + ("\n\n" if err.startswith("invalid character") else "\n")
    ip = ip_literal(host or "0.0.0.0")
    if ip is None:
        return _not_implemented(f"a name as address ('{host}': HAProxy keeps it as an FQDN, resolved only "
                                "with 'resolvers', which 'add server' refuses)")
    return ip, atol(port)


def del_server(engine, args: list[str]) -> str:
    """``del server <backend>/<server>``: the answer (never followed by an empty line)."""
    try:
        bname, name = _split(args[2] if len(args) > 2 else None)
    except _Bare as e:
        return str(e)
    be = engine.backends.get(bname)
    if be is None:
        return "No such backend."
    srv = be.servers.get(name)
    if srv is None:
        return "No such server."
    if srv.health.admin != "maint":
        return "Only servers in maintenance mode can be deleted."
    if srv.scur or srv.queue:
        return "Server still has connections attached to it, cannot remove it."
    be.remove_server(name)
    if srv.checker is not None and srv.checker in engine.checkers:
        engine.checkers.remove(srv.checker)
    return "Server deleted."


def set_addr(srv: ServerRT, args: list[str]) -> str:
    """``set server <b>/<s> addr <ip> [port <port>]``: the answer."""
    ip = args[4] if len(args) > 4 else ""
    if not ip:
        return "set server <b>/<s> addr requires an address and optionally a port.\n"
    port = (args[6] if len(args) > 6 else "") if len(args) > 5 and args[5] == "port" else None
    return srv.set_addr(ip, port, REASON) + "\n"


def set_fqdn(srv: ServerRT, args: list[str]) -> str:
    """``set server <b>/<s> fqdn <name>``: without 'resolvers' (the engine has none), 2.6 refuses."""
    return "set server <b>/<s> fqdn failed because no resolution is configured.\n"


def agent(srv: ServerRT, on: bool) -> str:
    """``enable|disable agent``: the engine runs no agent checks, so no server has one configured."""
    return "Agent was not configured on this server, cannot enable.\n" if on else ""
