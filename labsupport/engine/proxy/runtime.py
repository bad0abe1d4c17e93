"""The runtime API: ``stats socket PATH level admin|operator|user``, answered as HAProxy 2.6's CLI does.

Follows HAProxy 2.6's src/cli.c (splitting a line into commands and words, finding the keyword,
levels, the "Unknown command" usage message with its fuzzy matches), src/server.c (``set server``,
``enable``/``disable server|health``, ``get weight``, ``set maxconn server``, ``show servers
state``) and src/stats.c (``show stat``, ``show info``, ``clear counters``); copyright Willy Tarreau.
``add server``, ``del server``, ``set server ... addr|fqdn`` and the agent commands: dynservers.py.

How it works: ``Runtime.execute(line, level)`` is pure command handling on the engine's loop and
returns the exact text HAProxy sends back: each command's message followed by an empty line
(``set`` commands that work answer only that empty line). ``serve(path, level)`` opens the UNIX
socket: like HAProxy without ``prompt``, it reads one line, answers, and closes, so
``echo "show stat" | socat stdio unix-connect:PATH`` works as on a real server. Commands HAProxy
has but the engine does not are answered with a sentence saying so, never silently.
"""
from __future__ import annotations

import asyncio
import os
import socket
import stat
import time
from collections import Counter

from ...errors import CommandError
from ..config.keywords import fingerprint_distance, word_fingerprint
from ..stats import collect, to_csv
from ..statsfields import as_json, typed
from . import dynservers
from .cli_words import ALWAYS, KEYWORDS
from .state import Counters
from .tablecmds import table_command

LEVELS = {"user": 1, "operator": 2, "admin": 3}
DENIED = "Permission denied\n"
MAX_LINE = 65536  # a longer command line is cut, as HAProxy's buffer would
CLI_MAX_MATCHES = 5
PREFIX_WORDS = 5  # CLI_PREFIX_KW_NB
SET_SERVER_USAGE = ("usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | "
                    "check-addr | check-port | fqdn | health | ssl | state | weight\n")
SERVERS_STATE_HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
                        "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
                        "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
                        "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr "
                        "srv_agent_addr srv_agent_port\n")
# HAProxy's enum healthcheck_status (include/haproxy/check-t.h): the number 'show servers state' prints
CHECK_STATUS_CODES = {"": 1, "INI": 1, "SOCKERR": 5, "L4OK": 6, "L4TOUT": 7, "L4CON": 8, "L6OK": 9,
                      "L6TOUT": 10, "L6RSP": 11, "L7TOUT": 12, "L7RSP": 13, "L7OK": 15, "L7OKC": 16,
                      "L7STS": 17}
OP_STATES = {"stopped": 0, "running": 2, "stopping": 3}
ADMIN_STATES = {"ready": 0, "maint": 1, "drain": 8}
INFO_ZERO = ("Memmax_MB PoolAlloc_MB PoolUsed_MB PoolFailed MaxSslConns CurrSslConns CumSslConns Maxpipes "
             "PipesUsed PipesFree ConnRateLimit SessRateLimit SslRate SslRateLimit MaxSslRate SslFrontendKeyRate "
             "SslFrontendMaxKeyRate SslFrontendSessionReuse_pct SslBackendKeyRate SslBackendMaxKeyRate "
             "SslCacheLookups SslCacheMisses CompressBpsIn CompressBpsOut CompressBpsRateLim").split()


def split_commands(line: str) -> list[list[str]]:
    """A line -> its commands (``;``-separated) -> their words (spaces/tabs; ``\\`` escapes one char)."""
    commands, words, word, esc, started = [], [], "", False, False
    for ch in line:
        if esc:
            word, esc, started = word + ch, False, True
        elif ch == "\\":
            esc = True
        elif ch in " \t":
            if started:
                words.append(word)
            word, started = "", False
        elif ch == ";":
            if started:
                words.append(word)
            commands.append(words)
            words, word, started = [], "", False
        else:
            word, started = word + ch, True
    if started:
        words.append(word)
    commands.append(words)
    return [c for c in commands if c]


# HAProxy registers CLI keywords file by file in link order (stream.c, stats.c, server.c, ... cli.c,
# ... map.c); fuzzy matches at equal distance keep that order. The files of the keywords that tie
# most often, approximately: the rest keep the help list's order between cli.c's and map.c's.
_FILE_RANK = {("show", "sess"): 0, ("shutdown", "session"): 0, ("shutdown", "sessions", "server"): 0,
              ("clear", "counters"): 1, ("show", "info"): 1, ("show", "stat"): 1, ("show", "schema", "json"): 1,
              ("show", "env"): 3, ("show", "fd"): 3, ("show", "cli", "level"): 3, ("show", "cli", "sockets"): 3,
              ("show", "activity"): 3, ("operator",): 3, ("user",): 3, ("set", "timeout"): 3,
              ("set", "severity-output"): 3, ("set", "maxconn", "global"): 3, ("set", "rate-limit"): 3}
for _kw, _ in KEYWORDS:
    if _kw[0] in ("set", "get", "enable", "disable") and _kw[1] in ("server", "weight", "health", "agent"):
        _FILE_RANK.setdefault(_kw, 2)
    elif len(_kw) > 1 and _kw[1] in ("acl", "map"):
        _FILE_RANK.setdefault(_kw, 5)
_REGISTERED = sorted(KEYWORDS, key=lambda k: _FILE_RANK.get(k[0], 4))


def _matching(args: list[str], n: int, keywords=KEYWORDS):
    """The keywords whose first ``n`` words are args[:n]."""
    return [(kw, usage) for kw, usage in keywords if len(kw) >= n and list(kw[:n]) == args[:n]]


def _signature(words) -> Counter:
    """update_word_fingerprint() over several words: transitions add up, letter presence stays 1."""
    sig: Counter = Counter()
    for w in words:
        for k, v in word_fingerprint(w).items():
            sig[k] = 1 if k < 32 else sig[k] + v
    return sig


def usage_message(args: list[str], is_help: bool = False, keywords=KEYWORDS) -> str:
    """cli_gen_usage_msg(): the help text, or "Unknown command" with the closest keywords (``keywords``:
    (words, usage) pairs in registration order; the master CLI passes its own)."""
    registered = _REGISTERED if keywords is KEYWORDS else keywords
    if is_help:
        args = args[1:]
    length = 0
    for kw, _ in keywords:
        n = 0
        while n < min(len(kw), PREFIX_WORDS) and n < len(args) and kw[n] == args[n]:
            n += 1
        length = max(length, n)
    if is_help:
        head = "The following commands are valid at this level:\n"
    elif not length and not args:
        head = "Unknown command. Please enter one of the following commands only:\n"
    else:
        head = "Unknown command, but maybe one of the following ones is a better match:\n"
    matches: list[tuple[int, str]] = []  # (distance, usage), best first, equal distances by registration
    if length < len(args):
        rest = args[length:PREFIX_WORDS]
        word_sig = _signature(rest)
        for kw, usage in _matching(args, length, registered):
            totlen = sum(map(len, rest)) + sum(map(len, kw[length:PREFIX_WORDS]))
            dist = fingerprint_distance(word_sig, _signature(kw[length:PREFIX_WORDS]))
            if dist < 5 * totlen // 2 and (len(matches) < CLI_MAX_MATCHES or dist < matches[-1][0]):
                matches.append((dist, usage))
                matches.sort(key=lambda m: m[0])  # stable: an earlier keyword stays ahead on a tie
                del matches[CLI_MAX_MATCHES:]
    if matches:
        entries = [u for d, u in matches if d <= 5 * matches[0][0] // 2]
    else:
        entries = [u for _, u in _matching(args, length, keywords)]
    return head + "".join(f"  {u}\n" for u in sorted(entries)) + ALWAYS


class Runtime:
    """The CLI of one engine: ``execute`` answers a line, ``serve`` opens a socket."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.started = time.time()
        self.servers: list[asyncio.AbstractServer] = []
        self.paths: list[tuple[str, int]] = []  # (path, inode) of each socket we opened
        self.handlers = {
            ("help",): self._help, ("show", "info"): self._show_info, ("show", "stat"): self._show_stat,
            ("show", "servers", "state"): self._show_servers_state, ("show", "cli", "level"): self._show_level,
            ("get", "weight"): self._get_weight, ("set", "weight"): self._set_weight_alias,
            ("set", "server"): self._set_server, ("enable", "server"): self._enable_server,
            ("disable", "server"): self._disable_server, ("enable", "health"): self._enable_health,
            ("disable", "health"): self._disable_health, ("set", "maxconn", "server"): self._set_maxconn,
            ("clear", "counters"): self._clear_counters, ("add", "server"): self._add_server,
            ("del", "server"): self._del_server, ("enable", "agent"): self._enable_agent,
            ("disable", "agent"): self._disable_agent,
            ("show", "map"): self._map, ("get", "map"): self._map, ("set", "map"): self._map,
            ("add", "map"): self._map, ("del", "map"): self._map, ("clear", "map"): self._map,
        }
        for verb in ("show", "clear", "set"):  # stick tables (tablecmds.py)
            self.handlers[(verb, "table")] = self._table

    # ----- the command loop
    def execute(self, line: str, level: str = "admin") -> str:
        """Every command of ``line`` answered in turn, exactly as HAProxy's socket answers them."""
        lvl = LEVELS.get(level, 2)
        out = []
        for args in split_commands(line[:MAX_LINE]):
            if args[0] in ("operator", "user") and len(args) == 1:  # lower this session's level
                lvl = min(lvl, LEVELS[args[0]])
                out.append("\n")
                continue
            if args[0] == "quit":
                break
            out.append(self._one(args, lvl) + "\n")
        return "".join(out)

    def _one(self, args: list[str], lvl: int) -> str:
        for words, handler in self.handlers.items():
            if tuple(args[:len(words)]) == words:
                try:
                    return handler(args, lvl)
                except CommandError as e:
                    return f"{e}\n"
        for kw, usage in KEYWORDS:
            if tuple(args[:len(kw)]) == kw:
                return (f"The course engine does not implement '{' '.join(kw)}' (real HAProxy 2.6 does). It "
                        "answers: help, show info, show stat, show servers state, show cli level, get weight, "
                        "set server, set weight, enable/disable server, enable/disable health, enable/disable agent, "
                        "add server, del server, "
                        "set maxconn server, clear counters, show/get/set/add/del/clear map, "
                        "show/clear/set table.\n")
        return usage_message(args)

    # ----- the socket
    async def serve(self, path: str, level: str) -> None:
        """Listen on the UNIX socket ``path`` (a stale socket file there is replaced, as HAProxy does)."""
        if os.path.exists(path):
            if not stat.S_ISSOCK(os.stat(path).st_mode):
                raise CommandError(f"stats socket {path}: a file that is not a socket is in the way; "
                                   "remove it or choose another path")
            os.unlink(path)

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                line = await asyncio.wait_for(reader.readline(), 10)  # HAProxy's CLI timeout is 10 s
                writer.write(self.execute(line.decode("utf-8", "replace").rstrip("\r\n"), level).encode())
                await writer.drain()
            except (asyncio.TimeoutError, ConnectionError, ValueError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_unix_server(client, path, limit=MAX_LINE)
        self.servers.append(server)
        self.paths.append((path, os.stat(path).st_ino))

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for path, inode in self.paths:
            try:
                if os.stat(path).st_ino == inode:  # still ours: another process may have replaced it
                    os.unlink(path)
            except OSError:
                pass
        self.servers, self.paths = [], []

    # ----- helpers
    @staticmethod
    def _need(lvl: int, needed: str) -> None:
        if lvl < LEVELS[needed]:
            raise CommandError(DENIED.rstrip("\n"))

    @staticmethod
    def _spec(srv) -> str:
        return f"{srv.backend.name}/{srv.name}"

    def _server(self, spec: str | None):
        if not spec:
            raise CommandError("Require 'backend/server'.")
        if "/" not in spec:
            raise CommandError("Require 'backend/server'.")
        return self.engine.find(spec)

    # ----- show
    def _help(self, args: list[str], lvl: int) -> str:
        return usage_message(args, is_help=True)

    def _show_level(self, args: list[str], lvl: int) -> str:
        return {v: k for k, v in LEVELS.items()}[lvl] + "\n"

    def _show_stat(self, args: list[str], lvl: int) -> str:
        opts = args[2:]
        rows = collect(self.engine).rows
        nums = [o for o in opts if _is_int(o)]
        if len(nums) >= 3:  # show stat <iid> <type mask> <sid>: -1 means any
            iid, mask, sid = (int(n) for n in nums[:3])
            rows = [r for r in rows if (iid == -1 or r["iid"] == iid) and mask & (1 << r["type"])
                    and (sid == -1 or r["type"] != 2 or r["sid"] == sid)]
        if "up" in opts:
            rows = [r for r in rows if r["type"] != 2 or not str(r["status"]).startswith(("DOWN", "MAINT"))]
        if "no-maint" in opts:
            rows = [r for r in rows if r["type"] != 2 or not str(r["status"]).startswith("MAINT")]
        if lvl < LEVELS["operator"]:  # HAProxy hides server addresses and cookies below operator
            rows = [dict(r, addr=None, cookie=None) if r["type"] == 2 else dict(r, cookie=None) if r["type"] == 1
                    else r for r in rows]
        if "typed" in opts:
            return typed(rows)
        if "json" in opts:
            return as_json(rows)
        return to_csv(rows)

    def _show_info(self, args: list[str], lvl: int) -> str:
        eng = self.engine
        fes = list(eng.frontends.values())
        now = time.time()
        up = int(now - self.started)
        d, rest = divmod(up, 86400)
        h, rest = divmod(rest, 3600)
        m, s = divmod(rest, 60)
        rate = sum(fe.rate.value() for fe in fes)
        rate_max = max((fe.rate.max for fe in fes), default=0)
        info = {
            "Name": "HAProxy", "Version": "2.6.12-labsupport", "Release_date": "2026/10/17", "Nbthread": 1,
            "Nbproc": 1, "Process_num": 1, "Pid": eng.pid, "Uptime": f"{d}d {h}h{m:02d}m{s:02d}s",
            "Uptime_sec": up, **{k: 0 for k in INFO_ZERO[:4]}, "Ulimit-n": 1024, "Maxsock": 1024,
            "Maxconn": eng.maxconn, "Hard_maxconn": eng.maxconn, "CurrConns": eng.cur_conns,
            "CumConns": sum(fe.stot for fe in fes), "CumReq": sum(fe.req_tot for fe in fes),
            **{k: 0 for k in INFO_ZERO[4:10]}, "ConnRate": rate, "ConnRateLimit": 0, "MaxConnRate": rate_max,
            "SessRate": rate, "SessRateLimit": 0, "MaxSessRate": rate_max,
            **{k: 0 for k in INFO_ZERO[12:]}, "Tasks": len(eng.conns) + len(eng.checkers), "Run_queue": 0,
            "Idle_pct": 100, "node": socket.gethostname(), "Stopping": 0, "Jobs": len(eng.conns),
            "Unstoppable Jobs": 0, "Listeners": len(eng.listeners) + len(self.servers), "ActivePeers": 0,
            "ConnectedPeers": 0, "DroppedLogs": 0, "BusyPolling": 0, "FailedResolutions": 0,
            "TotalBytesOut": sum(fe.bout for fe in fes), "TotalSplicdedBytesOut": 0, "BytesOutRate": 0,
            "DebugCommandsIssued": 0, "CumRecvLogs": 0, "Build info": "2.6.12-labsupport (the course engine)",
            "Memmax_bytes": 0, "PoolAlloc_bytes": 0, "PoolUsed_bytes": 0, "Start_time_sec": int(self.started),
            "Tainted": 0,
        }
        return "".join(f"{k}: {v}\n" for k, v in info.items())

    def _show_servers_state(self, args: list[str], lvl: int) -> str:
        backends = list(self.engine.backends.values())
        if len(args) > 3:
            backends = [be for be in backends if be.name == args[3]]
            if not backends:
                return "Can't find backend.\n"
        now = time.monotonic()
        out = [SERVERS_STATE_HEADER]
        for be in backends:
            for srv in be.servers.values():
                h = srv.health
                admin = ADMIN_STATES[h.admin] | (4 if h.admin == "maint" and srv.cfg.disabled else 0)
                if srv.cfg.disabled and h.admin == "maint":
                    admin = (0, 1, 1, 0, 0, 5)[srv.dynamic] or 4  # CMAINT from the config, or 'add server's
                admin |= 0x20 if h.rmaint else 0  # no address from DNS (RMAINT)
                result = {"": 0, "INI": 0}.get(srv.check_status, None)
                if result is None:
                    result = 3 if srv.check_status.endswith("OK") else 2
                # checks paused by maintenance; an added server's from birth only with 'disabled'
                paused = h.admin == "maint" and (srv.cfg.check and srv.dynamic != 1 or srv.dynamic == 5) or (
                    h.rmaint and srv.cfg.check)  # or no address from DNS (RMAINT)
                chk_state = (2 if srv.cfg.check else 0) | (4 if h.check else 0) | (8 if paused else 0)
                out.append(f"{be.iid} {be.name} {srv.sid} {srv.name} {srv.addr[0] or '-'} {OP_STATES[h.op]} {admin} "
                           f"{be.algo.weight(srv.name)} {be.algo.initial_weight(srv.name)} "
                           f"{int(now - srv.lastchg)} {CHECK_STATUS_CODES.get(srv.check_status, 0)} {result} "
                           f"{h.health} {chk_state} 0 0 {srv.forced_id:d} {srv.cfg.fqdn or '-'} {srv.addr[1]} - {srv.cfg.ssl:d} 0 - - 0\n")
        return "".join(out)

    # ----- weights and states
    def _get_weight(self, args: list[str], lvl: int) -> str:
        return self.engine.get_weight(self._spec(self._server(args[2] if len(args) > 2 else None))) + "\n"

    def _set_weight_alias(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        srv = self._server(args[2] if len(args) > 2 else None)
        return self._weight(srv, args[3] if len(args) > 3 else "")

    def _weight(self, srv, value: str) -> str:
        if not value:
            raise CommandError("Require <weight> or <weight%>.")
        digits = value[:-1] if value.endswith("%") else value
        if not _is_int(digits, signed=False):
            return "Empty weight string empty or preceded by garbage"  # HAProxy gives no newline here
        self.engine.set_weight(self._spec(srv), value)
        if srv.dynamic:  # an added server's first weight change brings it into its algorithm (2.6)
            srv.dynamic = 2
            srv.sync_lb()
        return ""

    def _set_server(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        srv = self._server(args[2] if len(args) > 2 else None)
        what = args[3] if len(args) > 3 else ""
        value = args[4] if len(args) > 4 else ""
        if what == "weight":
            return self._weight(srv, value)
        if what == "state":
            self.engine.set_state(self._spec(srv), value)
            return ""
        if what == "health":
            self.engine.set_health(self._spec(srv), value)
            return ""
        if what == "addr":
            return dynservers.set_addr(srv, args)
        if what == "fqdn":
            return dynservers.set_fqdn(srv, args)
        if what in ("agent", "agent-addr", "agent-port", "agent-send", "check-addr", "check-port",
                    "ssl"):
            return (f"The course engine does not implement 'set server ... {what}' (real HAProxy 2.6 does); "
                    "it implements state, weight, health, addr and fqdn.\n")
        return SET_SERVER_USAGE

    def _enable_server(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        self.engine.enable(self._spec(self._server(args[2] if len(args) > 2 else None)))
        return ""

    def _disable_server(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        self.engine.disable(self._spec(self._server(args[2] if len(args) > 2 else None)))
        return ""

    def _enable_health(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        srv = self._server(args[2] if len(args) > 2 else None)
        if not set_checks(srv, True):
            return "Health check was not configured on this server, cannot enable.\n"
        return ""

    def _disable_health(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        set_checks(self._server(args[2] if len(args) > 2 else None), False)
        return ""

    def _enable_agent(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        return dynservers.agent(self._server(args[2] if len(args) > 2 else None), True)

    def _disable_agent(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        return dynservers.agent(self._server(args[2] if len(args) > 2 else None), False)

    def _add_server(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        return dynservers.add_server(self.engine, args)

    def _del_server(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        return dynservers.del_server(self.engine, args)

    def _set_maxconn(self, args: list[str], lvl: int) -> str:
        self._need(lvl, "admin")
        srv = self._server(args[3] if len(args) > 3 else None)
        value = args[4] if len(args) > 4 else ""
        if not value:
            raise CommandError("Require <maxconn>.")
        if not _is_int(value):
            return "maxconn string empty or preceded by garbage"  # no newline, as HAProxy
        srv.backend.algo.set_maxconn(srv.name, int(value) % (1 << 32))  # a negative value wraps (u32)
        srv.backend.process_srv_queue(srv)
        return ""

    def _map(self, args: list[str], lvl: int) -> str:
        """The map commands (engine/sample/maps.py). HAProxy 2.6's map.c checks no level for them: a
        'level user' socket may read and change a map (measured on 2.6.12)."""
        maps = self.engine.config.maps
        if maps is None:
            return "Unknown map identifier. Please use #<id> or <file>.\n" if len(args) > 2 else "# id (file) description\n"
        return maps.command(args)

    def _table(self, args: list[str], lvl: int) -> str:
        """The stick-table commands (tablecmds.py): below level operator, heads only and no change."""
        return table_command(self.engine, args, lvl >= LEVELS["operator"])

    def _clear_counters(self, args: list[str], lvl: int) -> str:
        every = len(args) > 2 and args[2] == "all"
        self._need(lvl, "admin" if every else "operator")
        for obj in self._counted():
            clear(obj, every)
        return ""

    def _counted(self):
        eng = self.engine
        yield from eng.frontends.values()
        for be in eng.backends.values():
            yield be
            yield from be.servers.values()


def set_checks(srv, on: bool) -> bool:
    """``enable|disable health``: turn a configured check on or off (False: no check configured).
    Off, the server reads as without 'check' and the checker pauses; on, it resumes on its schedule."""
    if on and not srv.cfg.check:
        return False
    srv.health.check = on
    return bool(srv.cfg.check)


def clear(c: Counters, every: bool) -> None:
    """``clear counters``: the maxima; ``clear counters all``: every counter but the current gauges."""
    if every:
        scur, qcur = c.scur, c.qcur
        Counters.__init__(c)
        c.scur, c.qcur = scur, qcur
        if hasattr(c, "health"):  # a server: its check counters go too
            c.health.chkfail = c.health.chkdown = 0
        if hasattr(c, "chkdown"):
            c.chkdown = 0
    c.smax, c.qmax, c.ttime_max = c.scur, c.qcur, 0
    c.rate.max = 0


def _is_int(text: str, signed: bool = True) -> bool:
    """A whole number as HAProxy's strtol reads it: ASCII digits only ('²' passes str.isdigit)."""
    digits = text[1:] if signed and text.startswith("-") else text
    return digits.isascii() and digits.isdigit()
