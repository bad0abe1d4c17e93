"""Samples: what HAProxy 2.6 reads from a request to decide (fetches, converters, maps, ACLs).

    from labsupport.engine.sample import Ctx, parse_condition, parse_logformat, MapStore
    cond = parse_condition(["{", "path_beg", "/api", "}"], named={}, maps=None, where="file 'x' line 3")
    cond.holds(Ctx.of("GET", "api.lab", "/api/users"))     -> True

The modules, one idea each: ``keywords`` (every name HAProxy 2.6 knows), ``fetches`` (a request as the
fetches see it), ``patterns`` (match methods), ``expr`` (``fetch,conv,...``), ``maps`` (map files and the
runtime API's map commands), ``acl`` (ACLs and conditions), ``logformat`` (``%[expr]`` strings). Nothing
here does I/O on the network; the config loader parses, the proxy evaluates per request.
"""
from __future__ import annotations

from .acl import Acl, AclError, Condition, parse_acl, parse_condition
from .expr import Expr, SampleError, parse_expr
from .fetches import Ctx
from .logformat import FormatError, LogFormat, parse_logformat
from .maps import MapFile, MapStore

__all__ = ["Acl", "AclError", "Condition", "Ctx", "Expr", "FormatError", "LogFormat", "MapFile", "MapStore",
           "SampleError", "parse_acl", "parse_condition", "parse_expr", "parse_logformat"]
