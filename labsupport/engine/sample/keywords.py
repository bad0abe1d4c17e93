"""HAProxy 2.6.12's sample fetches, ACL keywords and converters, as it lists them itself.

Read from ``haproxy-2.6-keywords.tsv`` beside this file, generated from ``haproxy -dKsmp``, ``haproxy -dKacl`` and ``haproxy -dKcnv`` (``-q -c -f /dev/null``) of
HAProxy 2.6.12-1+deb12u4: every name HAProxy knows, so a name it does not know is HAProxy's error and
a name the engine does not implement is the engine's located warning. Regenerate that file
rather than edit it.

FETCHES: name -> (arguments, output type, where usable). ``where`` has one letter per place HAProxy
lists, ``Y`` where it may be used, in its order: tcp-request connection, session, content, frontend
http-request header, body, use-backend rule, backend tcp-request content, http-request header, body,
use-server/balance/stick-match, server source selection, backend tcp-response content, http-response
header, body, stick-store, frontend tcp-response content, http-response header, body, logs, tcp-check,
configuration parser, CLI parser.
ACL_KEYWORDS: name -> (fetch, match method).
CONVERTERS: name -> (arguments, output type, input type): HAProxy lists a converter as
``name(args): out => in`` (``length: sint => str`` turns a string into its length).
"""
from __future__ import annotations

from pathlib import Path

TABLE = Path(__file__).with_name("haproxy-2.6-keywords.tsv")


def _read() -> tuple[dict, dict, dict]:
    tables: dict[str, dict] = {"fetches": {}, "acl": {}, "converters": {}}
    current: dict = {}
    for line in TABLE.read_text(encoding="ascii").splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = tables[line[1:line.index("]")]]
            continue
        name, *rest = line.split("\t")
        current[name] = tuple(rest)
    return tables["fetches"], tables["acl"], tables["converters"]


FETCHES, ACL_KEYWORDS, CONVERTERS = _read()

# sample.c fetch_src_names[fetch->use], told apart by where a fetch may be used (the list has no 'use'),
# for HAProxy's messages about a fetch used where it cannot be ('... extracts information from ...')
_SOURCES = {"..YYYYYYYYY...........": "HTTP request headers", "...........YYYYYYY.Y..": "HTTP response headers",
            "...........YYYYYYYYY..": "HTTP response", "..........YYYYYYYYYY..": "server"}
_BUFFERS = ("payload", "len", "ssl", "rdp_cookie")  # a raw buffer's fetches (SMP_USE_L6REQ/L6RES)


def fetch_source(name: str) -> str:
    """What HAProxy says fetch ``name`` reads: 'HTTP request headers', 'response buffer', 'server' ...
    (exact for the fetches usable on a request only or on a response only, as those messages need)."""
    source = _SOURCES.get(FETCHES[name][2], "HTTP request headers")
    if any(b in name for b in _BUFFERS) and "body" not in name and source.endswith("headers"):
        return "request buffer" if source.startswith("HTTP request") else "response buffer"
    return source


def usable_at(name: str, column: int) -> bool:
    """Can fetch ``name`` be used there (a column of FETCHES' "where")?"""
    return FETCHES[name][2][column] == "Y"
