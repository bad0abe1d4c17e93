"""The runtime API's table commands: ``show table``, ``clear table``, ``set table``, answered as HAProxy 2.6 answers.

How it works: ``table_command(engine, args)`` returns the exact text HAProxy sends back (runtime.py
adds the final empty line). ``show table`` alone lists every table's head line, the last declared
first. ``show|clear|set table NAME key K ...`` acts on one key (its filters, if any, are not read);
``show|clear table NAME data.<type> <op> <value> ...`` (up to 4 filters, all must hold) walks the
entries in key order. ``clear`` never removes an entry a request still holds. Observed quirks of
2.6.12 kept on purpose: an IPv4 key that does not parse is 0.0.0.0; ``set table NAME`` with nothing
after it empties the table as ``clear table NAME`` does; a ``set`` with a bad pair keeps the pairs
before it; counters are unsigned 32-bit (``data.gpc0 -5`` stores 4294967291).

Follows HAProxy 2.6's src/stick_table.c (cli_parse_table_req, table_process_entry_per_key,
table_prepare_data_request, cli_io_handler_table, table_dump_head_to_buffer), Copyright Emeric Brun
and Willy Tarreau, GPL-2.0-or-later.
"""
from __future__ import annotations

import ipaddress
import re

from ..sticktable import DATA_TYPES, FreqCtr, StickTable, tables_of

FILTER_LEN = 4  # STKTABLE_FILTER_LEN
OPS = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "le": lambda a, b: a <= b,
       "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "gt": lambda a, b: a > b}
ULL = ("bytes_in_cnt", "bytes_out_cnt")
SINT = ("server_id",)
USAGE = {"show": 'Optional argument only supports "data.<store_data_type>" <operator> <value> and key <key>\n',
         "clear": 'Required arguments: <table> "data.<store_data_type>" <operator> <value> or <table> key <key>\n',
         "set": "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n"}


def _llrc(text: str) -> int | None:
    """strl2llrc: a whole signed decimal number, or None."""
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else None


def _order(t: StickTable):
    """The ebtree order of keys: addresses and integers as unsigned numbers, strings byte by byte."""
    kind = t.cfg.type
    if kind == "ip":
        return lambda e: int(ipaddress.IPv4Address(e.key))
    if kind == "ipv6":
        return lambda e: ipaddress.IPv6Address(e.key).packed
    if kind == "integer":
        return lambda e: e.key & 0xFFFFFFFF
    return lambda e: e.key.encode("latin-1") if isinstance(e.key, str) else e.key


def _cli_key(t: StickTable, text: str):
    """table_process_entry_per_key's key; a str error message when it cannot be one."""
    kind = t.cfg.type
    if kind == "ip":
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            return "0.0.0.0"
    if kind == "ipv6":
        try:
            return str(ipaddress.IPv6Address(text))
        except ValueError:
            return ValueError("Invalid key\n")
    if kind == "integer":
        if not text.isdigit():
            return ValueError("Invalid key\n")
        return int(text) & 0xFFFFFFFF
    if kind == "string":
        return text[:t.cfg.length]
    return ValueError("Setting keys from tables of type other than ip, ipv6, string and integer is not "
                      "supported\n")


def table_command(engine, args: list[str], operator: bool = True) -> str:
    """One table command; ``operator``: the session's level is operator or admin (below it, a table's
    head is shown without its contents and nothing is changed, as HAProxy does)."""
    action = args[0]
    tables = tables_of(engine)
    name = args[2] if len(args) > 2 else ""
    if not name:
        if action != "show":
            return USAGE[action]
        return "".join(t.head() for t in tables.values())
    t = tables.get(name)
    if t is None:
        return "No such table\n"
    word = args[3] if len(args) > 3 else ""
    if word == "key":
        if len(args) > 4 and args[4] and not operator:
            return "Permission denied\n"
        return _per_key(t, action, args)
    if word.startswith("data."):
        return _filtered(t, action, args, operator)
    if word:
        return USAGE[action]
    if action == "show":
        return _dump(t, [], operator)
    if operator:
        _clear(t, [])  # 'clear table NAME', and 'set table NAME' alone (HAProxy 2.6 empties the table too)
    return ""


def _per_key(t: StickTable, action: str, args: list[str]) -> str:
    if len(args) < 5 or not args[4]:
        return "Key value expected\n"
    key = _cli_key(t, args[4])
    if isinstance(key, ValueError):
        return str(key).replace("Setting", {"show": "Showing", "clear": "Removing"}.get(action, "Setting"))
    if action == "show":
        e = t.lookup(key)
        return "" if e is None else t.head() + t.line(e)
    if action == "clear":
        e = t.lookup(key)
        if e is None:
            return ""
        if e.use:
            return "Entry currently in use, cannot remove\n"
        del t.entries[e.key]
        return ""
    e = t.get(key)
    if e is None:
        return "Unable to allocate a new entry\n"
    try:
        i = 5
        while i < len(args) and args[i]:
            word = args[i]
            if not word.startswith("data."):
                return '"data.<type>" followed by a value expected\n'
            data = word[5:]
            if data not in DATA_TYPES:
                return "Unknown data type\n"
            if data not in e.data:
                return "Data type not stored in this table\n"
            value = _llrc(args[i + 1]) if i + 1 < len(args) else None
            if value is None:
                return "Require a valid integer value to store\n"
            _store(e, data, value)
            i += 2
    finally:
        t.touch(e)
    return ""


def _store(e, data: str, value: int) -> None:
    v = e.data[data]
    if isinstance(v, FreqCtr):
        v.set(value & 0xFFFFFFFF)
    elif data in SINT:
        e.data[data] = value
    elif data in ULL:
        e.data[data] = value & 0xFFFFFFFFFFFFFFFF
    elif isinstance(v, int):
        e.data[data] = value & 0xFFFFFFFF


def _filtered(t: StickTable, action: str, args: list[str], operator: bool) -> str:
    """table_prepare_data_request: up to 4 'data.<type> <op> <value>' filters."""
    if action not in ("show", "clear"):
        return 'content-based lookup is only supported with the "show" and "clear" actions\n'
    filters = []
    i = 0
    while i < FILTER_LEN:
        base = 3 + 3 * i
        word = args[base] if base < len(args) else ""
        if i > 0 and not word:
            break
        data = word[5:] if word.startswith("data.") else ""
        if data not in DATA_TYPES:
            return f"Filter entry #{i + 1}: Unknown data type\n"
        if t.cfg.period(data) is None:
            return f"Filter entry #{i + 1}: Data type not stored in this table\n"
        op = args[base + 1] if base + 1 < len(args) else ""
        if op not in OPS:
            return f'Filter entry #{i + 1}: Require and operator among "eq", "ne", "le", "ge", "lt", "gt"\n'
        value = _llrc(args[base + 2]) if base + 2 < len(args) and args[base + 2] else None
        if value is None:
            return f"Filter entry #{i + 1}: Require a valid integer value to compare against\n"
        filters.append((data, OPS[op], value))
        i += 1
    base = 3 + 3 * i
    if base < len(args) and args[base]:
        return f"Detected extra data in filter, {base + 1}th word of input, after '{args[base - 1]}'\n"
    if action == "show":
        return _dump(t, filters, operator)
    if operator:
        _clear(t, filters)
    return ""


def _holds(t: StickTable, e, filters) -> bool:
    for data, op, value in filters:
        v = t.read(e, data)
        if not isinstance(v, int) or not op(v, value):
            return False
    return True


def _dump(t: StickTable, filters, operator: bool = True) -> str:
    head = t.head()
    if not operator:
        return head + "# contents not dumped due to insufficient privileges\n"
    return head + "".join(t.line(e) for e in sorted(t.entries.values(), key=_order(t)) if _holds(t, e, filters))


def _clear(t: StickTable, filters) -> None:
    t.purge()
    for e in list(t.entries.values()):
        if e.use == 0 and _holds(t, e, filters):
            del t.entries[e.key]


__all__ = ["table_command"]
