"""HAProxy 2.6 keyword lists and its "did you mean ... maybe ?" matcher.

The lists are copied from the HAProxy 2.6 sources (cfgparse-listen.c, cfgparse-global.c,
server.c, check.c, proxy.c and the files that register keywords) so that a typo gets the
same suggestion real HAProxy prints. ``best_match`` is a port of ``cfg_find_best_match``:
each word is reduced to counts of letter-class transitions and the closest word wins
(first one on a tie); a match farther than twice either word's length is no match.

Follows HAProxy 2.6's sources, Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence): the
fingerprints of src/tools.c (make_word_fingerprint, word_fingerprint_distance) as
cfg_find_best_match in src/cfgparse.c uses them.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

# --- proxy sections (frontend, backend, listen, defaults) ---------------------------------
# Keywords registered through cfg_register_keywords(CFG_LISTEN) (searched first) ...
PROXY_REGISTERED = (
    "external-check use-fcgi-app filter compression errorloc errorloc302 errorloc303 errorfile "
    "errorfiles http-error timeout clitimeout contimeout srvtimeout rate-limit max-keep-alive-queue "
    "declare retry-on clitcpka-cnt srvtcpka-cnt clitcpka-idle srvtcpka-idle clitcpka-intvl "
    "srvtcpka-intvl tcp-request tcp-response http-check tcp-check"
).split()
# ... then cfgparse-listen.c's common_kw_list.
PROXY_COMMON = (
    "listen frontend backend defaults server default-server server-template bind monitor-net "
    "monitor-uri mode id description disabled enabled bind-process acl dynamic-cookie-key cookie "
    "email-alert persist appsession load-server-state-from-file server-state-file-name "
    "max-session-srv-conns capture retries http-request http-response http-after-response "
    "http-send-name-header block redirect use_backend use-server force-persist ignore-persist "
    "force-persist stick-table stick stats option default_backend http-reuse monitor transparent "
    "maxconn backlog fullconn dispatch balance hash-type hash-balance-factor unique-id-format "
    "unique-id-header log-format log-format-sd log-tag log source usesrc error-log-format"
).split()
PROXY_KNOWN = frozenset(PROXY_REGISTERED + PROXY_COMMON)

# --- global section --------------------------------------------------------------------------
GLOBAL_REGISTERED = (
    "profiling.memory profiling.tasks tune.quic.backend.max-idle-timeou "
    "tune.quic.frontend.conn-tx-buffers.limit tune.quic.frontend.max-streams-bidi "
    "tune.quic.frontend.max-idle-timeout tune.quic.retry-threshold ca-base crt-base "
    "issuers-chain-path maxsslconn ssl-default-bind-options ssl-default-server-options "
    "ssl-dh-param-file ssl-mode-async ssl-engine ssl-propquery ssl-provider ssl-provider-path "
    "ssl-skip-self-issued-ca tune.ssl.cachesize tune.ssl.default-dh-param "
    "tune.ssl.force-private-cache tune.ssl.lifetime tune.ssl.maxrecord tune.ssl.hard-maxrecord "
    "tune.ssl.ssl-ctx-cache-size tune.ssl.capture-cipherlist-size tune.ssl.capture-buffer-size "
    "tune.ssl.keylog ssl-default-bind-ciphers ssl-default-server-ciphers ssl-default-bind-curves "
    "ssl-default-bind-ciphersuites ssl-default-server-ciphersuites ssl-load-extra-files "
    "ssl-load-extra-del-ext default-path stats tune.zlib.memlevel tune.zlib.windowsize "
    "pp2-never-send-local tune.fd.edge-triggered lua-prepend-path lua-load lua-load-per-thread "
    "tune.lua.session-timeout tune.lua.task-timeout tune.lua.service-timeout tune.lua.forced-yield "
    "tune.lua.maxmem httpclient.resolvers.id httpclient.resolvers.prefer httpclient.ssl.verify "
    "httpclient.ssl.ca-file tune.listener.multi-queue h1-accept-payload-with-any-method "
    "h1-case-adjust h1-case-adjust-file tune.h2.header-table-size tune.h2.initial-window-size "
    "tune.h2.max-concurrent-streams tune.h2.max-frame-size mworker-max-reloads tune.fail-alloc "
    "no-memory-trimming grace hard-stop-after close-spread-time tune.idle-pool.shared "
    "tune.pool-high-fd-ratio tune.pool-low-fd-ratio tune.sched.low-latency nbthread thread-group "
    "thread-groups set-var set-var-fmt tune.vars.global-max-size tune.vars.proc-max-size "
    "tune.vars.sess-max-size tune.vars.txn-max-size tune.vars.reqres-max-size "
    "tune.vars.check-max-size"
).split()
GLOBAL_COMMON = (
    "global daemon master-worker noepoll nokqueue noevports nopoll busy-polling set-dumpable "
    "insecure-fork-wanted insecure-setuid-wanted nosplice nogetaddrinfo noreuseport quiet "
    "zero-warning tune.runqueue-depth tune.maxpollevents tune.maxaccept tune.recv_enough "
    "tune.buffers.limit tune.buffers.reserve tune.bufsize tune.maxrewrite tune.idletimer "
    "tune.rcvbuf.client tune.rcvbuf.server tune.sndbuf.client tune.sndbuf.server tune.pipesize "
    "tune.http.cookielen tune.http.logurilen tune.http.maxhdr tune.comp.maxlevel "
    "tune.pattern.cache-size uid gid external-check user group nbproc maxconn ssl-server-verify "
    "maxconnrate maxsessrate maxsslrate maxcomprate maxpipes maxzlibmem maxcompcpuusage ulimit-n "
    "chroot description node pidfile unix-bind log log-send-hostname server-state-base "
    "server-state-file log-tag spread-checks max-spread-checks cpu-map setenv presetenv unsetenv "
    "resetenv strict-limits localpeer numa-cpu-mapping defaults listen frontend backend peers "
    "resolvers cluster-secret"
).split()
# Parsed by cfgparse-global.c without being in its suggestion list.
GLOBAL_OTHER = (
    "expose-experimental-directives fd-hard-limit h2-workaround-bogus-websocket-clients tune.chksize"
).split()
GLOBAL_KNOWN = frozenset(GLOBAL_REGISTERED + GLOBAL_COMMON + GLOBAL_OTHER) - {
    "defaults", "listen", "frontend", "backend", "peers", "resolvers", "global"}

# --- sections --------------------------------------------------------------------------------
PROXY_SECTIONS = ("frontend", "backend", "listen")
SECTIONS = ("global", "defaults") + PROXY_SECTIONS
# Real sections the course engine skips entirely (with a warning).
OTHER_SECTIONS = ("cache", "userlist", "peers", "mailers", "fcgi-app", "http-errors", "log-forward",
                  "program", "resolvers", "ring")

# --- server keywords (srv_keywords list, then server.c's extra_kw_list) ----------------------
SERVER_KEYWORDS = (
    "backup cookie disabled enabled error-limit ws id init-addr log-proto maxconn maxqueue "
    "max-reuse minconn namespace no-backup no-send-proxy no-send-proxy-v2 no-tfo non-stick observe "
    "on-error on-marked-down on-marked-up pool-low-conn pool-max-conn pool-purge-delay proto "
    "proxy-v2-options redir resolve-net resolve-opts resolve-prefer resolvers send-proxy "
    "send-proxy-v2 slowstart source stick tfo track socks4 usesrc weight "
    "addr agent-addr agent-check agent-inter agent-port agent-send check check-proto "
    "check-send-proxy check-via-socks4 no-agent-check no-check no-check-send-proxy rise fall inter "
    "fastinter downinter port "
    "allow-0rtt alpn ca-file check-alpn check-sni check-ssl ciphers ciphersuites crl-file crt "
    "force-sslv3 force-tlsv10 force-tlsv11 force-tlsv12 force-tlsv13 no-check-ssl "
    "no-send-proxy-v2-ssl no-send-proxy-v2-ssl-cn no-ssl no-ssl-reuse no-sslv3 no-tlsv10 "
    "no-tlsv11 no-tlsv12 no-tlsv13 no-tls-tickets npn send-proxy-v2-ssl send-proxy-v2-ssl-cn sni "
    "ssl ssl-min-ver ssl-max-ver ssl-reuse tls-tickets verify verifyhost tcp-ut"
).split()
SERVER_EXTRA = "ipv4 ipv6 legacy octet-count fail-check sudden-death mark-down".split()
# Server keywords that take no value (every other one consumes the next word).
SERVER_FLAGS = frozenset((
    "backup disabled enabled no-backup no-send-proxy no-send-proxy-v2 no-tfo non-stick "
    "send-proxy send-proxy-v2 tfo agent-check check check-send-proxy check-via-socks4 "
    "no-agent-check no-check no-check-send-proxy allow-0rtt check-ssl force-sslv3 force-tlsv10 "
    "force-tlsv11 force-tlsv12 force-tlsv13 no-check-ssl no-send-proxy-v2-ssl "
    "no-send-proxy-v2-ssl-cn no-ssl no-ssl-reuse no-sslv3 no-tlsv10 no-tlsv11 no-tlsv12 no-tlsv13 "
    "no-tls-tickets send-proxy-v2-ssl send-proxy-v2-ssl-cn ssl ssl-reuse tls-tickets"
).split())

# --- bind keywords ---------------------------------------------------------------------------
BIND_KEYWORDS = (
    "quic-force-retry allow-0rtt alpn ca-file ca-verify-file ca-ignore-err ca-sign-file "
    "ca-sign-pass ciphers ciphersuites crl-file crt crt-ignore-err crt-list curves ecdhe force-sslv3 "
    "force-tlsv10 force-tlsv11 force-tlsv12 force-tlsv13 generate-certificates no-ca-names no-sslv3 "
    "no-tlsv10 no-tlsv11 no-tlsv12 no-tlsv13 no-tls-tickets ssl ssl-min-ver ssl-max-ver strict-sni "
    "tls-ticket-keys verify npn prefer-client-ciphers defer-accept interface mss tcp-ut tfo "
    "transparent v4v6 v6only namespace gid group mode uid user level expose-fd severity-output "
    "accept-netscaler-cip accept-proxy backlog id maxconn name nice process proto shards thread"
).split()
BIND_FLAGS = frozenset((
    "quic-force-retry allow-0rtt force-sslv3 force-tlsv10 force-tlsv11 force-tlsv12 force-tlsv13 "
    "generate-certificates no-ca-names no-sslv3 no-tlsv10 no-tlsv11 no-tlsv12 no-tlsv13 "
    "no-tls-tickets ssl strict-sni prefer-client-ciphers defer-accept tfo transparent v4v6 v6only "
    "accept-proxy"
).split())

# --- options ---------------------------------------------------------------------------------
# proxy.c's cfg_opts and cfg_opts2, then cfgparse-listen.c's common_options.
OPTIONS_TABLE = (
    "abortonclose allbackups checkcache clitcpka contstats dontlognull http-buffer-request "
    "http-ignore-probes idle-close-on-response prefer-last-server logasap nolinger persist srvtcpka "
    "transparent splice-request splice-response splice-auto accept-invalid-http-request "
    "accept-invalid-http-response dontlog-normal log-separate-errors log-health-checks "
    "socket-stats tcp-smart-accept tcp-smart-connect independent-streams http-use-proxy-header "
    "http-pretend-keepalive http-no-delay h1-case-adjust-bogus-client h1-case-adjust-bogus-server "
    "disable-h2-upgrade"
).split()
OPTIONS_COMMON = (
    "httpclose http-server-close http-keep-alive redispatch httplog tcplog tcpka httpchk "
    "ssl-hello-chk smtpchk pgsql-check redis-check mysql-check ldap-check spop-check tcp-check "
    "external-check forwardfor original-to"
).split()
OPTIONS_KNOWN = frozenset(OPTIONS_TABLE + OPTIONS_COMMON + [
    "httpslog", "originalto", "http-restrict-req-hdr-names", "http_proxy"])
# Options only a backend can use (haproxy warns "'X' ignored because frontend ... no backend").
OPTIONS_BACKEND_ONLY = frozenset(
    "allbackups checkcache persist srvtcpka redispatch httpchk prefer-last-server".split())

# ACLs every HAProxy proxy knows without declaring them.
PREDEFINED_ACLS = frozenset((
    "TRUE FALSE HTTP HTTP_1.0 HTTP_1.1 HTTP_2.0 HTTP_CONTENT HTTP_URL_ABS HTTP_URL_SLASH "
    "HTTP_URL_STAR LOCALHOST METH_CONNECT METH_DELETE METH_GET METH_HEAD METH_OPTIONS METH_POST "
    "METH_PUT METH_TRACE RDP_COOKIE REQ_CONTENT WAIT_END"
).split())


def word_fingerprint(word: str) -> Counter:
    """make_word_fingerprint: counts of transitions between character classes (letters a..z, digit, other)."""
    fp: Counter = Counter()
    prev = 28  # begin
    for ch in word.lower():
        if "a" <= ch <= "z":
            cur = ord(ch) - ord("a") + 1
        elif "0" <= ch <= "9":  # C's isdigit: ASCII only
            cur = 27
        else:
            cur = 28
        fp[cur] = 1  # presence (row 0)
        fp[32 * prev + cur] += 1
        prev = cur
    fp[32 * prev + 28] += 1  # end
    return fp


def fingerprint_distance(a: Counter, b: Counter) -> int:
    """word_fingerprint_distance: how far apart two fingerprints are (HAProxy's "did you mean")."""
    return sum(abs(a[k] - b[k]) for k in set(a) | set(b))


def best_match(word: str, *lists: Iterable[str]) -> str | None:
    """The closest keyword to ``word`` over ``lists`` in order, or None (HAProxy's rule)."""
    sig = word_fingerprint(word)
    best, best_dist = None, None
    for words in lists:
        for candidate in words:
            dist = fingerprint_distance(sig, word_fingerprint(candidate))
            if best_dist is None or dist < best_dist:
                best, best_dist = candidate, dist
    if best is None or best_dist > 2 * len(word) or best_dist > 2 * len(best):
        return None
    return best
