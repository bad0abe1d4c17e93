"""The local peer: stick tables that survive a reload, as HAProxy 2.6 keeps them with a ``peers`` section.

How it works. A kept ``peers`` section (config/peers.py) has a local peer address; ``serve`` listens
there (on a socket a master process handed over in ``engine.inherited[(host, port)]`` when there is one,
else on its own, with SO_REUSEPORT as HAProxy's listeners have it). When an old process stops softly it
calls ``teach``: it stops listening, connects to the local peer address (which the new process now
serves) and pushes every entry of every table bound to a section: key, remaining expiry and stored data
(counters as they are, rates as their freq_ctr state). The new process merges them into its tables of
the same name and key type, keeping only the data types it stores. ``carry`` does the same between the
old and new tables of one engine on an in-process reload (``Engine.reload``); tables without a
section start empty, as in HAProxy.

This is NOT HAProxy's binary peers protocol (src/peers.c): the engine talks only to itself, with a
private line protocol, and exchanges nothing with remote peers (config/peers.py warns). The protocol:
the client sends ``LABPEERS 1 SECTION``, then one JSON object per line
``{"table": NAME, "type": KEY_TYPE, "key": KEY, "exp": MS_LEFT_OR_NULL, "data": {TYPE: VALUE}}``, then
``END``; the server answers ``OK N`` (N entries merged). Lines are bounded (64 KiB), entries too (the
receiving tables' sizes, plus a margin), and time (``TIMEOUT`` per line); a client that sends anything
else gets its connection closed and a located WARNING in the engine's log, never a traceback.
Entries merged before a bad line are kept.

HAProxy learns a table's entries from the old process only once that process finished its initial
resync (about 5 s after it started, see shared facts); the engine pushes them whenever it is told to.
"""
from __future__ import annotations

import asyncio
import errno
import json
import socket

from ..sticktable import ARRAYS, RATES, FreqCtr, StickTable, now_ms, tables_of

MAGIC = "LABPEERS 1"
MAX_LINE = 64 * 1024
TIMEOUT = 10.0  # seconds for each line, and for the whole answer


class PeerProtocolError(Exception):
    pass


# --------------------------------------------------------------------------- entries as records
def _key_out(kind: str, key):
    return key.hex() if kind == "binary" else key


def _key_in(t: StickTable, key):
    if t.cfg.type == "binary":
        if not isinstance(key, str):
            raise PeerProtocolError("a binary key must be hex text")
        try:
            return bytes.fromhex(key)[: t.cfg.length or 32]
        except ValueError:
            raise PeerProtocolError("a binary key must be hex text") from None
    if t.cfg.type == "integer" and not (isinstance(key, int) and not isinstance(key, bool)):
        raise PeerProtocolError("an integer key must be a number")
    if t.cfg.type != "integer" and not isinstance(key, str):
        raise PeerProtocolError("a key must be text")
    out = t.key(key)
    if out is None:
        raise PeerProtocolError(f"{key!r} is not a {t.cfg.type} key")
    return out


def _value_out(v, now: int):
    if isinstance(v, FreqCtr):
        return [v.curr_tick - now, v.curr_ctr, v.prev_ctr]
    if isinstance(v, list):
        return [_value_out(x, now) for x in v]
    return v


def record(t: StickTable, e, now: int) -> dict:
    """One entry as the protocol sends it."""
    exp = max(e.expire - now, 0) if t.cfg.expire else None
    return {"table": t.name, "type": t.cfg.type, "key": _key_out(t.cfg.type, e.key), "exp": exp,
            "data": {name: _value_out(v, now) for name, v in e.data.items()}}


def _int(v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or abs(v) > 1 << 63:
        raise PeerProtocolError(f"{v!r} is not a counter")
    return v


def _freq(v, now: int) -> FreqCtr:
    if not (isinstance(v, list) and len(v) == 3):
        raise PeerProtocolError(f"{v!r} is not a rate")
    f = FreqCtr()
    f.curr_tick, f.curr_ctr, f.prev_ctr = now + _int(v[0]), _int(v[1]), _int(v[2])
    return f


def merge(t: StickTable, rec: dict, now: int) -> bool:
    """peer_treat_updatemsg's part: the record's entry into ``t`` (made when missing), its data
    overwriting this table's where it stores the same type. False when the table is full."""
    key = _key_in(t, rec.get("key"))
    data = rec.get("data")
    if not isinstance(data, dict):
        raise PeerProtocolError("'data' must be an object")
    e = t.get(key)
    if e is None:
        return False
    for name, v in data.items():
        if name not in e.data:
            continue
        mine = e.data[name]
        if name in ARRAYS:
            if not isinstance(v, list) or len(v) != len(mine):
                raise PeerProtocolError(f"{name} needs {len(mine)} values")
            e.data[name] = [_freq(x, now) if name in RATES else _int(x) for x in v]
        elif name in RATES:
            e.data[name] = _freq(v, now)
        elif name == "server_key":
            if not isinstance(v, str) or len(v) > 1024:
                raise PeerProtocolError("server_key must be text")
            e.data[name] = v
        else:
            e.data[name] = _int(v)
    exp = rec.get("exp")
    if t.cfg.expire:
        e.expire = now + (min(_int(exp), t.cfg.expire) if exp is not None else t.cfg.expire)
    return True


def bound_tables(engine, section: str | None = None) -> list[StickTable]:
    """The engine's tables bound to a peers section (to ``section`` when given)."""
    return [t for t in tables_of(engine).values()
            if t.cfg.peers and (section is None or t.cfg.peers == section)]


def carry(engine, old: dict[str, StickTable]) -> int:
    """An in-process reload: entries of the old tables bound to a section move into the new tables of the
    same name and key type that are bound to one too. Returns how many entries moved."""
    now, moved = now_ms(), 0
    for t in bound_tables(engine):
        prev = old.get(t.name)
        if prev is None or prev is t or not prev.cfg.peers or prev.cfg.type != t.cfg.type:
            continue
        prev.purge(now)
        for e in list(prev.entries.values()):
            moved += merge(t, record(prev, e, now), now)
    return moved


# --------------------------------------------------------------------------- the listener
def _sections(engine) -> dict[tuple[str, int], str]:
    out = {}
    for sec in getattr(engine.config, "peers", ()):
        if sec.address is not None:
            out.setdefault(sec.address, sec.name)
    return out


async def serve(engine) -> None:
    """Listen on every kept section's local peer address (a reload opens and closes as needed)."""
    servers = engine.__dict__.setdefault("peer_servers", {})
    wanted = _sections(engine)
    for addr in [a for a in servers if a not in wanted]:
        servers.pop(addr).close()
    for addr, name in wanted.items():
        if addr in servers:
            continue
        def handler(reader, writer, name=name):
            return _receive(engine, name, reader, writer)

        sock = getattr(engine, "inherited", {}).pop(addr, None)
        if sock is not None:
            server = await asyncio.start_server(handler, sock=sock, limit=MAX_LINE)
        else:
            try:
                server = await asyncio.start_server(handler, addr[0], addr[1], reuse_address=True,
                                                    reuse_port=hasattr(socket, "SO_REUSEPORT"), limit=MAX_LINE)
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
                from ...ports import in_use

                raise in_use(addr[1], addr[0], doing=f"peers section '{name}' cannot listen on it for its local "
                             "peer", instead="change the local 'peer' line's port") from None
        servers[addr] = server


async def close(engine) -> None:
    """Stop listening for peers."""
    servers = engine.__dict__.get("peer_servers") or {}
    for server in servers.values():
        server.close()
    for server in servers.values():
        await server.wait_closed()
    servers.clear()


async def _line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await asyncio.wait_for(reader.readuntil(b"\n"), TIMEOUT)
    except asyncio.LimitOverrunError:
        raise PeerProtocolError(f"line longer than {MAX_LINE} bytes") from None
    except asyncio.IncompleteReadError:
        raise PeerProtocolError("connection closed before END") from None
    except asyncio.TimeoutError:
        raise PeerProtocolError(f"nothing received for {TIMEOUT:g} s") from None
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise PeerProtocolError("not UTF-8 text") from None


async def _receive(engine, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    who = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"
    tables = {t.name: t for t in bound_tables(engine, name)}
    limit = sum(t.cfg.size for t in tables.values()) + 1024
    count = merged = 0
    try:
        head = await _line(reader)
        if head != f"{MAGIC} {name}":
            raise PeerProtocolError(f"expected '{MAGIC} {name}', got {head[:60]!r}")
        while True:
            text = await _line(reader)
            if text == "END":
                break
            count += 1
            if count > limit:
                raise PeerProtocolError(f"more than {limit} entries")
            try:
                rec = json.loads(text)
            except (ValueError, RecursionError):
                raise PeerProtocolError("not a JSON record") from None
            if not isinstance(rec, dict):
                raise PeerProtocolError("not a JSON object")
            name_in = rec.get("table")
            t = tables.get(name_in) if isinstance(name_in, str) else None
            if t is None or t.cfg.type != rec.get("type"):
                continue  # HAProxy skips updates for a table it does not have (or of another key type)
            merged += merge(t, rec, now_ms())
        writer.write(f"OK {merged}\n".encode())
        await writer.drain()
        if merged:
            engine.event("NOTICE", f"Peers section '{name}': learned {merged} entries from the previous "
                                   f"process ({who}).")
    except PeerProtocolError as e:
        where = f"message {count}" if count else "its greeting"
        engine.event("WARNING", f"Peers section '{name}': {who}: {e} (at {where}); connection closed.")
    except (ConnectionError, OSError):
        pass
    except Exception as e:  # whatever a client sends: a log line, never a traceback
        engine.event("WARNING", f"Peers section '{name}': {who}: unreadable update ({e.__class__.__name__}) "
                                f"at message {count}; connection closed.")
    finally:
        writer.close()


# --------------------------------------------------------------------------- the old process's side
async def teach(engine) -> int:
    """Soft stop of an old process: stop listening for peers, then push every entry of every table bound
    to a section to that section's local peer address, which the new process serves. Returns the
    number of entries the new process merged; 0 (and a log line) when nobody answers there.
    ``Engine.soft_stop`` calls this before it closes the engine's listeners."""
    await close(engine)
    total = 0
    now = now_ms()
    for addr, name in _sections(engine).items():
        tables = bound_tables(engine, name)
        if not tables:
            continue
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(addr[0], addr[1]), TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            engine.event("WARNING", f"Peers section '{name}': no new process at {addr[0]}:{addr[1]} to hand "
                                    f"the tables to ({e.__class__.__name__}).")
            continue
        try:
            writer.write(f"{MAGIC} {name}\n".encode())
            for t in tables:
                t.purge(now)
                for e in list(t.entries.values()):
                    writer.write(json.dumps(record(t, e, now), separators=(",", ":")).encode() + b"\n")
                await writer.drain()
            writer.write(b"END\n")
            await writer.drain()
            answer = (await asyncio.wait_for(reader.readline(), TIMEOUT)).decode("utf-8", "replace").split()
            if answer[:1] == ["OK"] and len(answer) == 2 and answer[1].isdigit():
                total += int(answer[1])
        except (OSError, asyncio.TimeoutError) as e:
            engine.event("WARNING", f"Peers section '{name}': handing the tables to {addr[0]}:{addr[1]} failed "
                                    f"({e.__class__.__name__}).")
        finally:
            writer.close()
    return total


__all__ = ["serve", "close", "teach", "carry", "merge", "record", "bound_tables", "MAGIC"]
