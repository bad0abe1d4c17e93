"""The configuration model: frozen dataclasses for a parsed ``haproxy.cfg``.

Nothing here parses or imports: ``parser`` builds these, the engine reads them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ...errors import Message, NotFoundError

# every 'balance' algorithm the engine implements, in the order messages list them
ALGORITHMS = ("roundrobin", "static-rr", "leastconn", "source", "uri", "first", "random")


@dataclass(frozen=True)
class Timeouts:
    """Timeouts in milliseconds; ``None`` means not set (haproxy: infinite, with a warning)."""

    connect: int | None = None
    client: int | None = None
    server: int | None = None
    queue: int | None = None
    check: int | None = None
    http_request: int | None = None
    # 'timeout tarpit', else the proxy's 'timeout connect' (cfgparse.c: "historically inherited from
    # contimeout"); a frontend gets no connect timeout from defaults (proxy.c), so its tarpit is then 0
    tarpit: int | None = None


@dataclass(frozen=True)
class CertEntry:
    """One certificate bundle a TLS bind line loaded (from ``crt`` or a ``crt-list`` line)."""

    path: str
    names: tuple[str, ...]  # lower-case; from the crt-list filters ('!name' excludes), else the SANs and CN
    explicit: bool = False  # the names are crt-list filters
    key: str | None = None  # the private key's file when the bundle has none (HAProxy's PATH.key)


@dataclass(frozen=True)
class TlsBind:
    """``bind ... ssl crt ...``: the certificates in load order (the first is the default one)."""

    certs: tuple[CertEntry, ...]
    min_ver: str | None = None  # "TLSv1.2", "TLSv1.3" ... (None: HAProxy 2.6's default, TLSv1.2)
    max_ver: str | None = None
    alpn: tuple[str, ...] = ()  # what the engine offers: "http/1.1" or nothing
    strict_sni: bool = False  # 'strict-sni': no default certificate, a name nobody configured is refused
    no_tickets: bool = False  # 'no-tls-tickets': sessions resume from the server's cache, not from tickets


@dataclass(frozen=True)
class Bind:
    host: str  # "" means all addresses ("*:3000" or ":3000"); the engine binds these to 127.0.0.1
    port: int
    line: int = 0
    tls: TlsBind | None = None


@dataclass(frozen=True)
class UseBackend:
    """``use_backend NAME [if|unless COND]``; a NAME with ``%[...]`` is worked out per request (``dynamic``)."""

    backend: str
    negate: bool = False  # 'unless' (also inside ``cond``)
    line: int = 0
    cond: Any = None  # engine.sample.Condition, or None: always
    dynamic: Any = None  # engine.sample.LogFormat for a name with %[...]


@dataclass(frozen=True)
class HttpRule:
    """One ``http-request`` / ``http-response`` rule the engine carries out (config/actions.py parses it,
    proxy/actions.py runs it). Values are log-format strings already split into parts (``Fmt``):
    literal bytes, or the name of a variable that needs no sample fetch ("ci", "cp", "fi", "fp")."""

    side: str  # "request" | "response"
    action: str  # "redirect", "set-header", "deny", ... as written
    line: int = 0
    cond: tuple | None = None  # None: no condition; else conditions.parse_condition's groups
    negate: bool = False  # 'unless'
    name: bytes = b""  # a header name (set/add/del/replace-header), lower-cased as HTX stores it
    value: tuple = ()  # the Fmt of set-header, set-path, redirect's location ...
    regex: str = ""  # replace-header / replace-value / replace-path / replace-uri
    match: str = "str"  # del-header -m str|beg|end|sub|reg
    status: int = 0  # return / deny / set-status / redirect code
    reason: tuple | None = None  # set-status reason (a Fmt), None: HAProxy's phrase for the status
    ctype: bytes | None = None  # return / deny content-type
    body: tuple | None = None  # return / deny payload (a Fmt); None: the status's error page or none
    hdrs: tuple = ()  # return / deny 'hdr NAME FMT': ((name, Fmt), ...)
    flags: tuple = ()  # redirect: "drop-query", "append-slash"; redirect 'set-cookie' value in cookie
    cookie: bytes | None = None  # redirect set-cookie / clear-cookie header value
    # track-scN: ("track", N, key Expr, table name or None); sc-inc-gpc0/1(N): ("inc-gpc0"|"inc-gpc1", N)
    stick: tuple = ()


@dataclass(frozen=True)
class TcpRule:
    """``tcp-request content accept|reject [if|unless COND]`` (config/tcprules.py parses it, proxy/tcp.py
    runs it)."""

    action: str  # "accept" | "reject"
    line: int = 0
    cond: Any = None  # engine.sample.Condition ('unless' inside it), or None: always


@dataclass(frozen=True)
class ServerConfig:
    name: str
    host: str  # resolved IPv4 address ("localhost" -> "127.0.0.1")
    port: int  # 0 when the address had no port: haproxy then uses the port the client connected to
    weight: int = 1
    check: bool = False
    inter: int = 2000
    fastinter: int | None = None  # None: same as inter
    downinter: int | None = None  # None: same as inter
    rise: int = 2
    fall: int = 3
    backup: bool = False
    disabled: bool = False
    maxconn: int = 0  # 0 = no limit
    maxqueue: int = 0  # 0 = no limit on this server's own queue
    id: int = 0  # set with 'id'; 0 until Proxy gives it the lowest free one (see with_server_ids)
    line: int = 0
    address: str = ""  # the address as written ("localhost:8080")
    observe: str = "none"  # passive checks: "layer4" | "layer7" watch real traffic's results
    error_limit: int = 10  # consecutive errors before on_error acts
    on_error: str = "fastinter"  # | "fail-check" | "sudden-death" | "mark-down"
    shutdown_sessions: bool = False  # 'on-marked-down shutdown-sessions'
    slowstart: int = 0  # ms: a server coming UP ramps its weight up over this time
    ssl: bool = False  # 'ssl': traffic to the server is TLS
    check_ssl: bool = False  # 'check-ssl': health checks use TLS (they do anyway when 'ssl' is set)
    verify: str = "required"  # 'verify none|required' ('ssl-server-verify' gives the default)
    ca_file: str | None = None
    sni: str | None = None  # the literal of 'sni str(NAME)'
    check_sni: str | None = None
    cookie: str | None = None  # 'cookie VALUE': the persistence cookie's value for this server
    resolvers: str | None = None  # 'resolvers NAME': DNS keeps this server's address (config/resolvers.py)
    fqdn: str | None = None  # the name those resolvers ask for (None: an IP address)
    resolve_prefer: str = "ipv6"  # 'resolve-prefer': the family asked first
    template: str | None = None  # 'server-template' PREFIX this server comes from


@dataclass(frozen=True)
class CookieConfig:
    """A backend's ``cookie NAME [rewrite|insert|prefix] [indirect] ...`` (config/cookie.py parses it,
    proxy/cookies.py applies it). ``domain`` and ``attrs`` are already joined as HAProxy writes them."""

    name: str
    rewrite: bool = False
    insert: bool = False
    prefix: bool = False
    indirect: bool = False
    nocache: bool = False
    postonly: bool = False
    preserve: bool = False
    httponly: bool = False
    secure: bool = False
    domain: str | None = None  # "a.lab; domain=b.lab" for two 'domain' words
    attrs: str | None = None  # "SameSite=Lax; x" for two 'attr' words
    maxidle: int = 0  # seconds (0: cookies without dates)
    maxlife: int = 0
    dynamic: bool = False

    @property
    def active(self) -> bool:
        """HAProxy's PR_CK_ANY: a mode the log reports (passive cookies log '--')."""
        return self.rewrite or self.insert or self.prefix or self.indirect


@dataclass(frozen=True)
class CheckExpect:
    """``http-check expect [!] status|rstatus|string|rstring PATTERN``."""

    kind: str  # "status" | "rstatus" | "string" | "rstring"
    pattern: str
    negate: bool = False


@dataclass(frozen=True)
class StatsConfig:
    enabled: bool = False
    uri: str = "/haproxy?stats"
    refresh: int | None = None  # ms
    auth: tuple[tuple[str, str], ...] = ()
    admin: bool = False


@dataclass(frozen=True)
class Proxy:
    """A frontend, backend or listen section, with the defaults section already applied."""

    kind: str  # "frontend" | "backend" | "listen"
    name: str
    mode: str = "tcp"
    binds: tuple[Bind, ...] = ()
    default_backend: str | None = None
    use_backends: tuple[UseBackend, ...] = ()
    acls: Any = field(default=(), compare=False, repr=False)  # ((name, (engine.sample.Acl, ...)), ...) as declared
    balance: str = "roundrobin"
    balance_args: tuple[str, ...] = ()  # random(N) -> ("N",); uri whole/len N/depth N/path-only
    hash_type: str = "map-based"  # or "consistent"
    hash_function: str | None = None  # sdbm|djb2|wt6|crc32 when named
    hash_avalanche: bool = False
    hash_balance_factor: int = 0  # 0 = off; otherwise > 100 (bounded loads, consistent hash and random)
    servers: tuple[ServerConfig, ...] = ()
    timeouts: Timeouts = Timeouts()
    retries: int = 3
    redispatch: bool = False
    redispatch_after: int = 0  # 'option redispatch [N]': -1 by default (the last retry), N every Nth retry
    forwardfor: bool = False
    allbackups: bool = False
    httpchk: tuple[str, str] | None = None  # (method, uri) when 'option httpchk' is set
    http_check_expect_status: int | None = None  # the one status of 'http-check expect status N'
    httpchk_version: str = "HTTP/1.0"  # 'option httpchk' / 'http-check send ver'
    http_check_headers: tuple[tuple[str, str], ...] = ()  # 'http-check send hdr NAME VALUE'
    http_check_expect: CheckExpect | None = None
    log_health_checks: bool = False
    maxconn: int | None = None  # frontend side
    stats: StatsConfig = StatsConfig()
    log_global: bool = False  # 'log global': this proxy logs to the global section's log targets
    httplog: bool = False  # 'option httplog': HAProxy's HTTP log line (else no per-request line)
    tcplog: bool = False  # 'option tcplog': HAProxy's TCP log line, one per connection (mode tcp)
    dontlognull: bool = False  # 'option dontlognull': no line for connections that sent nothing
    # 'http-request use-service prometheus-exporter [if { path|path_beg P }]': ("always"|"path"|"path_beg", P)
    prometheus: tuple[str, str] | None = None
    cookie: CookieConfig | None = None  # 'cookie NAME ...' (persistence)
    persist: bool = False  # 'option persist': a cookie still leads to a DOWN server
    dyncookie_key: str | None = None  # 'dynamic-cookie-key K' (for 'cookie ... dynamic')
    persist_rules: tuple = ()  # 'force-persist|ignore-persist if|unless COND': (("force"|"ignore", cond), ...)
    http_request: tuple[HttpRule, ...] = ()  # in order (config/actions.py)
    http_response: tuple[HttpRule, ...] = ()
    inspect_delay: int = 0  # 'tcp-request inspect-delay', ms (0: rules decide on what is there)
    tcp_request: tuple[TcpRule, ...] = ()  # 'tcp-request content' rules, in order
    line: int = 0
    stick_table: Any = None  # engine.sticktable.TableConfig of its 'stick-table' line (config/stick.py)
    stick_rules: tuple = ()  # config.stick.StickRule: 'stick on|match|store-request', in order

    def __post_init__(self) -> None:
        if any(not s.id for s in self.servers):
            object.__setattr__(self, "servers", with_server_ids(self.servers))

    @property
    def has_frontend(self) -> bool:
        return self.kind in ("frontend", "listen")

    @property
    def has_backend(self) -> bool:
        return self.kind in ("backend", "listen")

    @property
    def type_name(self) -> str:
        """How haproxy names this kind in messages: frontend, backend or proxy (listen)."""
        return "proxy" if self.kind == "listen" else self.kind


def with_server_ids(servers: tuple[ServerConfig, ...]) -> tuple[ServerConfig, ...]:
    """Servers without an explicit ``id`` get the lowest free ids, in declaration order, as HAProxy
    numbers them (src/cfgparse.c, check_config_validity). The one place ids are assigned: every
    ``Proxy`` applies it, so the algorithms (hash rings), stats (sid) and runtime read ``server.id``."""
    used = {s.id for s in servers if s.id}
    out, nxt = [], 1
    for s in servers:
        if not s.id:
            while nxt in used:
                nxt += 1
            s = replace(s, id=nxt)
            used.add(nxt)
        out.append(s)
    return tuple(out)


@dataclass(frozen=True)
class Config:
    proxies: tuple[Proxy, ...] = ()
    maxconn: int | None = None  # global maxconn
    stats_socket: str | None = None
    warnings: tuple[Message, ...] = ()
    path: str | None = None
    text: str = field(default="", repr=False)
    stats_socket_level: str | None = None  # "user" | "operator" | "admin" when a socket is set
    stats_sockets: tuple[tuple[str, str], ...] = ()  # every 'stats socket' line: (UNIX path, level)
    log_targets: tuple[str, ...] = ()  # global 'log' lines the engine writes to: "stdout" / "stderr"
    master_worker: bool = False  # global 'master-worker'
    hard_stop_after: int | None = None  # global 'hard-stop-after' (ms): bounds a soft stop
    noreuseport: bool = False  # global 'noreuseport': the standalone command binds without SO_REUSEPORT
    maps: Any = field(default=None, compare=False, repr=False)  # engine.sample.MapStore: the map files read
    peers: tuple = ()  # config/peers.py's PeersSection: the kept 'peers' sections
    resolvers: tuple[Any, ...] = ()  # config.resolvers.ResolversConfig: the 'resolvers' sections

    def proxy(self, name: str) -> Proxy:
        for p in self.proxies:
            if p.name == name:
                return p
        raise NotFoundError(f"no frontend, backend or listen section named {name!r} "
                            f"(sections: {', '.join(p.name for p in self.proxies) or 'none'})")

    @property
    def frontends(self) -> tuple[Proxy, ...]:
        return tuple(p for p in self.proxies if p.has_frontend)

    @property
    def backends(self) -> tuple[Proxy, ...]:
        return tuple(p for p in self.proxies if p.has_backend)

    @property
    def has_listener(self) -> bool:
        """True when some frontend binds a port (haproxy -c exits 2 otherwise)."""
        return any(p.binds for p in self.proxies) or self.stats_socket is not None
