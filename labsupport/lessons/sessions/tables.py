"""A stick table read through the runtime API, as a Table: one row per key, one column per stored counter.

    show_table(lb, "shop")     # lb: the engine's Balancer or real HAProxy (both answer `show table` alike)
    table_names(lb)            # ['shop']

How it works: ``show table NAME`` answers a head line, ``# table: shop, type: ip, size:102400, used:2``,
then one line per entry, in key order::

    0x55bd5bd83870: key=127.0.0.2 use=0 exp=29995 gpc0=0 conn_cur=0 http_req_rate(10000)=25 http_err_rate(10000)=5

``use`` is how many requests hold the entry now, ``exp`` the milliseconds until it expires (0 in a table
without ``expire``), then each stored data type in HAProxy's order; a rate is the count over its period,
written in milliseconds (``http_req_rate(10000)`` is the ``http_req_rate(10s)`` of the configuration).
Text keys are escaped (``bob\\ key``): a space, ``=`` and ``\\`` get a backslash, control bytes ``\\xHH``.
Rows here: ``key``, ``use``, ``exp`` in seconds, ``server`` (the server a ``stick`` rule stored: its name,
``server_key``, or else its number, ``server_id``) when the table stores one, then the data types, rates
named with their period as a configuration writes it.

Follows HAProxy 2.6's src/stick_table.c (table_dump_head_to_buffer, table_dump_entry_to_buffer) and
src/tools.c (dump_text), Copyright Willy Tarreau and Emeric Brun, GPL-2.0-or-later; checked against
2.6.12's answers kept in tests/vectors/show-table.json.
"""
from __future__ import annotations

import re
from typing import Any

from ...course.display.table import Table
from ...errors import CommandError, UsageError

_HEAD = re.compile(r"^# table: (?P<name>.*), type: (?P<type>\S+), size:(?P<size>\d+), used:(?P<used>\d+)$")
_ENTRY = re.compile(r"^0x[0-9a-f]+: (?P<rest>key=.*)$")
_TOKEN = re.compile(r"(?:\\.|[^ \\])+")  # a word; an escaped space belongs to it
_DATA = re.compile(r"^(?P<name>[a-z_0-9]+)(?:\((?P<period>\d+)\))?(?P<index>\[\d+\])?=(?P<value>.*)$")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "e": "\x1b"}
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))
NO_RIGHTS = "# contents not dumped due to insufficient privileges"


def period_text(ms: int) -> str:
    """10000 -> '10s', 60000 -> '1m', 500 -> '500ms': a period as a configuration writes it."""
    for unit, size in _UNITS:
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def unescape(text: str) -> str:
    """dump_text, reversed: 'bob\\ key' -> 'bob key', '\\x01' -> chr(1)."""
    return re.sub(r"\\(x[0-9a-fA-F]{2}|.)",
                  lambda m: chr(int(m[1][1:], 16)) if len(m[1]) == 3 else _ESCAPES.get(m[1], m[1]), text)


class TableDump(Table):
    """The rows of one ``show table NAME`` answer, with the head line's facts: ``name``, ``type``,
    ``size`` (entries it can hold), ``used`` (entries it holds)."""

    def __init__(self, name: str, type: str, size: int, used: int, rows: list[dict[str, Any]],
                 columns: list[str]) -> None:
        self.name, self.type, self.size, self.used = name, type, size, used
        super().__init__(rows, columns, title=f"table {name} (type {type}, {used} of {size} entries used)")

    def row(self, key: Any) -> dict[str, Any] | None:
        """The row of ``key`` ('127.0.0.2'; an integer for an integer table), or None."""
        return next((r for r in self.rows if r["key"] == key or str(r["key"]) == str(key)), None)

    def rates(self) -> list[str]:
        """The rate columns, e.g. ['http_req_rate(10s)', 'http_err_rate(10s)']."""
        return [c for c in self.columns if "_rate(" in c]


def parse_head(line: str) -> dict[str, Any] | None:
    """'# table: shop, type: ip, size:102400, used:3' -> {'name': 'shop', 'type': 'ip', 'size': ..., 'used': ...}."""
    m = _HEAD.match(line)
    if m is None:
        return None
    return {"name": m["name"], "type": m["type"], "size": int(m["size"]), "used": int(m["used"])}


def _key(text: str, kind: str) -> Any:
    if kind == "integer":
        return int(text)
    return text if kind in ("ip", "ipv6", "binary") else unescape(text)


def parse_entry(line: str, kind: str = "ip") -> dict[str, Any] | None:
    """One entry line -> {'key': ..., 'use': 0, 'exp': 29.995 (s), 'http_req_rate(10s)': 25, ...} in the
    line's order (server_id / server_key kept under their own names); None for a line that is not one."""
    m = _ENTRY.match(line)
    if m is None:
        return None
    row: dict[str, Any] = {}
    for i, token in enumerate(_TOKEN.findall(m["rest"])):
        name, _, value = token.partition("=")  # '=' inside a key is escaped: the first one splits
        if i == 0:
            row["key"] = _key(value, kind)
            continue
        d = _DATA.match(token)
        if d is None:
            raise CommandError(f"show table: cannot read {token!r} in the line {line!r}")
        name, value = d["name"], d["value"]
        if d["period"] is not None:
            name = f"{name}({period_text(int(d['period']))})"
        name += d["index"] or ""
        if name == "exp":
            row[name] = int(value) / 1000
        elif name == "server_key":
            row[name] = None if value == "-" else unescape(value)
        else:
            row[name] = int(value) if re.fullmatch(r"-?\d+", value) else value
    return row


def _rows(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Entries as HAProxy prints them -> rows with one 'server' column, and the columns in order."""
    columns = ["key", "use", "exp"]
    stores_server = any("server_id" in e or "server_key" in e for e in entries)
    if stores_server:
        columns.append("server")
    rows = []
    for e in entries:
        row = {c: e[c] for c in ("key", "use", "exp")}
        if stores_server:
            row["server"] = e.get("server_key") or e.get("server_id")
        for name, value in e.items():
            if name in ("key", "use", "exp", "server_id", "server_key"):
                continue
            row[name] = value
            if name not in columns:
                columns.append(name)
        rows.append(row)
    return rows, columns


def parse_show_table(text: str) -> TableDump:
    """The answer to ``show table NAME`` -> a TableDump (CommandError for any other answer)."""
    lines = [line for line in text.splitlines() if line.strip()]
    head = parse_head(lines[0]) if lines else None
    if head is None:
        raise CommandError(f"show table answered {text.strip()!r}, not a table")
    if NO_RIGHTS in lines[1:2]:
        raise CommandError("show table: the runtime API shows a table's contents at level operator or admin only "
                           "(the 'stats socket ... level' of the configuration)")
    entries = []
    for line in lines[1:]:
        entry = parse_entry(line, head["type"])
        if entry is None:
            raise CommandError(f"show table: cannot read the line {line!r}")
        entries.append(entry)
    rows, columns = _rows(entries)
    return TableDump(head["name"], head["type"], head["size"], head["used"], rows, columns)


def table_heads(balancer) -> list[dict[str, Any]]:
    """Every table's head line (``show table`` without a name), in HAProxy's order: the last declared first."""
    answer = balancer.command("show table")
    heads = [parse_head(line) for line in answer.splitlines() if line.strip()]
    if any(h is None for h in heads):
        raise CommandError(f"show table answered {answer.strip()!r}, not a list of tables")
    return heads  # type: ignore[return-value]


def table_names(balancer) -> list[str]:
    """The names of the balancer's stick tables (each is named after the frontend or backend declaring it)."""
    return [h["name"] for h in table_heads(balancer)]


def _unknown(name: str | None, names: list[str]) -> UsageError:
    if not names:
        return UsageError("this balancer has no stick table: add one to a frontend or backend, e.g. "
                          "'stick-table type ip size 100k expire 30s store http_req_rate(10s)'")
    listed = ", ".join(repr(n) for n in names)
    if name is None:
        return UsageError(f"this balancer has {len(names)} stick tables ({listed}): say which one, "
                          f"e.g. show_table(lb, {names[0]!r})")
    return UsageError(f"no stick table named {name!r}; this balancer's tables: {listed} "
                      "(a table is named after the frontend or backend that declares it)")


def show_table(balancer, table: str | None = None) -> TableDump:
    """``show table NAME`` on ``balancer`` (the engine or real HAProxy), as a Table: one row per key.
    ``table`` may be left out when the balancer has only one."""
    if table is None:
        names = table_names(balancer)
        if len(names) != 1:
            raise _unknown(None, names)
        table = names[0]
    if not isinstance(table, str) or not table or any(c.isspace() for c in table):
        raise UsageError(f"a table's name is one word, the name of its frontend or backend (e.g. 'shop'), "
                         f"not {table!r}")
    answer = balancer.command(f"show table {table}")
    if answer.strip() == "No such table":
        raise _unknown(table, table_names(balancer))
    return parse_show_table(answer)


__all__ = ["TableDump", "period_text", "parse_entry", "parse_head", "parse_show_table", "show_table",
           "table_heads", "table_names", "unescape"]
