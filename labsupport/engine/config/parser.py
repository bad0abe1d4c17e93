"""The configuration parser: sections, the global section, and the check and addr stages.

How it works: ``analyse`` runs a ``Parser`` over the text. The parser splits lines into words
(``split_line``), tracks the current section, and hands proxy-section lines to the keyword
table in ``proxy``. Each section being built is a mutable ``Draft``; a proxy's draft
starts as a copy of the last ``defaults`` section. After the last line come haproxy's later
stages (cross-references, then addresses); see the package docstring.

Follows HAProxy 2.6's src/cfgparse.c (readcfgfile, check_config_validity) and src/cfgparse-global.c,
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import Message
from . import keywords as kw
from . import peers as _peers
from .conditions import maps_of
from .context import IGNORED_HINT, Context, Draft
from .cookie import dynamic_cookies
from .directives import Blocks
from .model import Config, ServerConfig
from .proxy import check_proxy, parse_proxy_line
from .resolvers import check_servers, finish_sections, init_address, resolvers_line, start_section
from .stick import kw_stick_table, stick_tables
from .tls import parse_default_bind_options
from .words import SECTION_NAME_CHARS, LineError, atol, parse_time, resolve, split_line, split_words

OUT_OF_SECTION_HINTS = {
    "global": ("This line comes before any section header, so it belongs to no section. Process-wide "
               "settings such as maxconn go in the 'global' section: add a line 'global' above it. (The "
               "seed article printed its config without its 'global' and 'defaults' header lines.)"),
    "defaults": ("This line comes before any proxy section. Settings every frontend and backend should "
                 "inherit (mode, timeout ...) go in the 'defaults' section: add a line 'defaults' above them."),
}
# Global keywords haproxy refuses extra words after (alertif_too_many_args).
GLOBAL_FLAGS = frozenset((
    "busy-polling daemon external-check h2-workaround-bogus-websocket-clients insecure-fork-wanted "
    "insecure-setuid-wanted noepoll noevports nogetaddrinfo nokqueue nopoll noreuseport nosplice quiet "
    "set-dumpable strict-limits zero-warning").split())
GLOBAL_ONE_ARG = frozenset((
    "chroot cluster-secret fd-hard-limit gid group localpeer log-tag master-worker max-spread-checks "
    "maxcompcpuusage maxcomprate maxconnrate maxpipes maxsessrate maxsslrate maxzlibmem node pidfile "
    "spread-checks ssl-server-verify uid ulimit-n user nbthread hard-stop-after tune.buffers.limit "
    "tune.buffers.reserve tune.bufsize tune.comp.maxlevel tune.http.cookielen tune.http.logurilen "
    "tune.http.maxhdr tune.idletimer tune.maxaccept tune.maxpollevents tune.maxrewrite tune.pipesize "
    "tune.rcvbuf.client tune.rcvbuf.server tune.recv_enough tune.runqueue-depth tune.sndbuf.client "
    "tune.sndbuf.server").split())



@dataclass(frozen=True)
class SourceLine:
    """One line of a configuration text and where it sits, as the parser sees it."""

    number: int  # 1-based
    text: str  # as written, without its newline
    words: tuple[str, ...]  # as haproxy cuts it (split_line): no comment, quotes and escapes resolved
    section: str  # keyword of the enclosing section ("global", "backend", "cache" ...); "" before any
    name: str  # that section's name ("" when it has none)
    opens: bool  # this line is the section's header

    @property
    def indent(self) -> str:
        return self.text[:len(self.text) - len(self.text.lstrip())]

    def spans(self) -> list[tuple[int, int]] | None:
        """Where each word sits in ``text`` (start, end), to rewrite one word in place; None when
        quotes or escapes made a word differ from its text."""
        spans, pos = [], 0
        for word in self.words:
            start = self.text.find(word, pos)
            if start < 0:
                return None
            spans.append((start, start + len(word)))
            pos = start + len(word)
        return spans

    def with_word(self, i: int, new: str) -> str:
        """The line's text with word ``i`` replaced by ``new``, everything else as written (rebuilt
        from the words, without its comment, when quotes or escapes hide where the word is)."""
        spans = self.spans()
        if spans is None:
            return self.indent + " ".join(map(_quoted, (*self.words[:i], new, *self.words[i + 1:])))
        start, end = spans[i]
        return self.text[:start] + new + self.text[end:]


def _quoted(word: str) -> str:
    """``word`` written so that split_line reads it back as one word."""
    if word and not any(c in word for c in " \t\r#\"'\\$"):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def outline(text: str) -> list[SourceLine]:
    """Every line of ``text`` with its words and its section, for tools that edit a configuration
    as text (keeping the student's layout and comments) but must find sections, servers and binds
    the way haproxy does: no regular expressions over the text."""
    out: list[SourceLine] = []
    section = name = ""
    for number, raw in enumerate(text.split("\n"), 1):
        words = tuple(split_words(raw))  # a line haproxy refuses has no words here (analyse reports it)
        opens = bool(words) and (words[0] in kw.SECTIONS or words[0] in kw.OTHER_SECTIONS)
        if opens:
            section, name = words[0], (words[1] if len(words) > 1 else "")
        out.append(SourceLine(number, raw, words, section, name, opens))
    return out


@dataclass
class Analysis:
    """What ``analyse`` found: the config (None when a fatal error stopped it) and messages."""

    config: Config | None
    messages: tuple[Message, ...]
    stage: str | None  # None when valid; else "parse", "abort", "check" or "addr"


class Parser(Context):
    """One pass over a configuration text; see the module docstring."""

    def __init__(self, text: str, path: str | None, from_file: bool = False,
                 sources: list[tuple[str, str]] | None = None, localpeer: str | None = None):
        super().__init__(path)
        self.localpeer = localpeer  # '-L NAME' (None: the global 'localpeer', else the host name)
        self.localpeer_cmdline = localpeer is not None
        self.peers_draft: _peers.PeersDraft | None = None
        self.text, self.from_file = text, from_file
        self.sources = sources or [(self.file, text)]  # (file name, text), in order (-f DIR)
        self.aborted = False
        self.section: str | None = None  # "global", "skip" or a proxy/defaults section
        self.draft: Draft | None = None
        self.global_maxconn: int | None = None
        self.stats_socket: str | None = None
        self.stats_socket_level: str | None = None
        self.stats_sockets: list[tuple[str, str]] = []
        self.log_targets: list[str] = []
        self.master_worker = False  # global 'master-worker' (run as -W would)
        self.noreuseport = False  # global 'noreuseport'
        self.hard_stop_after: int | None = None  # global 'hard-stop-after', ms
        self._hints_given: set[str] = set()
        self.mailers: list[str] = []  # mailers sections, by name

    # ----------------------------------------------------------------- main loop
    def run(self) -> None:
        for name, text in self.sources:
            self.file = name
            if not self._run_file(text) or self.aborted:
                self.aborted = True
                return

    def _run_file(self, text: str) -> bool:
        """One file, as haproxy's readcfgfile reads it; False when parsing must stop."""
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        blocks = Blocks()
        last = len(lines)
        for number, raw in enumerate(lines, 1):
            self.line = number
            cut = raw.find("\0")  # haproxy reads lines as C strings: a NUL ends the line, LF unseen
            if cut >= 0 or (number == last and self.from_file and not text.endswith("\n")):
                length = cut if cut >= 0 else len(raw)
                self.alert(f"parsing [{self.file}:{number}]: Missing LF on last line, file might have "
                           f"been truncated at position {length + 1}.",
                           "Add a newline at the end of the file." if cut < 0 else
                           "Remove the NUL byte from this line.")
                return True  # haproxy stops reading this file (the error is fatal)
            try:
                args = split_line(raw)
            except LineError as e:
                self.alert(f"parsing [{self.file}:{number}]: {e.text}",
                           "Close the quote, or write \\xHH with two hex digits.")
                continue
            if not args:
                continue
            if args[0][:1] == ".":  # haproxy reads every such word as a directive
                if blocks.handle(self, args, raw) == "abort":
                    return False
                continue
            if not blocks.active:
                continue
            kwm = ""
            if args[0] in ("no", "default") and len(args) > 1:
                kwm, args = args[0], args[1:]
                if args[0] not in ("option", "log"):
                    self.messages.append(Message(
                        "ALERT", f"parsing [{self.file}:{number}]: negation/default currently supported "
                        "only for options, log, busy-polling, set-dumpable, strict-limits, "
                        "insecure-fork-wanted and numa-cpu-mapping.", self.file, number))
                    self.fatal = True
            if self._section_start(args):
                if self.aborted:
                    return False
                continue
            if self.section is None:
                hint = self._out_of_section_hint(args[0])
                self.alert(f"parsing [{self.file}:{number}]: unknown keyword '{args[0]}' out of section.", hint)
            elif self.section == "skip":
                continue
            elif self.section == "resolvers":
                resolvers_line(self, args)
            elif self.section == "http-errors":
                self._http_errors_line(args)
            elif self.section == "peers":
                if self.peers_draft is not None:
                    _peers.parse_line(self, self.peers_draft, args, stick_tables(self), kw_stick_table)
            elif self.section == "global":
                self._global_line(args, kwm)
            else:
                assert self.draft is not None
                parse_proxy_line(self, self.draft, args, kwm)
                if self.aborted:  # haproxy stops reading at a refused http-request/-response rule
                    return False
        return blocks.finish(self)

    def _http_errors_line(self, args: list[str]) -> None:
        """An http-errors section: 'errorfile CODE PATH' lines, whose file must be readable."""
        if args[0] == "errorfile" and not self.errorfile_ok(args):
            return
        self.ignored(" ".join(args[:2]), "The course engine keeps its own error pages.")

    def _out_of_section_hint(self, word: str) -> str | None:
        """Name the missing header once: 'global' for process settings, 'defaults' for proxy ones."""
        proxy_kw = word in kw.PROXY_KNOWN and (word not in kw.GLOBAL_KNOWN or "global" in self._hints_given)
        which = "defaults" if proxy_kw else "global"
        if which in self._hints_given:
            return None
        self._hints_given.add(which)
        return OUT_OF_SECTION_HINTS[which]

    def _section_start(self, args: list[str]) -> bool:
        word = args[0]
        if word == "http-errors":
            self.section, self.draft = "http-errors", None
            return True
        if word == "peers":
            self.section, self.draft = "peers", None
            self.peers_draft = _peers.start_section(self, args)
            return True
        if word == "resolvers":
            start_section(self, args)
            return True
        if word in kw.OTHER_SECTIONS:
            self.section, self.draft = "skip", None
            if word == "mailers" and len(args) > 1:
                self.mailers.append(args[1])
            self.warn(f"{self.where}section '{word}' is accepted by HAProxy but ignored by the course "
                      "engine (with all its lines).", IGNORED_HINT)
            return True
        if word not in kw.SECTIONS:
            return False
        if word == "global":
            self.section, self.draft = "global", None
            if len(args) > 1:
                self.alert(f"{self.where}'global' cannot handle unexpected argument '{args[1]}'.")
            return True
        name = args[1] if len(args) > 1 else ""
        if word == "defaults":
            self.defaults = Draft.fresh("defaults", name, self.line)
            self.section, self.draft = "defaults", self.defaults
            if len(args) > 2:
                self.ignored(" ".join(args))
            return True
        if not name:
            self.alert(f"{self.where}'{word}' expects an <id> argument",
                       f"Give the {word} a name, e.g. '{word} my_{word}'.")
            self.aborted = True
            return True
        bad = next((c for c in name if c not in SECTION_NAME_CHARS), None)
        if bad:
            self.alert(f"{self.where}character '{bad}' is not permitted in '{word}' name '{name}'.")
        fe = word in ("frontend", "listen")
        for other in self.proxies:
            if other.name == name and (other.cap_fe if fe else other.cap_be):
                cap = "proxy" if word == "listen" else word
                self.alert(f"Parsing [{self.file}:{self.line}]: {cap} '{name}' has the same name as "
                           f"{other.type_name} '{name}' declared at {self.file}:{other.line}.",
                           "Every frontend and every backend needs its own name.")
                break
        if len(args) > 2 and not (len(args) == 4 and args[2] == "from"):
            # haproxy drops the section: its lines then get "'listen' or 'defaults' expected."
            if fe:
                self.alert(f"{self.where}please use the 'bind' keyword for listening addresses.",
                           f"Write the address on its own line: 'bind {args[2]}'.", fatal=False)
            else:
                self.warn(f"{self.where}'{' '.join(args)}' is not a section header the course engine "
                          f"understands: write '{word} {name}' alone on its line.")
            self.section, self.draft = word, Draft.fresh("orphan", name, self.line)
            return True
        self.draft = self.defaults.inherit(word, name, self.line)
        self.proxies.append(self.draft)
        self.section = word
        return True

    # ----------------------------------------------------------------- global section
    def _global_line(self, args: list[str], kwm: str) -> None:
        word = args[0]
        if word == "maxconn":
            if len(args) > 2:
                self.alert(f"{self.where}'maxconn' cannot handle unexpected argument '{args[2]}'.")
            elif self.global_maxconn:
                self.alert(f"{self.where}'maxconn' already specified. Continuing.", fatal=False)
            elif len(args) < 2:
                self.alert(f"{self.where}'maxconn' expects an integer argument.")
            else:
                self.global_maxconn = atol(args[1])
        elif word == "stats":
            self._global_stats(args)
        elif word == "localpeer" and len(args) == 2:
            if self.localpeer_cmdline:
                self.warn(f"{self.where}'localpeer' ignored since it is already set by using the '-L' command line "
                          "argument.")
            elif _peers.drafts(self):
                self.warn(f"{self.where}'localpeer' ignored since it is used after 'peers' section.")
            else:
                self.localpeer = args[1]
        elif word in ("crt-base", "ca-base") and len(args) == 2:
            if getattr(self, word.replace("-", "_")) is not None:
                self.alert(f"{self.where}'{word}' already specified.")
            else:
                setattr(self, word.replace("-", "_"), args[1])
        elif word == "ssl-default-bind-options":
            got = parse_default_bind_options(args)
            if isinstance(got, str):
                self.alert(f"{self.where}{got}")
            else:
                self.default_bind_tls = got
        elif word == "ssl-server-verify":
            if len(args) > 1 and args[1] in ("none", "required"):
                self.ssl_server_verify = args[1]
            else:
                self.alert(f"{self.where}'ssl-server-verify' expects 'none' or 'required' as argument.")
        elif word == "log" and len(args) > 2 and args[1] in ("stdout", "stderr") and not kwm:
            self.log_targets.append(args[1])
            rest = args[2:]
            if rest[:2] != ["format", "raw"]:
                self.ignored(" ".join(args), "The course engine writes raw lines ('log stdout format raw "
                             "local0'): no syslog header, whatever the format.")
        elif word == "master-worker" and len(args) <= 2:
            if len(args) == 2 and args[1] != "no-exit-on-failure":
                self.alert(f"{self.where}'master-worker' only supports 'no-exit-on-failure' option.")
            self.master_worker = True
        elif word == "noreuseport" and len(args) == 1:
            self.noreuseport = True
        elif word == "hard-stop-after" and len(args) == 2:
            try:
                self.hard_stop_after = parse_time(args[1])
            except ValueError:
                self.alert(f"{self.where}failed to parse hard-stop-after time '{args[1]}'")
        elif word in GLOBAL_FLAGS and len(args) > 1 or word in GLOBAL_ONE_ARG and len(args) > 2:
            n = 1 if word in GLOBAL_FLAGS else 2
            self.alert(f"{self.where}'{word}' cannot handle unexpected argument '{args[n]}'.")
        elif word in kw.GLOBAL_KNOWN:
            self.ignored(" ".join(args[:2]) if word in ("log", "user", "group") else word)
        else:
            best = kw.best_match(word, kw.GLOBAL_REGISTERED, kw.GLOBAL_COMMON)
            tail = f"; did you mean '{best}' maybe ?" if best else ""
            self.alert(f"{self.where}unknown keyword '{word}' in 'global' section{tail}",
                       "Check the spelling; a proxy keyword belongs under frontend/backend/defaults.")

    def _global_stats(self, args: list[str]) -> None:
        if len(args) > 1 and args[1] == "socket":
            if len(args) < 3:
                self.alert(f"{self.where}'stats socket' in global section expects an address or a "
                           "path to a UNIX socket")
                return
            level = "operator"
            rest = args[3:]
            for i, word in enumerate(rest):
                if word == "level" and i + 1 < len(rest):
                    level = rest[i + 1]
                    if level not in ("user", "operator", "admin"):
                        self.alert(f"{self.where}'stats socket' : ''level' only supports 'user', 'operator', "
                                   "and 'admin''")
            path = args[2].removeprefix("unix@")
            if "@" in path or ("/" not in path and ":" in path):
                self.ignored(f"stats socket {args[2]}", "The course engine opens runtime API sockets on "
                             "UNIX paths only (stats socket /tmp/lab.sock level admin).")
                return
            self.stats_socket, self.stats_socket_level = path, level
            self.stats_sockets.append((path, level))
            others = [w for i, w in enumerate(rest) if w != "level" and (i == 0 or rest[i - 1] != "level")]
            if others:
                self.ignored("stats socket ... " + " ".join(others),
                             "The course engine opens the socket with the given level; it ignores the "
                             "socket's other settings (mode, user, expose-fd...).")
        elif len(args) > 1 and args[1] in ("maxconn", "bind-process", "timeout"):
            self.ignored(" ".join(args[:2]))
        else:
            self.alert(f"{self.where}'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' "
                       f"(got '{args[1] if len(args) > 1 else ''}')", "Write 'stats socket PATH level admin'.")

    # ----------------------------------------------------------------- later stages
    def check_stage(self) -> None:
        """haproxy's check_config_validity: references, timeouts, duplicate server names."""
        for name in self.mailers:  # haproxy drops a mailers section no proxy's email-alert uses
            used = any(split_words(line)[:3] == ["email-alert", "mailers", name]
                       for _, text in self.sources for line in text.split("\n"))
            if not used:
                self.messages.append(Message("WARNING", f"Removing incomplete section 'mailers {name}'."))

        maps_of(self).reserve()  # haproxy's internal HTTP client makes two pattern references here
        maps_of(self).reserve()
        for d in self.proxies:
            check_proxy(self, d)
        _peers.check_peers(self)
        self.resolvers = finish_sections(self)
        check_servers(self, self.resolvers)

    def addr_stage(self) -> dict[int, str]:
        """Resolve every server address; returns id(server dict) -> IPv4 (alerts otherwise)."""
        resolved: dict[int, str] = {}
        for d in self.proxies:
            for s in d.servers:
                if s.get("resolvers") or "init_addr" in s:
                    ip = init_address(self, d.name, s)
                    if ip is not None:
                        resolved[id(s)] = ip
                        s["fqdn"] = s["host"] if resolve(s["host"]) != s["host"] else None
                    continue
                ip = resolve(s["host"])
                if ip is None:
                    self.alert(f"[{self.file}:{s['line']}] : 'server {d.name}/{s['name']}' : could not "
                               f"resolve address '{s['host']}'.",
                               "The course engine resolves IPv4 addresses, 'localhost' and names in "
                               "/etc/hosts (never DNS). Check the address: an IPv4 address has 4 numbers "
                               "0..255, e.g. 127.0.0.1:8080.", line=s["line"])
                else:
                    resolved[id(s)] = ip
        return resolved

    def build(self, resolved: dict[int, str]) -> Config:
        proxies = []
        for d in self.proxies:
            servers = []
            for s in d.servers:
                fields = {k: v for k, v in s.items() if k in ServerConfig.__dataclass_fields__}
                fields.update(host=resolved.get(id(s), s["host"]))
                servers.append(ServerConfig(**fields))
            servers = dynamic_cookies(self, d, servers)
            proxies.append(d.finish(tuple(servers)))  # Proxy numbers the servers without an id
        return Config(proxies=tuple(proxies), maxconn=self.global_maxconn, stats_socket=self.stats_socket,
                      warnings=tuple(m for m in self.messages if m.level != "ALERT" or not self.fatal),
                      path=self.path, text=self.text, stats_socket_level=self.stats_socket_level,
                      stats_sockets=tuple(self.stats_sockets), log_targets=tuple(self.log_targets),
                      master_worker=self.master_worker, hard_stop_after=self.hard_stop_after,
                      noreuseport=self.noreuseport,
                      maps=maps_of(self).finalize(), peers=_peers.finish(self),
                      resolvers=tuple(self.resolvers.values()))


def analyse(text: str, path: str | None = None, from_file: bool = False,
            sources: list[tuple[str, str]] | None = None, localpeer: str | None = None) -> Analysis:
    """Run all of haproxy's stages on ``text`` (or on each of ``sources``, files read in order);
    never raises for a bad configuration. ``localpeer``: HAProxy's '-L NAME' (config/peers.py)."""
    p = Parser(text, path, from_file, sources, localpeer)
    p.run()
    if p.aborted:
        return Analysis(None, tuple(p.messages), "abort")
    if p.fatal:
        return Analysis(None, tuple(p.messages), "parse")
    p.check_stage()
    if p.fatal:
        return Analysis(None, tuple(p.messages), "check")
    resolved = p.addr_stage()
    if p.fatal:
        return Analysis(None, tuple(p.messages), "addr")
    return Analysis(p.build(resolved), tuple(p.messages), None)
