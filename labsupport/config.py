"""HAProxy configuration text -> frozen dataclasses.

How it works: the text is split into sections (global, defaults, frontend, backend, listen);
each line is parsed by its section's keyword table. Problems are collected as located
``Message``s in HAProxy's own wording, so one pass reports several errors. ``parse`` raises
``ConfigError`` when any ALERT was found; warnings are kept on ``Config.warnings``.

PARSER: TO BE WRITTEN (this file currently holds the data model only).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError, Message

ALGORITHMS = ("roundrobin", "static-rr", "leastconn", "source", "first", "random", "uri")


@dataclass(frozen=True)
class Timeouts:
    """Timeouts in milliseconds; ``None`` means not set (haproxy: infinite, with a warning)."""

    connect: int | None = None
    client: int | None = None
    server: int | None = None
    queue: int | None = None
    check: int | None = None
    http_request: int | None = None


@dataclass(frozen=True)
class Bind:
    host: str  # "" means all addresses ("*:3000" or ":3000"); the engine binds these to 127.0.0.1
    port: int
    line: int = 0


@dataclass(frozen=True)
class UseBackend:
    backend: str
    kind: str  # "path_beg", "path", "hdr_host" (hdr(host)), or "always" (if TRUE)
    values: tuple[str, ...] = ()
    negate: bool = False
    line: int = 0


@dataclass(frozen=True)
class ServerConfig:
    name: str
    host: str  # resolved IPv4 address ("localhost" -> "127.0.0.1")
    port: int
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
    id: int = 0  # 1..n in declaration order unless set with 'id'
    line: int = 0


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
    balance: str = "roundrobin"
    balance_args: tuple[str, ...] = ()  # random(N) -> ("N",); uri whole/len N/depth N/path-only
    hash_type: str = "map-based"  # or "consistent"
    hash_function: str | None = None  # sdbm|djb2|wt6|crc32 when named
    hash_avalanche: bool = False
    servers: tuple[ServerConfig, ...] = ()
    timeouts: Timeouts = Timeouts()
    retries: int = 3
    redispatch: bool = False
    forwardfor: bool = False
    allbackups: bool = False
    httpchk: tuple[str, str] | None = None  # (method, uri) when 'option httpchk' is set
    http_check_expect_status: int | None = None
    maxconn: int | None = None  # frontend side
    stats: StatsConfig = StatsConfig()
    line: int = 0

    @property
    def has_frontend(self) -> bool:
        return self.kind in ("frontend", "listen")

    @property
    def has_backend(self) -> bool:
        return self.kind in ("backend", "listen")


@dataclass(frozen=True)
class Config:
    proxies: tuple[Proxy, ...] = ()
    maxconn: int | None = None  # global maxconn
    stats_socket: str | None = None
    warnings: tuple[Message, ...] = ()
    path: str | None = None
    text: str = field(default="", repr=False)

    def proxy(self, name: str) -> Proxy:
        for p in self.proxies:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def frontends(self) -> tuple[Proxy, ...]:
        return tuple(p for p in self.proxies if p.has_frontend)

    @property
    def backends(self) -> tuple[Proxy, ...]:
        return tuple(p for p in self.proxies if p.has_backend)


def parse(text: str, path: str | None = None) -> Config:
    """Parse configuration text; raise ``ConfigError`` listing every ALERT found."""
    raise NotImplementedError


def load(path: str) -> Config:
    """Read and parse a configuration file."""
    with open(path, encoding="utf-8") as f:
        return parse(f.read(), path=str(path))


def parse_time(value: str) -> int:
    """HAProxy time: bare number = ms; units us ms s m h d; returns milliseconds."""
    raise NotImplementedError
