"""HAProxy configuration text -> frozen dataclasses.

How it works: the text is split into lines and words the way HAProxy does it (quotes,
backslash escapes, ``#`` comments). ``global``, ``defaults``, ``frontend``, ``backend`` and
``listen`` start sections; each line of a proxy section is handled by the function its
keyword maps to in ``proxy.PROXY_KEYWORDS`` (``server`` holds the server, bind, option and
stats parsers, ``conditions`` the ACL conditions). Like ``haproxy -c``, checking runs in three stages, each only
when the one before found no fatal error:

1. parse: every line, every problem (several errors in one pass);
2. check: cross-references (default_backend, use_backend, duplicate server names, modes,
   missing-timeouts warnings);
3. addr: server addresses are resolved (IP literals, ``localhost`` and /etc/hosts; never DNS).

Problems are ``Message``s worded exactly as HAProxy 2.6 prints them (``Message.text`` is what
follows ``config : `` on haproxy's stderr). A keyword HAProxy accepts but the course engine
does not implement gets a located WARNING instead of being silently dropped. ``parse`` raises
``ConfigError`` when a fatal ALERT was found; warnings are kept on ``Config.warnings``.
``check`` (in ``report``) reproduces ``haproxy -c -f FILE`` as (exit code, stdout, stderr).
``outline`` (in ``parser``) gives each line's words and section, for tools that edit a config as
text (``cfgedit``, the real-HAProxy runner) without regular expressions of their own.

Modules, each importing only those listed before it: ``model`` (dataclasses), ``words`` (atol,
times, line splitting, addresses), ``keywords`` (HAProxy's keyword lists), ``context`` (the
section being built, the message reporter), ``conditions``, ``server``, ``checks`` (http-check),
``proxy``, ``parser``,
``report``.
"""
from __future__ import annotations

from ...errors import ConfigError
from .model import ALGORITHMS, Bind, Config, Proxy, ServerConfig, StatsConfig, Timeouts, UseBackend
from .parser import Analysis, SourceLine, analyse, outline
from .report import analyse_path, check, format_haproxy
from .words import TimeFormatError, parse_time


def _config_or_raise(result: Analysis, path: str | None) -> Config:
    if result.config is None:
        err = ConfigError(result.messages, path)
        err.stage = result.stage  # type: ignore[attr-defined]
        raise err
    return result.config


def parse(text: str, path: str | None = None, localpeer: str | None = None) -> Config:
    """Parse configuration text; raise ``ConfigError`` listing every ALERT found.

    The error's ``stage`` attribute says which stage failed ("parse", "abort", "check" or
    "addr"): ``format_haproxy`` needs it to print haproxy's trailer lines. ``localpeer`` is haproxy's
    ``-L NAME``, the local peer's name in ``peers`` sections (default: ``localpeer``, else the host name).
    """
    return _config_or_raise(analyse(text, path, localpeer=localpeer), path)


def load(path: str, localpeer: str | None = None) -> Config:
    """Read and parse a configuration file, or every ``*.cfg`` of a directory in order, as
    ``haproxy -f`` does (a missing final newline is an error, as in haproxy)."""
    return _config_or_raise(analyse_path(str(path), localpeer=localpeer), str(path))


__all__ = ["ALGORITHMS", "Analysis", "Bind", "Config", "ConfigError", "Proxy", "ServerConfig",
           "SourceLine", "StatsConfig", "Timeouts", "TimeFormatError", "UseBackend", "analyse", "check",
           "format_haproxy", "load", "outline", "parse", "parse_time"]
