"""Maps: files of ``key value`` lines that converters look requests up in, and the runtime API's map
commands (show/get/set/add/del/clear map), as HAProxy 2.6 has them.

Follows src/map.c (the map converters and the CLI commands' words and answers) and src/pattern.c
(pat_ref: one reference per file, its entries in file order, an id per reference).

How it works: the config loader asks ``MapStore.load(path, method, out, where)`` for each map converter;
a file used twice is loaded once (one reference, as in HAProxy). HAProxy 2.6 opens map files relative
to the folder it runs in, not the configuration's (``default-path`` does not change that for maps), so
the engine does the same. Lookups follow the match method of the converter: ``str`` (``map``,
``map_str``) the exact key, ``beg`` (``map_beg``) the longest key that begins the sample (a prefix
tree in HAProxy), ``int`` and ``ip`` likewise by value and longest network; ``sub``, ``end``, ``dir``,
``dom``, ``reg`` the first line in file order that matches. The runtime commands change the entries
in memory only; the file stays as it is.
"""
from __future__ import annotations

import functools
import ipaddress
import itertools
from dataclasses import dataclass, field

from .patterns import PatternError, compile_patterns

TREE_METHODS = ("str", "beg", "ip")  # HAProxy indexes these in a tree ("idx=tree"), the rest in a list (int too)
_ids = itertools.count(0x55d0c0de0000, 0x90)  # what "show map FILE" prints in place of an entry's address


@dataclass
class Entry:
    key: str
    value: str
    ref: int = field(default_factory=lambda: next(_ids))
    line: int = 0  # its line in the file (0: added at run time)


class MapError(ValueError):
    """A map file HAProxy refuses for a converter: its message, without the final dot."""


def as_output(value: str, out: str):
    """A map value as the converter's output type ('str', 'int' or 'ip'); None when it cannot be one."""
    if out == "str":
        return value
    if out == "int":
        return int(value) if (value[1:] if value[:1] in "+-" else value).isdigit() else None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


@dataclass
class MapFile:
    """One map file as loaded (a pat_ref): its entries, in file order."""

    id: int
    path: str
    method: str
    where: str  # "file 'edge.cfg' line 21": where the first map converter using it was written
    entries: list[Entry]
    users: list[str] = field(default_factory=list)  # where each map converter using it was written

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
            matcher = _matcher(m, e.key)
            if matcher is not None and matcher.matches(sample):
                return e
        return None


@functools.lru_cache(maxsize=4096)
def _matcher(method: str, key: str):
    """A key compiled for its match method once (keys are checked at load; None: one it cannot read)."""
    try:
        return compile_patterns(method, [key], False)
    except PatternError:
        return None


def read_map(path: str) -> list[Entry]:
    """The entries of a map file: ``key value`` per line (the value is the rest of the line), blank
    lines and lines starting with '#' left out (pat_ref_read_from_file_smp). Raises OSError."""
    entries = []
    with open(path, encoding="latin-1") as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split(None, 1)  # the key up to the first space or tab, the value the rest
            entries.append(Entry(parts[0], parts[1].strip() if len(parts) > 1 else "", line=number))
    return entries


class MapStore:
    """Every map file of one configuration, by the name it was written with."""

    def __init__(self) -> None:
        self.files: dict[str, MapFile] = {}
        self.next_id = 0  # HAProxy numbers every pattern reference (ACLs' and maps') in creation order
        self._seen: set = set()

    def reserve(self, key: object = None) -> None:
        """A pattern reference that is not a map takes an id too (pattern.c pat_ref_new): one per ACL
        line or anonymous ACL, one per '-f' file and per predefined ACL a section uses (``key`` names
        those, counted once), two for HAProxy's internal HTTP client."""
        if key is not None:
            if key in self._seen:
                return
            self._seen.add(key)
        self.next_id += 1

    def finalize(self) -> "MapStore":
        """The store once the configuration is read (ids were given as HAProxy gives them, in order)."""
        return self

    def load(self, path: str, method: str, out: str = "str", where: str = "") -> MapFile:
        """The map file ``path`` (read on first use, numbered then), its keys checked against the
        converter's match method and its values against its output type; MapError in HAProxy's words."""
        mf = self.files.get(path)
        if mf is None:
            try:
                entries = read_map(path)
            except OSError:
                raise MapError(f"failed to open pattern file <{path}>") from None
            mf = MapFile(self.next_id, path, method, where, entries)
            self.next_id += 1
        mf.users.append(where)
        for e in mf.entries:  # pattern.c reads the value first, then the key
            try:
                if as_output(e.value, out) is None:
                    raise MapError(f"unable to parse '{e.value}'")
                if method in ("int", "ip", "reg"):
                    compile_patterns(method, [e.key], False)
            except PatternError as err:
                raise MapError(f"{str(err).rstrip('.')} at line {e.line} of file '{path}'") from None
            except MapError as err:
                raise MapError(f"{err} at line {e.line} of file '{path}'") from None
        self.files[path] = mf
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
            lines += [f"{m.id} ({m.path}) pattern loaded from file '{m.path}' used by {', by '.join('map at ' + w for w in m.users)}. "
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
            hits = _targets(mf, key)
            if not hits:
                return "key or pattern not found.\n" if key.startswith("#") else "entry not found.\n"
            for e in hits:
                e.value = " ".join(words[4:])
            return ""
        if verb == "add":
            mf.entries.append(Entry(key, " ".join(words[4:])))
            return ""
        if verb == "del":
            hits = _targets(mf, key)
            mf.entries[:] = [e for e in mf.entries if e not in hits]
            return "" if hits else "Key not found.\n"
        if verb == "clear":
            mf.entries.clear()
            return ""
        return "Unknown command.\n"


def _targets(mf: MapFile, key: str) -> list[Entry]:
    """The entries a command's key names: every entry with that key, or the one entry '#0x...' (the
    address 'show map FILE' printed) names."""
    if key.startswith("#"):
        try:
            ref = int(key[1:], 16)
        except ValueError:
            return []
        return [e for e in mf.entries if e.ref == ref]
    return [e for e in mf.entries if e.key == key]
