"""What keyword parsers share: the section being built (``Draft``) and the reporter of messages.

``Context`` holds the messages of one pass and words them as HAProxy 2.6 does; the parser
(``parser.Context``) is a ``Context`` that also walks the lines. Keyword modules (``server``,
``proxy``) take a ``Context`` so they never import the parser above them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from ...errors import Message
from .model import Bind, Proxy, ServerConfig, StatsConfig, Timeouts, UseBackend

IGNORED_HINT = ("The bundled engine does not implement this keyword and runs without it; real "
                "HAProxy applies it. Remove it, or run this file on real HAProxy.")
# what a server line's keywords may set, with the defaults the model declares (one home: ServerConfig);
# a proxy's default-server line changes its copy, every server starts from it
SERVER_DEFAULTS = {f.name: f.default for f in fields(ServerConfig)
                   if f.name not in ("name", "host", "port", "line", "address")}


@dataclass
class Draft:
    """A section being parsed (mutable); ``finish`` freezes a proxy into ``Proxy``."""

    kind: str  # frontend | backend | listen | defaults
    name: str
    line: int
    values: dict[str, Any] = field(default_factory=dict)
    timeouts: dict[str, int | None] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    stats_inherited: bool = False
    binds: list[Bind] = field(default_factory=list)
    use_backends: list[UseBackend] = field(default_factory=list)
    use_backend_targets: list[tuple[str, int, bool]] = field(default_factory=list)  # (name, line, uses L6)
    servers: list[dict[str, Any]] = field(default_factory=list)
    acls: dict[str, Any] = field(default_factory=dict)
    tunnel_timeout: bool = False
    connect_here: bool = False  # 'timeout connect' written in this section (not from defaults)
    # (line, address, TlsBind, notes on its versions) of each 'bind ... ssl'
    tls_binds: list[tuple[int, str, Any, list]] = field(default_factory=list)
    http_rules: dict[str, list] = field(default_factory=lambda: {"request": [], "response": []})
    final_rule: dict[str, bool] = field(default_factory=dict)  # side -> a final action without condition seen
    rule_keywords: set[str] = field(default_factory=set)  # 'http-request'/'http-response' written here
    tcp_rules: list = field(default_factory=list)  # 'tcp-request content' rules (model.TcpRule)
    tcp_l6: list[int] = field(default_factory=list)  # lines of those whose condition reads layer 6
    tcp_other: list[str] = field(default_factory=list)  # 'content'/'connection'/'session': rules not kept
    logformat_line: int = 0  # the line of the last 'option httplog|tcplog' (inherited from defaults)
    logformat_here: str = ""  # 'httplog'/'tcplog' when this very section set its log format
    defsrv: dict[str, Any] = field(default_factory=dict)  # default-server settings

    @property
    def cap_fe(self) -> bool:
        return self.kind in ("frontend", "listen", "defaults")

    @property
    def cap_be(self) -> bool:
        return self.kind in ("backend", "listen", "defaults")

    @property
    def type_name(self) -> str:
        return {"listen": "proxy"}.get(self.kind, self.kind)

    @classmethod
    def fresh(cls, kind: str, name: str, line: int) -> "Draft":
        d = cls(kind, name, line)
        d.values = {f: getattr(Proxy, f) for f in (
            "mode", "default_backend", "balance", "balance_args", "hash_type", "hash_function",
            "hash_avalanche", "hash_balance_factor", "retries", "redispatch", "redispatch_after", "forwardfor",
            "allbackups", "httpchk", "http_check_expect_status", "httpchk_version", "http_check_headers",
            "http_check_expect", "log_health_checks", "maxconn", "log_global", "httplog", "tcplog", "dontlognull",
            "prometheus", "cookie", "persist", "persist_rules", "dyncookie_key", "inspect_delay")}
        d.timeouts = {f: None for f in Timeouts.__dataclass_fields__}
        d.defsrv = dict(SERVER_DEFAULTS)
        d.stats = {"enabled": False, "uri": "/haproxy?stats", "refresh": None, "auth": [], "admin": False}
        return d

    def inherit(self, kind: str, name: str, line: int) -> "Draft":
        """A new proxy section starting from this defaults section's settings."""
        d = Draft.fresh(kind, name, line)
        d.values = copy.deepcopy(self.values)
        if kind == "backend":
            d.values["default_backend"] = None  # haproxy only copies it to frontend-capable proxies
        elif kind == "frontend":
            d.values["cookie"] = None  # and the cookie to backend-capable ones
        d.timeouts = dict(self.timeouts)
        d.defsrv = copy.deepcopy(self.defsrv)
        d.stats = copy.deepcopy(self.stats)
        d.stats_inherited = True
        d.tunnel_timeout = self.tunnel_timeout
        d.logformat_line = self.logformat_line
        return d

    def finish(self, servers: tuple[ServerConfig, ...]) -> Proxy:
        st = dict(self.stats, auth=tuple(self.stats["auth"]))
        t = dict(self.timeouts)
        if not t["tarpit"]:  # cfgparse.c: the tarpit timeout falls back to the connect timeout, which
            # proxy.c copies from defaults to backend-capable proxies only
            t["tarpit"] = t["connect"] if self.cap_be or self.connect_here else None
        return Proxy(kind=self.kind, name=self.name, binds=tuple(self.binds),
                     use_backends=tuple(self.use_backends), acls=tuple(self.acls.items()), servers=servers,
                     http_request=tuple(self.http_rules["request"]), http_response=tuple(self.http_rules["response"]),
                     tcp_request=tuple(self.tcp_rules),
                     timeouts=Timeouts(**t), stats=StatsConfig(**st), line=self.line,
                     **self.values)


class Context:
    """Messages of one pass over a configuration, located at the current file and line."""

    def __init__(self, path: str | None):
        self.path = path
        self.file = path if path is not None else "haproxy.cfg"
        self.line = 0
        self.messages: list[Message] = []
        self.fatal = False
        self.defaults = Draft.fresh("defaults", "", 0)
        self.proxies: list[Draft] = []
        self.crt_base: str | None = None  # global 'crt-base' / 'ca-base': prefixes of relative paths
        self.ca_base: str | None = None
        self.ssl_server_verify = "required"  # global 'ssl-server-verify'
        self.default_bind_tls: dict = {}  # global 'ssl-default-bind-options': where every later bind starts

    @property
    def where(self) -> str:
        return f"parsing [{self.file}:{self.line}] : "

    def alert(self, text: str, hint: str | None = None, fatal: bool = True, line: int | None = None) -> None:
        self.messages.append(Message("ALERT", text, self.file, self.line if line is None else line, hint))
        self.fatal |= fatal

    def warn(self, text: str, hint: str | None = None, line: int | None = None) -> None:
        self.messages.append(Message("WARNING", text, self.file, self.line if line is None else line, hint))

    def errorfile_ok(self, args: list[str]) -> bool:
        """``errorfile CODE PATH``: haproxy reads the file at once; an alert when it cannot."""
        if len(args) < 3:
            return True
        try:
            with open(args[2], "rb"):
                return True
        except OSError:
            self.alert(f"{self.where}errorfile : error opening file '{args[2]}'.",
                       "Give the path of an existing file holding a full HTTP response.")
            return False

    def ignored(self, what: str, hint: str | None = None) -> None:
        """A located warning: HAProxy accepts ``what`` but the course engine does not apply it."""
        self.warn(f"{self.where}'{what}' is accepted by HAProxy but ignored by the course engine.",
                  hint or IGNORED_HINT)


def cap_warning(p: Context, d: "Draft", what: str, need: str, hint: str = "") -> bool:
    """haproxy's warnifnotcap: warn (and return True) when ``d`` lacks the frontend/backend side."""
    if (need == "fe" and d.cap_fe) or (need == "be" and d.cap_be):
        return False
    side = "frontend" if need == "fe" else "backend"
    p.warn(f"{p.where}'{what}' ignored because {d.type_name} '{d.name}' has no {side} capability.{hint}",
           f"'{what}' belongs in a {side} (or listen) section.")
    return True


def too_many(p: Context, args: list[str], maxarg: int, index: int = 0) -> bool:
    """haproxy's alertif_too_many_args_idx."""
    pos = index + maxarg + 1
    if len(args) > pos:
        p.alert(f"{p.where}'{' '.join(args[:index + 1])}' cannot handle unexpected argument '{args[pos]}'.")
        return True
    return False
