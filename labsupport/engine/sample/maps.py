"""Maps: files of ``key value`` lines that converters look requests up in, and the runtime API's map
commands (show/get/set/add/del/clear map), as HAProxy 2.6 has them.

Follows src/map.c (the map converters and the CLI commands' words and answers) and src/pattern.c
(pat_ref: one reference per file, its entries in file order, an id per reference).

How it works: the config loader asks ``MapStore.load(path, method, where)`` for each map converter;
a file used twice is loaded once (one reference, as in HAProxy). HAProxy 2.6 opens map files relative
to the folder it runs in, not the configuration's (``default-path`` does not change that for maps), so
the engine does the same. Lookups follow the match method of the converter: ``str`` (``map``,
``map_str``) the exact key, ``beg`` (``map_beg``) the longest key that begins the sample (a prefix
tree in HAProxy), ``int`` and ``ip`` likewise by value and longest network; ``sub``, ``end``, ``dir``,
``dom``, ``reg`` the first line in file order that matches. The runtime commands change the entries
in memory only; the file stays as it is.
"""
from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass, field

from .patterns import PatternError, compile_patterns

TREE_METHODS = ("str", "beg", "int", "ip")  # HAProxy indexes these in a tree ("idx=tree"), the rest in a list
_ids = itertools.count(0x55d0c0de0000, 0x90)  # what "show map FILE" prints in place of an entry's address


@dataclass
class Entry:
    key: str
    value: str
    ref: int = field(default_factory=lambda: next(_ids))


@dataclass
class MapFile:
    """One map file as loaded (a pat_ref): its entries, in file order."""

    id: int
    path: str
    method: str
    where: str  # "file 'edge.cfg' line 21": where the first map converter using it was written
    entries: list[Entry]

    def lookup(self, sample: str) -> Entry | None:
        """The entry the converter's match method picks for ``sample`` (None: no line matches)."""
        m, entries = self.method, self.entries
        if m == "str":
            return next((e for e in entries if e.key == sample), None)
        if m == "beg":
            best = None
            for e in entries:
                if sample.startswith(e.key) and (best is None or len(e.key) > len(best.key)):
                    best = e
            return best
        if m == "ip":
            try:
                addr = ipaddress.ip_address(sample)
            except ValueError:
                return None
            best, best_len = None, -1
            for e in entries:
                try:
                    net = ipaddress.ip_network(e.key, strict=False)
                except ValueError:
                    continue
                if net.version == addr.version and addr in net and net.prefixlen > best_len:
                    best, best_len = e, net.prefixlen
            return best
        for e in entries:
            try:
                if compile_patterns(m, [e.key], False).matches(sample):
                    return e
            except PatternError:
                continue
        return None


def read_map(path: str) -> list[Entry]:
    """The entries of a map file: ``key value`` per line (the value is the rest of the line), blank
    lines and lines starting with '#' left out (pat_ref_read_from_file_smp). Raises OSError."""
    entries = []
    with open(path, encoding="latin-1") as f:
        for line in f:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split(None, 1)  # the key up to the first space or tab, the value the rest
            entries.append(Entry(parts[0], parts[1].strip() if len(parts) > 1 else ""))
    return entries


class MapStore:
    """Every map file of one configuration, by the name it was written with."""

    def __init__(self) -> None:
        self.files: dict[str, MapFile] = {}
        self.acl_refs = 0  # HAProxy numbers every pattern reference: the config's ACLs, its own two, then maps

    def reserve(self, n: int = 1) -> None:
        """An ACL's patterns take an id, as HAProxy's pattern references do (pattern.c pat_ref_new)."""
        self.acl_refs += n

    def finalize(self) -> "MapStore":
        """Number the maps as HAProxy 2.6 does: after the ACLs and the two of its internal HTTP client
        (it loads map files when the configuration has been read)."""
        for i, mf in enumerate(self.files.values()):
            mf.id = self.acl_refs + 2 + i
        return self

    def load(self, path: str, method: str, where: str) -> MapFile:
        """The map file ``path`` (loaded on first use); OSError when it cannot be read."""
        known = self.files.get(path)
        if known is not None:
            return known
        entries = read_map(path)
        mf = self.files[path] = MapFile(-1, path, method, where, entries)  # numbered by finalize()
        return mf

    # ----- the runtime API (src/map.c cli_parse_*_map), one call per command
    def find(self, ident: str) -> MapFile | None:
        if ident.startswith("#"):
            return next((m for m in self.files.values() if f"#{m.id}" == ident), None)
        return self.files.get(ident)

    def command(self, words: list[str]) -> str:
        """``show map [ID]``, ``get map ID KEY``, ``set map ID KEY VALUE``, ``add map ID KEY VALUE``,
        ``del map ID KEY``, ``clear map ID``: HAProxy's answer, without the final empty line."""
        verb = words[0]
        if verb == "show" and len(words) == 2:
            lines = ["# id (file) description"]
            lines += [f"{m.id} ({m.path}) pattern loaded from file '{m.path}' used by map at {m.where}. "
                      f"curr_ver=0 next_ver=0 entry_cnt={len(m.entries)}" for m in self.files.values()]
            return "\n".join(lines) + "\n"
        mf = self.find(words[2]) if len(words) > 2 else None
        if verb in ("set", "add") and len(words) < 5:
            return (f"'{verb} map' expects three parameters: map identifier, key and value.\n" if verb == "set"
                    else "'add map' expects three parameters (map identifier, key and value) or one parameter "
                         "(map identifier) and a payload\n")
        if verb in ("get", "del") and len(words) < 4:
            return ("This command expects two parameters: map identifier and key.\n" if verb == "del"
                    else "Missing map identifier and/or key.\n")
        if verb == "clear" and len(words) < 3:
            return "Missing map identifier.\n"
        if mf is None:
            return "Unknown map identifier. Please use #<id> or <file>.\n"
        if verb == "show":
            return "".join(f"0x{e.ref:x} {e.key} {e.value}\n" for e in mf.entries)
        key = words[3] if len(words) > 3 else ""
        if verb == "get":
            e = mf.lookup(key)
            head = f"type={mf.method}, case=sensitive, found={'yes' if e else 'no'}"
            if e is None:
                return head + "\n"
            idx = "tree" if mf.method in TREE_METHODS else "list"
            return f'{head}, idx={idx}, key="{e.key}", value="{e.value}", type="str"\n'
        if verb == "set":
            hits = [e for e in mf.entries if e.key == key]
            if not hits:
                return "entry not found.\n"
            for e in hits:
                e.value = " ".join(words[4:])
            return ""
        if verb == "add":
            mf.entries.append(Entry(key, " ".join(words[4:])))
            return ""
        if verb == "del":
            before = len(mf.entries)
            mf.entries[:] = [e for e in mf.entries if e.key != key]
            return "" if len(mf.entries) < before else "Key not found.\n"
        if verb == "clear":
            mf.entries.clear()
            return ""
        return "Unknown command.\n"
