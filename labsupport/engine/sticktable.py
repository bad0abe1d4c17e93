"""Stick tables: keys, stored data, expiry and the size limit, as HAProxy 2.6 keeps them.

How it works: a ``StickTable`` (one per ``stick-table`` line, named after its proxy) maps a key to an
``Entry`` holding the data types the line stores. Counters are ints; rates are ``FreqCtr``s, read
over the period written in the config (``http_req_rate(10s)``). Time is HAProxy's ``now_ms``: a
monotonic clock in milliseconds. An entry expires ``expire`` ms after it was last touched (created,
tracked or matched) unless a stream still holds it (``use``); expired entries are dropped when the
table is read. A full table drops its oldest unused entries ((size >> 8) + 1 of them) to make room,
or refuses the new key with ``nopurge``. ``dump`` and ``line`` write the runtime API's ``show table``.

A rate is HAProxy's freq_ctr over a period P: the events of the current period, plus those of the
previous period weighted by the part of the current period still to come. So 10 requests in one
period read 10 at its end, 5 half-way through the next one, 0 after it. A lone event reads 1 until
the period after its own is over (HAProxy's "avoid flapping" rule for rates between 0 and 1).

Follows HAProxy 2.6's src/stick_table.c (stktable_data_types, __stksess_new, __stktable_trash_oldest,
stktable_touch, table_dump_entry_to_buffer, table_process_entry_per_key) and src/freq_ctr.c
(update_freq_ctr_period, read_freq_ctr_period), Copyright Emeric Brun and Willy Tarreau, GPL-2.0-or-later.
"""
from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, replace

# HAProxy's data types in its own order (enum STKTABLE_DT_*): 'show table' prints them in this order
DATA_TYPES = ("server_id", "gpt0", "gpc0", "gpc0_rate", "conn_cnt", "conn_rate", "conn_cur", "sess_cnt",
              "sess_rate", "http_req_cnt", "http_req_rate", "http_err_cnt", "http_err_rate", "bytes_in_cnt",
              "bytes_in_rate", "bytes_out_cnt", "bytes_out_rate", "gpc1", "gpc1_rate", "server_key",
              "http_fail_cnt", "http_fail_rate", "gpt", "gpc", "gpc_rate")
RATES = frozenset(t for t in DATA_TYPES if t.endswith("_rate"))
ARRAYS = frozenset(("gpt", "gpc", "gpc_rate"))  # take a count: 'gpc(2)'
# what the engine counts; the others are stored as HAProxy stores them but stay 0 (the config warns)
COUNTED = frozenset(("server_id", "server_key", "gpc0", "gpc0_rate", "gpc1", "gpc1_rate", "conn_cnt",
                     "conn_rate", "conn_cur", "http_req_cnt", "http_req_rate", "http_err_cnt", "http_err_rate",
                     "sess_cnt", "sess_rate"))
TYPES = ("ip", "ipv6", "integer", "string", "binary")


def now_ms() -> int:
    return int(time.monotonic() * 1000)


class FreqCtr:
    """freq_ctr: events counted by period; ``read`` gives the sliding-window total (src/freq_ctr.c)."""

    __slots__ = ("curr_tick", "curr_ctr", "prev_ctr")

    def __init__(self) -> None:
        self.curr_tick = self.curr_ctr = self.prev_ctr = 0

    def update(self, period: int, inc: int = 1, now: int | None = None) -> None:
        """update_freq_ctr_period."""
        t = now_ms() if now is None else now
        if t - self.curr_tick < period:
            self.curr_ctr += inc
            return
        self.prev_ctr, self.curr_ctr = self.curr_ctr, inc
        self.curr_tick += period
        if t - self.curr_tick >= period:  # at least two periods missed
            self.prev_ctr = 0
            self.curr_tick = t

    def read(self, period: int, now: int | None = None) -> int:
        """read_freq_ctr_period."""
        t = now_ms() if now is None else now
        curr, past = self.curr_ctr, self.prev_ctr
        remain = self.curr_tick + period - t
        if remain < 0:  # past the current period: only the last one may still count, in part
            remain += period
            if remain < 0:
                return 0
            past, curr = curr, 0
        if past <= 1 and not curr:
            return past  # "very low rate, avoid flapping": one event reads 1 until its period is over
        return curr + past * remain // period

    def set(self, value: int, now: int | None = None) -> None:
        """'set table ... data.X_rate V': the current period holds V, the previous one nothing."""
        self.curr_tick = now_ms() if now is None else now
        self.prev_ctr, self.curr_ctr = 0, value


@dataclass(frozen=True)
class TableConfig:
    """One ``stick-table`` line (config/stick.py reads it)."""

    name: str  # the proxy's name
    type: str  # ip | ipv6 | integer | string | binary
    size: int
    length: int = 0  # string / binary keys: 'len' (32 by default)
    expire: int = 0  # ms; 0: entries never expire
    nopurge: bool = False
    store: tuple[tuple[str, int], ...] = ()  # (data type, period ms for a rate / count for an array / 0)
    line: int = 0
    peers: str = ""  # the peers section the table is bound to (config/peers.py), "" when none

    def period(self, data: str) -> int | None:
        for name, arg in self.store:
            if name == data:
                return arg
        return None

    def with_data(self, *names: str) -> "TableConfig":
        """The table with ``names`` stored too (stick rules store server_id and server_key)."""
        have = {n for n, _ in self.store}
        extra = tuple((n, 0) for n in names if n not in have)
        return replace(self, store=self.store + extra) if extra else self


class Entry:
    """stksess: one key's data; ``use`` counts the streams holding it (its ref_cnt)."""

    __slots__ = ("key", "data", "expire", "use", "touched", "addr")

    def __init__(self, key, data: dict, addr: int) -> None:
        self.key, self.data, self.addr = key, data, addr
        self.expire = 0
        self.use = 0
        self.touched = 0


def table_key(kind: str, value, length: int = 32):
    """smp_to_stkey: a sample as this table's key (None: it cannot be one, so nothing is looked up)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if kind == "ip":
            if isinstance(value, int):
                return str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
            ip = ipaddress.ip_address(str(value))
            if ip.version == 6:
                mapped = ip.ipv4_mapped
                return None if mapped is None else str(mapped)
            return str(ip)
        if kind == "ipv6":
            ip = ipaddress.ip_address(str(value))
            return str(ip) if ip.version == 6 else str(ipaddress.IPv6Address("::ffff:" + str(ip)))
        if kind == "integer":
            if isinstance(value, int):
                return value
            text = str(value)
            try:
                return int(ipaddress.IPv4Address(text))
            except ValueError:
                return int(text)
    except ValueError:
        return None
    text = str(value)
    return text[:length] if kind == "string" else text.encode("latin-1", "replace")[:length]


class StickTable:
    """One table's entries (insertion order = age), its configuration and its counters."""

    def __init__(self, cfg: TableConfig) -> None:
        self.cfg = cfg
        self.entries: dict = {}
        self._addr = 0x55d0c0de0000  # 'show table' prints an address per entry: ours are made up

    @property
    def name(self) -> str:
        return self.cfg.name

    def key(self, value):
        return table_key(self.cfg.type, value, self.cfg.length or 32)

    # ----- entries
    def purge(self, now: int | None = None) -> None:
        """process_table_expire: entries past their expiry that no stream holds go."""
        if not self.cfg.expire:
            return
        t = now_ms() if now is None else now
        dead = [k for k, e in self.entries.items() if e.use == 0 and e.expire <= t]
        for k in dead:
            del self.entries[k]

    def lookup(self, key) -> Entry | None:
        e = self.entries.get(key)
        if e is not None and self.cfg.expire and e.use == 0 and e.expire <= now_ms():
            del self.entries[key]
            return None
        return e

    def get(self, key) -> Entry | None:
        """stktable_get_entry: the key's entry, made when missing (None: the table is full and may not
        drop anything)."""
        e = self.lookup(key)
        if e is not None:
            return e
        if len(self.entries) >= self.cfg.size:
            self.purge()
        if len(self.entries) >= self.cfg.size and (self.cfg.nopurge or not self._trash_oldest()):
            return None
        self._addr += 0x58
        e = Entry(key, self._blank(), self._addr)
        self.entries[key] = e
        self.touch(e)
        return e

    def _blank(self) -> dict:
        data: dict = {}
        for name, arg in self.cfg.store:
            if name in RATES:
                data[name] = [FreqCtr() for _ in range(arg)] if name in ARRAYS else FreqCtr()
            elif name in ARRAYS:
                data[name] = [0] * arg
            else:
                data[name] = "" if name == "server_key" else 0
        return data

    def _trash_oldest(self) -> bool:
        """__stktable_trash_oldest: (size >> 8) + 1 of the entries nearest to expiry, unused ones only."""
        batch = (self.cfg.size >> 8) + 1
        order = sorted(self.entries.values(), key=lambda e: e.expire if self.cfg.expire else e.touched)
        gone = 0
        for e in order:
            if gone >= batch:
                break
            if e.use == 0:
                del self.entries[e.key]
                gone += 1
        return gone > 0

    def touch(self, e: Entry) -> None:
        """stktable_touch_local: the entry lives ``expire`` ms more."""
        t = now_ms()
        e.touched = t
        if self.cfg.expire:
            e.expire = t + self.cfg.expire

    # ----- data
    def read(self, e: Entry, name: str):
        """A stored value as fetches and 'show table' read it (a rate over its period); None: not stored."""
        if name not in e.data:
            return None
        v = e.data[name]
        if name in RATES and name not in ARRAYS:
            return v.read(self.cfg.period(name))
        return v

    def add(self, e: Entry, name: str, inc: int = 1) -> None:
        """Count ``inc`` on a counter or a rate, if the table stores it."""
        if name in e.data:
            v = e.data[name]
            if name in RATES:
                v.update(self.cfg.period(name), inc)
            else:
                e.data[name] = v + inc

    # ----- the runtime API
    def head(self) -> str:
        self.purge()
        return f"# table: {self.name}, type: {self.cfg.type}, size:{self.cfg.size}, used:{len(self.entries)}\n"

    def line(self, e: Entry) -> str:
        """table_dump_entry_to_buffer."""
        key = e.key.hex() if isinstance(e.key, bytes) else dump_text(e.key) if isinstance(e.key, str) else e.key
        exp = max(e.expire - now_ms(), 0) if self.cfg.expire else 0
        parts = [f"0x{e.addr:x}: key={key} use={e.use} exp={exp}"]
        for name in DATA_TYPES:
            if name not in e.data:
                continue
            if name in ARRAYS:
                values = e.data[name]
                period = self.cfg.period(name)
                for i, v in enumerate(values):
                    shown = v.read(period) if isinstance(v, FreqCtr) else v
                    parts.append(f"{name}[{i}]={shown}")
            elif name in RATES:
                parts.append(f"{name}({self.cfg.period(name)})={self.read(e, name)}")
            else:
                parts.append(f"{name}={e.data[name] if e.data[name] != '' else '-'}")  # no server_key: '-'
        return " ".join(parts) + "\n"


_ESCAPED = {" ": " ", "=": "=", "\\": "\\", "\t": "t", "\n": "n", "\r": "r", "\x1b": "e"}


def dump_text(text: str) -> str:
    """A text key as 'show table' prints it (src/tools.c dump_text): printable ASCII as it is but space, '='
    and backslash, which get a backslash before them; tab, newline, CR and ESC as \\t \\n \\r \\e; any
    other byte as \\xHH; the key ends at its first NUL."""
    out = []
    for c in text:
        if c == "\0":
            break
        if c in _ESCAPED:
            out.append("\\" + _ESCAPED[c])
        elif " " < c <= "~":
            out.append(c)
        else:
            out.extend(f"\\x{b:02x}" for b in c.encode("latin-1", "replace"))
    return "".join(out)


# --------------------------------------------------------------------------- the engine's tables and fetches
def tables_of(engine) -> dict[str, StickTable]:
    """The engine's tables by name, in the order 'show table' lists them (the last declared first).
    A new configuration (a reload) starts empty tables, as a new HAProxy process does; Engine.reload then
    fills those bound to a peers section from the old ones (proxy/peers.py's carry)."""
    cached = getattr(engine, "_stick_tables", None)
    config = engine.config
    if cached is None or cached[0] is not config:
        tables = {p.name: StickTable(p.stick_table) for p in reversed(config.proxies)
                  if getattr(p, "stick_table", None) is not None}
        # a peers section's own tables ('table t1 ...' -> 'SECTION/t1', config/peers.py)
        tables.update((t.name, StickTable(t)) for sec in getattr(config, "peers", ()) for t in sec.tables)
        cached = (config, tables)
        engine._stick_tables = cached
    return cached[1]


def _data_name(word: str) -> str:
    return word[4:] if word.startswith("get_") else word


def sc_fetch(conn, n: int, data: str, table: str | None = None):
    """sc_<data>(N[,table]) / scN_<data>([table]): the entry tracked by counter N (in ``table``: the
    same key there). None (no sample) when N tracks nothing or the table does not store ``data``."""
    stk = getattr(conn, "stk", None)
    tracked = stk.ctr[n] if stk is not None else None
    if tracked is None:
        return False if data == "tracked" else None
    t, e = tracked
    if table:
        other = tables_of(conn.engine).get(table)
        if other is None:
            return None
        t, e = other, other.lookup(e.key)
        if e is None:
            return 0
    if data == "tracked":
        return True
    return t.read(e, _data_name(data))


def src_fetch(conn, proxy: str, data: str, table: str | None = None):
    """src_<data>([table]): the client address looked up in ``table`` (the current proxy's): 0 when
    it is not there, None (no sample) when the table does not store ``data``."""
    t = tables_of(conn.engine).get(table or proxy)
    if t is None:
        return None
    key = t.key(conn.src)
    if key is None:
        return None
    e = t.lookup(key)
    name = _data_name(data)
    if e is None:
        return 0 if t.cfg.period(name) is not None else None
    return t.read(e, name)
