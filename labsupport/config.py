"""HAProxy configuration text -> frozen dataclasses.

How it works: the text is split into lines and words the way HAProxy does it (quotes,
backslash escapes, ``#`` comments). ``global``, ``defaults``, ``frontend``, ``backend`` and
``listen`` start sections; each line of a proxy section is handled by the function its
keyword maps to in ``config_proxy.PROXY_KEYWORDS`` (``config_proxy`` also holds the server,
bind and condition parsers). Like ``haproxy -c``, checking runs in three stages, each only
when the one before found no fatal error:

1. parse: every line, every problem (several errors in one pass);
2. check: cross-references (default_backend, use_backend, duplicate server names, modes,
   missing-timeouts warnings);
3. addr: server addresses are resolved (IP literals, ``localhost`` and /etc/hosts; never DNS).

Problems are ``Message``s worded exactly as HAProxy 2.6 prints them (``Message.text`` is what
follows ``config : `` on haproxy's stderr). A keyword HAProxy accepts but the course engine
does not implement gets a located WARNING instead of being silently dropped. ``parse`` raises
``ConfigError`` when a fatal ALERT was found; warnings are kept on ``Config.warnings``.
``check`` (in ``config_report``) reproduces ``haproxy -c -f FILE`` as (exit code, stdout, stderr).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError, Message

ALGORITHMS = ("roundrobin", "static-rr", "leastconn", "source", "first", "random", "uri")
MAX_TIME_MS = 2147483647


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
    ignore_case: bool = False  # the ACL had '-i' (compare lower-cased)


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
    id: int = 0  # 1..n in declaration order unless set with 'id'
    line: int = 0
    address: str = ""  # the address as written ("localhost:8080")


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

    @property
    def type_name(self) -> str:
        """How haproxy names this kind in messages: frontend, backend or proxy (listen)."""
        return "proxy" if self.kind == "listen" else self.kind


@dataclass(frozen=True)
class Config:
    proxies: tuple[Proxy, ...] = ()
    maxconn: int | None = None  # global maxconn
    stats_socket: str | None = None
    warnings: tuple[Message, ...] = ()
    path: str | None = None
    text: str = field(default="", repr=False)
    stats_socket_level: str | None = None  # "user" | "operator" | "admin" when a socket is set

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

    @property
    def has_listener(self) -> bool:
        """True when some frontend binds a port (haproxy -c exits 2 otherwise)."""
        return any(p.binds for p in self.proxies) or self.stats_socket is not None


def parse(text: str, path: str | None = None) -> Config:
    """Parse configuration text; raise ``ConfigError`` listing every ALERT found.

    The error's ``stage`` attribute says which stage failed ("parse", "abort", "check" or
    "addr"): ``config_report.format_haproxy`` needs it to print haproxy's trailer lines.
    """
    from .config_parser import analyse

    result = analyse(text, path)
    if result.config is None:
        err = ConfigError(result.messages, path)
        err.stage = result.stage  # type: ignore[attr-defined]
        raise err
    return result.config


def load(path: str) -> Config:
    """Read and parse a configuration file (a missing final newline is an error, as in haproxy)."""
    from .config_parser import analyse

    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    result = analyse(text, str(path), from_file=True)
    if result.config is None:
        err = ConfigError(result.messages, str(path))
        err.stage = result.stage  # type: ignore[attr-defined]
        raise err
    return result.config


class TimeFormatError(ValueError):
    """A time value haproxy refuses; ``kind`` is "char", "over" or "under" (``char`` for "char")."""

    def __init__(self, value: str, kind: str, char: str = ""):
        self.value, self.kind, self.char = value, kind, char
        if kind == "over":
            msg = f"timer overflow in '{value}' (maximum value is {MAX_TIME_MS} ms or ~24.8 days)"
        elif kind == "under":
            msg = f"timer underflow in '{value}' (minimum non-null value is 1 ms)"
        else:
            msg = (f"unexpected character '{char}' in time '{value}' (write a whole number with a "
                   "unit among us ms s m h d, e.g. 10s; a bare number means ms)")
        super().__init__(msg)


_UNITS_US = {"us": 1, "ms": 1000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}


def parse_time(value: str, unit: str = "ms") -> int:
    """HAProxy time: bare number = ``unit`` (ms); units us ms s m h d; returns milliseconds.

    Port of haproxy's ``parse_time_err``: ``1.5s``, ``5S``, ``-1`` and empty strings raise
    ``TimeFormatError``; a fraction of a ms rounds up (``10us`` -> 1); values must stay below
    2^31 ms. Extra characters after a unit (``10sx``) are accepted, as haproxy 2.6 does (it
    only warns).
    """
    if not value or not value[0].isdigit():
        raise TimeFormatError(value, "char", value[:1])
    i = 0
    while i < len(value) and value[i].isdigit():
        i += 1
    number, rest = int(value[:i]), value[i:]
    if not rest:
        result_us = number * _UNITS_US[unit]
    else:
        u = "us" if rest.startswith("us") else "ms" if rest.startswith("ms") else rest[0]
        if u not in _UNITS_US:
            raise TimeFormatError(value, "char", rest[0])
        result_us = number * _UNITS_US[u]
    result = -(-result_us // 1000)  # round up to whole ms
    if result > MAX_TIME_MS:
        raise TimeFormatError(value, "over")
    if result == 0 and number:
        raise TimeFormatError(value, "under")
    return result


def __getattr__(name: str):
    # check/format_haproxy live in config_report; exposed here lazily to avoid an import cycle.
    if name in ("check", "format_haproxy", "analyse"):
        from . import config_report

        return getattr(config_report, name)
    raise AttributeError(name)
