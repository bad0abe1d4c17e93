"""``peers`` sections, read and checked as HAProxy 2.6 reads them.

How it works: the parser hands a ``peers NAME`` header to ``start_section`` and each following line to
``parse_line``; both fill a ``PeersDraft`` (``p.peers_drafts``). A ``peer``/``server`` line whose name is
the local peer name (the global ``localpeer``, else the engine's ``-L`` name given to the parser, else
the host name, as in HAProxy) is the local peer: the address this process listens on for its peers. A
``table NAME ...`` line declares a stick table named ``SECTION/NAME`` (as ``show table`` names it),
read by config/stick.py's ``kw_stick_table`` (the parser hands it over). ``check_peers`` is the check stage: a section without a
local peer is removed with HAProxy's warning; ``finish`` freezes the kept sections into ``PeersSection``.

What the engine does with a section (proxy/peers.py): it listens on the local peer's address, so that
on a reload the old process can hand its tables' entries to the new one. It does not speak HAProxy's
peers protocol to other hosts: a remote peer is a located warning (the table is not shared with it).

Follows HAProxy 2.6's src/cfgparse.c (cfg_parse_peers, check_config_validity's peers part);
Copyright Willy Tarreau, Emeric Brun and contributors, GPL-2.0-or-later.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field, replace

from ...errors import Message
from . import keywords as kw
from .context import Context
from .server import unknown_server_keyword
from .words import SECTION_NAME_CHARS, resolve

IGNORED_FOR_PEERS = ("check", "agent-check", "resolvers", "init-addr")
REMOTE_HINT = ("The course engine keeps a table across its own reloads through the local peer; it does not "
               "exchange entries with other HAProxy processes. Run real HAProxy to share tables between hosts.")


@dataclass(frozen=True)
class Peer:
    name: str
    host: str | None  # None: written without an address
    port: int | None
    local: bool
    line: int


@dataclass(frozen=True)
class PeersSection:
    """A kept ``peers`` section: its peers, its own tables and the local peer's address."""

    name: str
    line: int
    peers: tuple[Peer, ...] = ()
    tables: tuple = ()  # sticktable.TableConfig, named "SECTION/NAME"

    @property
    def local(self) -> Peer | None:
        return next((q for q in self.peers if q.local), None)

    @property
    def address(self) -> tuple[str, int] | None:
        """Where this process listens for its peers (None: the local peer has no address)."""
        q = self.local
        return None if q is None or q.host is None or q.port is None else (q.host, q.port)


@dataclass
class TableDraft:
    """What config/stick.py's kw_stick_table needs of a section, for a peers section's ``table`` line."""

    name: str
    line: int
    kind: str = "peers"
    type_name: str = "peers"
    values: dict = field(default_factory=dict)


@dataclass
class PeersDraft:
    name: str
    file: str
    line: int
    localpeer: str
    peers: list[Peer] = field(default_factory=list)
    tables: list[TableDraft] = field(default_factory=list)
    has_fe: bool = False  # HAProxy's peers_fe exists (any bind/peer/server/table/log/default-server line)
    local_line: int = 0  # the local peer's line (0: none yet)
    bind: tuple | None = None  # (host, port, line) of a 'bind' line
    peer_line: bool = False
    disabled: bool = False


def localpeer_of(p: Context) -> str:
    return getattr(p, "localpeer", None) or socket.gethostname()


def drafts(p: Context) -> list[PeersDraft]:
    if not hasattr(p, "peers_drafts"):
        p.peers_drafts = []  # type: ignore[attr-defined]
    return p.peers_drafts  # type: ignore[attr-defined]


def start_section(p: Context, args: list[str]) -> PeersDraft | None:
    """A ``peers`` header; None when HAProxy aborts (p.aborted is set)."""
    name = args[1] if len(args) > 1 else ""
    if not name:
        p.alert(f"{p.where}missing name for peers section.", "Name the section: 'peers mypeers'.")
        p.aborted = True  # type: ignore[attr-defined]
        return None
    if len(args) > 2:
        p.alert(f"{p.where}'peers' cannot handle unexpected argument '{args[2]}'.")
        p.aborted = True  # type: ignore[attr-defined]  (HAProxy 2.6 goes on with no section, and crashes)
        return None
    bad = next((c for c in name if c not in SECTION_NAME_CHARS), None)
    if bad:
        p.alert(f"{p.where}character '{bad}' is not permitted in 'peers' name '{name}'.")
        p.aborted = True  # type: ignore[attr-defined]
        return None
    for other in drafts(p):
        if other.name == name:
            p.alert(f"Parsing [{p.file}:{p.line}]: peers section '{name}' has the same name as another peers "
                    f"section declared at {other.file}:{other.line}.", "Give each peers section its own name.")
    d = PeersDraft(name, p.file, p.line, localpeer_of(p))
    drafts(p).append(d)
    return d


def _address(p: Context, what: str, text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep:
        p.alert(f"{p.where}'{what}' : missing port specification in '{text}'")
        return None
    if not port.isdigit() or not 0 < int(port) < 65536:
        bad = next((c for c in port if not c.isdigit()), port[:1] or " ")
        p.alert(f"{p.where}'{what}' : invalid character '{bad}' in port number '{port}' in '{text}'")
        return None
    ip = resolve(host)
    if ip is None:
        p.alert(f"{p.where}'{what}' : invalid address: '{host}' in '{text}'")
        return None
    return ip, int(port)


def parse_line(p: Context, d: PeersDraft, args: list[str], proxy_tables: dict, read_table) -> None:
    """One line of the section; ``read_table`` is config/stick.py's kw_stick_table (given by the parser:
    stick.py reads this module for its check stage)."""
    word = args[0]
    if word in ("bind", "default-bind"):
        d.has_fe = True
        if word == "default-bind":
            p.ignored("default-bind", "The local peer's listener takes no settings in the course engine.")
            return
        if d.peer_line:
            p.alert(f'{p.where}mixing "peer" and "bind" line is forbidden')
            return
        if d.bind is not None:
            p.alert(f'{p.where}One listener per "peers" section is authorized but another is already configured '
                    f"at [{p.file}:{d.bind[2]}].")
            return
        addr = _address(p, f"{word} {args[1] if len(args) > 1 else ''}", args[1] if len(args) > 1 else "")
        if addr is None:
            return
        d.bind = (addr[0], addr[1], p.line)
        if len(args) > 2:
            p.ignored(" ".join(args[2:]), "The course engine listens for its local peer in clear TCP.")
    elif word in ("default-server", "log"):
        d.has_fe = True
        p.ignored(word, "The course engine connects to no remote peer, and logs peers events to its own log.")
    elif word in ("peer", "server"):
        _peer(p, d, args)
    elif word == "table":
        _table(p, d, args, proxy_tables, read_table)
    elif word == "disabled":
        d.disabled = True
    elif word == "enabled":
        d.disabled = False
    else:
        p.alert(f"{p.where}unknown keyword '{word}' in 'peers' section",
                "A peers section holds peer, bind, server, default-server, table, log, disabled and enabled lines.")


def _peer(p: Context, d: PeersDraft, args: list[str]) -> None:
    word, name = args[0], args[1] if len(args) > 1 else ""
    local = name == d.localpeer
    if word == "peer":
        if d.bind is not None:
            p.alert(f'{p.where}mixing "peer" and "bind" line is forbidden')
            return
        d.peer_line = True
    if local and d.local_line:
        p.alert(f"{p.where}'{word} {name}' : local peer name already referenced at {p.file}:{d.local_line}. "
                f"{name}", "Each peers section names its local peer once.")
        return
    d.has_fe = True
    if not name:
        return  # HAProxy 2.6 accepts a 'peer' line without a name and does nothing with it
    what = f"{word} {name}"
    host = port = None
    if word == "peer" or not local:
        text = args[2] if len(args) > 2 else ""
        if text:
            addr = _address(p, what, text)
            if addr is None:
                return
            host, port = addr
    elif d.bind is not None:
        host, port = d.bind[0], d.bind[1]
    options = args[3:] if (word == "peer" or not local) else args[2:]
    owner = d.localpeer if d.local_line or local else "(null)"  # HAProxy's peers proxy is named on the local line
    i = 0
    while i < len(options):
        o = options[i]
        if o not in kw.SERVER_KEYWORDS:
            p.alert(f"[{p.file}:{p.line}] : 'server {owner}/{name}' : {unknown_server_keyword(o)}",
                    "A peer line is 'peer NAME IP:PORT'; server keywords after it are read but unused.")
            return
        if o not in kw.SERVER_FLAGS and i + 1 >= len(options):  # (HAProxy words this per keyword)
            p.alert(f"[{p.file}:{p.line}] : 'server {owner}/{name}' : '{o}' expects an argument.")
            return
        i += 1 if o in kw.SERVER_FLAGS else 2
    if any(o in IGNORED_FOR_PEERS for o in options):
        p.warn(f"{p.where}'{what}' : init_addr, resolvers, check and agent are ignored for peers.")
    others = [o for o in options if o not in IGNORED_FOR_PEERS]
    if others:
        p.ignored(" ".join(others), "The course engine reads a peer's name and address only.")
    if local:
        d.local_line = p.line
    d.peers.append(Peer(name, host, port, local, p.line))


def _table(p: Context, d: PeersDraft, args: list[str], proxy_tables: dict, read_table) -> None:
    d.has_fe = True
    name = args[1] if len(args) > 1 else ""
    other = proxy_tables.get(name)
    if other is not None:
        p.alert(f"{p.where}stick-table name '{name}' conflicts with table declared in {other.type_name} "
                f"'{other.name}' at {p.file}:{other.values['stick_table'].line}.")
        return
    if "peers" in args[2:]:
        p.alert(f"{p.where}table: unknown argument 'peers'.", "A table in a peers section is already shared there.")
        return
    t = TableDraft(f"{d.name}/{name}", p.line)
    read_table(p, t, ["table"] + args[2:], "")
    table = t.values.get("stick_table")
    if table is not None:
        t.values["stick_table"] = replace(table, peers=d.name)
        d.tables.append(t)


def kept(d: PeersDraft) -> bool:
    """check_config_validity keeps a section that is enabled and has a local peer."""
    return not d.disabled and d.has_fe and bool(d.local_line)


def table_drafts(p: Context) -> list[TableDraft]:
    return [t for d in drafts(p) for t in d.tables]


def bound_peers(p: Context, proxy: str, name: str, line: int) -> str:
    """A proxy's ``stick-table ... peers NAME``: the section's name when the table is bound to it, else ""
    (with HAProxy's alerts, check_config_validity)."""
    d = next((x for x in reversed(drafts(p)) if x.name == name), None)
    if d is None:
        p.alert(f"Proxy '{proxy}': unable to find sync peers '{name}'.", "Add a 'peers' section of that name.",
                line=line)
        return ""
    if d.disabled:
        return ""
    if not d.has_fe:
        p.alert(f"Proxy '{proxy}': unable to find local peer '{d.localpeer}' in peers section '{name}'.",
                f"Add 'peer {d.localpeer} 127.0.0.1:10000' to the section.", line=line)
        return ""
    return name if kept(d) else ""


def check_peers(p: Context) -> None:
    """The end of check_config_validity: sections without a local peer are removed (newest first); a kept
    section's remote peers are the engine's located warning."""
    for d in drafts(p):
        for q in d.peers if kept(d) else ():
            if not q.local and q.host is not None:
                p.warn(f"parsing [{d.file}:{q.line}] : 'peer {q.name}' : the course engine does not speak "
                       f"HAProxy's peers protocol to other peers: tables bound to peers section '{d.name}' are "
                       f"not shared with '{q.name}' ({q.host}:{q.port}).", REMOTE_HINT, line=q.line)
    for d in reversed(drafts(p)):
        if not d.disabled and not kept(d):
            p.messages.append(Message("WARNING", f"Removing incomplete section 'peers {d.name}' (no peer named "
                                      f"'{d.localpeer}')."))


def finish(p: Context) -> tuple[PeersSection, ...]:
    out = []
    for d in drafts(p):
        if not kept(d):
            continue
        peers = list(d.peers)
        if d.bind is not None and not any(q.local for q in peers):
            peers.append(Peer(d.localpeer, d.bind[0], d.bind[1], True, d.bind[2]))
        tables = tuple(t.values["stick_table"] for t in d.tables)
        out.append(PeersSection(d.name, d.line, tuple(peers), tables))
    return tuple(out)


__all__ = ["Peer", "PeersSection", "start_section", "parse_line", "bound_peers", "check_peers", "finish",
           "table_drafts", "localpeer_of"]
