"""``stick-table``, ``stick on|match|store-request|store-response`` and the ``track-sc``/``sc-inc-gpc`` actions, read and
checked as HAProxy 2.6 reads them.

How it works: ``kw_stick_table`` reads a proxy's table (one per proxy, named after it) into
``sticktable.TableConfig``; ``kw_stick`` reads a sticking rule into ``StickRule``, refusing a fetch
the rule cannot use (a response's in a rule on the request, a request's in ``store-response``). Both sit in the
section's ``values`` and reach ``model.Proxy`` as ``stick_table`` and ``stick_rules``. The actions'
arguments (``parse_track``, ``parse_inc_gpc``) are read for config/actions.py. ``check_stick`` is the
check stage: every table a rule names must exist (HAProxy's alerts), and a table that sticking rules
use stores ``server_id`` and ``server_key``. What the engine does not do is a located warning:
data it does not count; a table's ``peers`` section is config/peers.py's.

Follows HAProxy 2.6's src/stick_table.c (parse_stick_table, stktable_parse_type, the store options,
the track-sc and sc-inc-gpc action parsers), src/cfgparse-listen.c ("stick" rules) and src/cfgparse.c
(check_config_validity: sticking rules and track-sc tables);
Copyright Emeric Brun, Willy Tarreau and contributors, GPL-2.0-or-later.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from ..sample import SampleError, parse_expr
from ..sample.keywords import fetch_source, usable_at
from ..sticktable import ARRAYS, COUNTED, DATA_TYPES, RATES, TYPES, TableConfig
from .conditions import engine_gaps, map_where, maps_of, never_outside, parse_condition
from .context import Context, Draft, cap_warning
from .peers import bound_peers, table_drafts
from .words import TimeFormatError, parse_time

MAX_SESS_STKCTR = 3
DEFAULT_LEN = 32


@dataclass(frozen=True)
class StickRule:
    """``stick on|match|store-request|store-response <expr> [table T] [if|unless cond]``."""

    kind: str  # "on" | "match" | "store-request" | "store-response"
    expr: Any  # engine.sample.Expr
    table: str | None = None  # None: the proxy's own
    cond: Any = None
    line: int = 0

    @property
    def matches(self) -> bool:
        return self.kind in ("on", "match")

    @property
    def stores(self) -> bool:
        return self.kind in ("on", "store-request")

    @property
    def on_response(self) -> bool:
        return self.kind == "store-response"


# where keywords.FETCHES says a fetch may be used (SMP_VAL_BE_SET_SRV, SMP_VAL_BE_STO_RUL), HAProxy's names
# for those places in its warnings, and what its alert says a rule there has none of (an ACL there that
# reads what the rule has not never matches, as HAProxy warns)
REQUEST_COLUMN, RESPONSE_COLUMN = 9, 14
REQUEST_PLACE, RESPONSE_PLACE = "backend use-server, balance or stick-match rule", "backend stick-store rule"
_NONE_OF = {REQUEST_COLUMN: "during request", RESPONSE_COLUMN: "for 'store-response'"}


def _size(text: str) -> tuple[int, str]:
    """strtol then the k/m/g suffix of parse_stick_table's 'size': the value and what is left."""
    m = re.match(r"\s*[+-]?\d*", text)
    digits = m.group().strip()
    value = int(digits) if digits not in ("", "+", "-") else 0
    rest = text[m.end():]
    if rest[:1] in ("k", "K"):
        value, rest = value * 1024, rest[1:]
    elif rest[:1] in ("m", "M"):
        value, rest = value * 1024 * 1024, rest[1:]
    elif rest[:1] in ("g", "G"):
        value, rest = value * 1024 * 1024 * 1024, rest[1:]
    return value, rest


def kw_stick_table(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    if d.kind == "defaults":
        p.alert(f"{p.where}'stick-table' is not supported in 'defaults' section.",
                "Write the table in the backend (or frontend) that uses it.")
        return
    old = d.values.get("stick_table")
    if old is not None:
        p.alert(f"{p.where}stick-table name '{d.name}' conflicts with table declared in {d.type_name} "
                f"'{d.name}' at {p.file}:{old.line}.", "A proxy holds one table; declare another one in a "
                "backend of its own (a table-only backend) and name it with 'table'.")
        return
    head = f"{p.where}{args[0]}: "
    kind, length, size, expire, nopurge, store, peers = None, 0, 0, 0, False, [], None
    i = 1
    while i < len(args) and args[i]:
        word = args[i]
        if word == "size":
            i += 1
            size, rest = _size(args[i] if i < len(args) else "")
            if rest:
                p.alert(f"{head}unexpected character '{rest[0]}' in argument of 'size'.")
                return
        elif word == "peers":
            i += 1
            peers = args[i] if i < len(args) else ""
        elif word == "expire":
            i += 1
            try:
                expire = parse_time(args[i] if i < len(args) else "")
            except TimeFormatError as e:
                p.alert(f"{head}unexpected character '{e.char}' in argument of 'expire'." if e.kind == "char"
                        else f"{head}timer {'overflow' if e.kind == 'over' else 'underflow'} in argument "
                        f"'{e.value}' to 'expire' (maximum value is 2147483647 ms or ~24.8 days)")
                return
        elif word == "nopurge":
            nopurge = True
        elif word == "type":
            i += 1
            kind = args[i] if i < len(args) else ""
            if kind not in TYPES:
                p.alert(f"{head}unknown type '{kind}'.", f"Table types: {', '.join(TYPES)}.")
                return
            if kind in ("string", "binary"):
                length = DEFAULT_LEN
                if i + 1 < len(args) and args[i + 1] == "len":
                    i += 2
                    length = _size(args[i] if i < len(args) else "")[0] if i < len(args) else 0
                    if length <= 0:
                        p.alert(f"{head}unknown type '{args[i] if i < len(args) else ''}'.")
                        return
        elif word == "store":
            i += 1
            for item in (args[i] if i < len(args) else "").split(","):
                name, _, arg = item.partition("(")
                has_arg = bool(_)
                arg = arg[:-1] if arg.endswith(")") else arg
                if name not in DATA_TYPES:
                    p.alert(f"{head}unknown store option '{name}'.",
                            f"Data types: {', '.join(t for t in DATA_TYPES if t not in ARRAYS)}.")
                    return
                if name in RATES and name not in ARRAYS:
                    if not has_arg:
                        p.alert(f"{head}missing argument to store option '{name}'.",
                                f"A rate needs its period: {name}(10s).")
                        return
                    try:
                        value = parse_time(arg)
                    except TimeFormatError:
                        p.alert(f"{head}error when processing store option '{name}'.")
                        return
                elif name in ARRAYS:
                    p.warn(f"{p.where}store option '{name}' is accepted by HAProxy but not stored by the course "
                           "engine.", "The engine stores gpc0/gpc1 and the counters listed in the README.")
                    continue
                else:
                    if has_arg:
                        p.alert(f"{head}unexpected argument to store option '{name}'.")
                        return
                    value = 0
                if any(n == name for n, _v in store):
                    p.warn(f"{p.where}{args[0]}: store option '{name}' already enabled, ignored.")
                    continue
                store.append((name, value))
                if name not in COUNTED:
                    p.warn(f"{p.where}stick-table: the course engine stores '{name}' but does not count it "
                           "(it stays 0); real HAProxy counts it.",
                           "The engine counts server_id, conn_*, http_req_*, http_err_* and gpc0/gpc1.")
        else:
            p.alert(f"{head}unknown argument '{word}'.")
            return
        i += 1
    if not size:
        p.alert(f"{head}missing size.", "Give the table a size: 'size 100k'.")
        return
    if kind is None:
        p.alert(f"{head}missing type.", "Give the table a key type: 'type ip'.")
        return
    if peers is not None:
        d.values["stick_peers"] = (peers, p.line)
    d.values["stick_table"] = TableConfig(d.name, kind, size, length, expire, nopurge, tuple(store), p.line)


def kw_stick(p: Context, d: Draft, args: list[str], kwm: str) -> None:
    if d.kind == "defaults":
        p.alert(f"{p.where}'stick' not allowed in 'defaults' section.",
                "Move 'stick' into the backend it is for.")
        return
    if cap_warning(p, d, "stick", "be"):
        return
    kind = args[1] if len(args) > 1 else ""
    if kind not in ("on", "match", "store-request", "store-response"):
        p.alert(f"{p.where}'stick' expects 'on', 'match', or 'store'.")
        return
    if len(args) < 3 or not args[2]:
        p.alert(f"{p.where}'stick' expects a fetch method.")
        return
    try:
        expr, end = parse_expr(args[2], 0, maps_of(p), map_where(p))
    except SampleError as e:
        p.alert(f"{p.where}'stick': {e}")
        return
    column = RESPONSE_COLUMN if kind == "store-response" else REQUEST_COLUMN
    if not usable_at(expr.fetch, column):
        p.alert(f"{p.where}'stick': fetch method '{expr.fetch}' extracts information from "
                f"'{fetch_source(expr.fetch)}', none of which is available {_NONE_OF[column]}.",
                "A rule on the request reads the request (req.cook, req.hdr ...); 'stick store-response' "
                "reads the response (res.cook, res.hdr ...).")
        return
    table, cond, i = None, None, 3
    while i < len(args) and args[i]:
        if args[i] == "table":
            table = args[i + 1] if i + 1 < len(args) else ""
            i += 2
        elif args[i] in ("if", "unless"):
            cond = parse_condition(p, d, args[i + 1:], "sticking rule", negate=args[i] == "unless", column=column,
                                   place=RESPONSE_PLACE if column == RESPONSE_COLUMN else REQUEST_PLACE)
            if cond is None:
                return
            cond = never_outside(cond, column)
            break
        else:
            p.alert(f"{p.where}'stick': unknown keyword '{args[i]}'.")
            return
    rule = StickRule(kind, expr, table, cond, p.line)
    d.values.setdefault("stick_rules", [])
    what = " ".join(args)
    gaps = expr.missing or (engine_gaps(cond) if cond is not None else "")
    if gaps:
        p.warn(f"{p.where}'{what}' is accepted by HAProxy but skipped by the course engine (it lacks {gaps}).",
               "The course engine carries out 'stick on|match|store-request|store-response' with the "
               "fetches it implements. Run this file on real HAProxy to see the rule act.")
        d.values.setdefault("stick_refs", []).append((table or d.name, p.line, kind == "store-response"))
        return
    d.values["stick_rules"].append(rule)


# --------------------------------------------------------------------------- actions (config/actions.py)
def parse_track(action: str, a: list[str], maps, where: str) -> tuple[dict, int]:
    """``track-scN <key> [table T]`` -> (the HttpRule's fields, words used); raises SampleError
    (its text is HAProxy's, for actions.py's 'error detected ... while parsing' alert)."""
    num = action[len("track-sc"):]
    n = int(num) if num.isdigit() else -1
    if n < 0 or n >= MAX_SESS_STKCTR:
        raise SampleError(f"{num} track-sc number exceeding {MAX_SESS_STKCTR - 1} (MAX_SESS_STKCTR-1) value")
    if not a or not a[0] or a[0] in ("if", "unless"):
        raise SampleError("missing fetch method")
    expr, _ = parse_expr(a[0], 0, maps, where)
    used, table = 1, None
    if a[1:2] == ["table"]:
        if len(a) < 3 or not a[2]:
            raise SampleError("missing table name")
        table, used = a[2], 3
    return {"stick": ("track", n, expr, table)}, used


def parse_inc_gpc(action: str, a: list[str]) -> tuple[dict, int]:
    """``sc-inc-gpc0(N)`` / ``sc-inc-gpc1(N)`` (N 0..2; without '(N)': 0)."""
    base = action[:len("sc-inc-gpcX")]
    rest = action[len(base):]
    n = 0
    if rest:
        m = re.fullmatch(r"\((\d+)\)", rest)
        if m is None:
            raise SampleError(f"invalid stick table track ID '{action}'. Expects {base}(<Track ID>)")
        n = int(m.group(1))
        if n >= MAX_SESS_STKCTR:
            raise SampleError(f"invalid stick table track ID. The max allowed ID is {MAX_SESS_STKCTR - 1}")
    return {"stick": ("inc-" + base[len("sc-inc-"):], n)}, 0


# --------------------------------------------------------------------------- check stage
def stick_tables(p: Context) -> dict[str, Draft]:
    """Every table by name: the proxies' and the peers sections' ('SECTION/NAME')."""
    tables = {d.name: d for d in p.proxies if d.values.get("stick_table") is not None}
    tables.update((t.name, t) for t in table_drafts(p))
    return tables


def check_stick(p: Context, d: Draft) -> None:
    """check_config_validity's part for tables: what the rules name exists; sticking rules' tables
    store server_id and server_key; a table's 'peers' section exists and has a local peer (config/peers.py)."""
    peers = d.values.get("stick_peers")
    if peers is not None:
        bound = bound_peers(p, d.name, peers[0], peers[1])
        if bound:
            d.values["stick_table"] = replace(d.values["stick_table"], peers=bound)
    tables = stick_tables(p)
    rules = d.values.get("stick_rules") or []
    refs = [(r.table or d.name, r.line, r.on_response) for r in rules] + list(d.values.get("stick_refs") or [])
    refs.sort(key=lambda ref: ref[2])  # the sticking rules' tables first, then store-response's (cfgparse.c)
    rules = [r if r.table else replace(r, table=d.name) for r in rules]
    for name, line, on_response in refs:
        target = tables.get(name)
        if target is None:
            p.alert(f"Proxy '{d.name}': unable to find {'store table' if on_response else 'stick-table'} '{name}'.",
                    f"Add 'stick-table type ip size 100k' to {d.type_name} '{name}'.", line=line)
        else:
            target.values["stick_table"] = target.values["stick_table"].with_data("server_id", "server_key")
    for side in ("request", "response"):
        for k, rule in enumerate(d.http_rules[side]):
            if not (rule.stick and rule.stick[0] == "track"):
                continue
            name = rule.stick[3] or d.name
            d.http_rules[side][k] = replace(rule, stick=rule.stick[:3] + (name,))
            if name not in tables:
                p.alert(f"Proxy '{d.name}': unable to find table '{name}' referenced by track-sc{rule.stick[1]}.",
                        f"Add a 'stick-table' to {d.type_name} '{name}', or name a table with 'table'.",
                        line=rule.line)
    if rules and d.values["mode"] != "http":
        p.warn(f"{d.type_name} '{d.name}': the course engine applies 'stick' rules in mode http only; real "
               "HAProxy applies them in mode tcp too.", "Run this file on real HAProxy, or use mode http.",
               line=rules[0].line)
    d.values["stick_rules"] = tuple(rules)
    d.values.pop("stick_peers", None)
    d.values.pop("stick_refs", None)


__all__ = ["StickRule", "kw_stick_table", "kw_stick", "parse_track", "parse_inc_gpc", "check_stick", "stick_tables"]
