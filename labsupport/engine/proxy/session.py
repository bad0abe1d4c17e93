"""Choosing a server for one request (mode http) or one connection (mode tcp), as HAProxy 2.6 does.

How it works: ``Session`` is a mixin shared by the HTTP and TCP client protocols. Its steps:

1. ``_dispatch()`` (backend.c assign_server_and_queue): no usable server -> ``_no_server()``
   (503 / close). Otherwise ask the algorithm (lbtot counts the choice). A request assigned to a
   full server waits in that server's queue; one no server can take (all full; or roundrobin,
   static-rr and first while the backend's queue is not empty) waits in the backend's queue.
   Either wait lasts up to ``timeout queue`` (default: ``timeout connect``), then econ and a 503.
   A server's queue holds at most its ``maxqueue`` (when set): one more request assigned to it
   gets a 503 at once (SQ), counted as econ on the server and the backend.
   ``BackendRT.process_srv_queue`` (state.py) lets waiting requests in.
2. ``_use(srv)`` counts the session (scur) and ``_attempt()`` (the subclass) connects,
   counting stot for every attempt, retries included.
3. ``_connect_failed(refused)``: HAProxy 2.6.12's retry rules (backend.c back_handle_st_cer and
   stream.h stream_choose_redispatch, with 2.6's backported fixes):
   - after ``retries`` retries the request fails: econ on server and backend, 503; the log names
     the last server tried and ``retries`` retries;
   - with ``option redispatch [N]`` the retry chooses again (the algorithm avoids the server that
     failed) when that server is no longer usable, or on every Nth retry (N < 0, the default -1:
     the -Nth before the last, that is the last), or, for every algorithm but the hash ones
     (source, uri), whenever more than one active server is usable;
   - otherwise the retry goes to the same server;
   - a retry that lands on another server counts ``wredis`` and marks the log's retries with
     "+"; one on the same server counts ``wretr``;
   - a refused connection waits min(1 s, timeout connect) before a retry on the same server, or
     before any retry when at most one active server is usable.

Follows HAProxy 2.6's src/stream.c, include/haproxy/stream.h and src/backend.c, Copyright Willy Tarreau
<w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

import asyncio

from . import stick
from .interfaces import EngineHooks
from .progress import Outcome, Timers
from .state import BackendRT, ServerRT, Waiter, now
from .tls import name_mismatch, server_tls, tls_state


class Session:
    """Server selection, queueing and retries; subclasses supply the I/O (and the other slots:
    engine, fe, loop, transport, closed, src)."""

    __slots__ = ("be", "srv", "algo", "failures", "target", "waiter", "timer", "timer_at", "deadline", "on_deadline",
                 "connecting", "opening", "waiting", "timers", "outcome", "ck")

    stk = None  # stick tables' state of the request (stick.py); HttpClient has a slot for it
    engine: EngineHooks
    loop: asyncio.AbstractEventLoop
    be: BackendRT | None
    srv: ServerRT | None
    closed: bool
    src: str | None

    def _init_session(self) -> None:
        self.be = None
        self.srv = None
        self.algo = None  # the algorithm that picked self.srv (a reload may replace the backend's)
        self.failures = 0  # failed connection attempts of this request
        self.target: ServerRT | None = None  # the server last assigned (the log names it after a failure)
        self.waiter: Waiter | None = None
        self.timer: asyncio.TimerHandle | None = None  # the one TimerHandle, lazily re-armed
        self.timer_at = 0.0  # when it fires (its when(), without a call)
        self.deadline = 0.0  # when on_deadline is due (the loop's clock)
        self.on_deadline = None  # what to call then (None: no deadline)
        self.connecting = False
        self.opening = self.waiting = None  # a connection attempt: its coroutine, the future it awaits
        self.timers = Timers()  # the request's stages, for the log
        self.outcome = Outcome()  # what its log line will say
        self.ck = None  # mode http, a backend with 'cookie': the request's cookies.CookieTxn

    # ----- the client connection's TLS state (the fetches ssl_fc, ssl_fc_sni read these)
    @property
    def ssl_object(self):
        """The client connection's ``ssl.SSLObject`` (None in clear text): ``ssl_fc`` is ``is not None``."""
        return tls_state(getattr(self, "transport", None))[0]

    @property
    def sni(self) -> str | None:
        """The server name the client sent in its TLS hello, as sent (``ssl_fc_sni``); None without one."""
        return tls_state(getattr(self, "transport", None))[1]

    # ----- hooks
    def _uri(self) -> str | None:
        return None

    def _attempt(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _no_server(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _connected(self, proto) -> None:  # pragma: no cover - abstract
        """The server connection ``_open`` asked for is up (``proto`` is its protocol)."""
        raise NotImplementedError

    # ----- opening a server connection (both modes)
    # create_connection's coroutine is driven by hand: ``_step`` sends it None and gets back what it
    # awaits. This relies on two asyncio behaviours (uvloop's coroutine behaves the same): an awaited
    # asyncio Future yields itself from ``__await__`` and, once done, the next ``send(None)`` returns
    # its result into the coroutine; a bare ``yield`` (``sleep(0)``) yields None. Closing the
    # coroutine raises GeneratorExit at its await, and create_connection then closes the socket it
    # was connecting. ``timeout connect`` is the session's own timer, free while connecting. A Task
    # plus wait_for cost ~15 us of CPU per connection, and the lesson's Flask servers close theirs
    # after every answer, so every request pays for one.
    def _open(self, factory, srv) -> None:
        self.connecting = True
        ctx, sni = server_tls(srv.cfg)
        if ctx is None:
            self.opening = self.loop.create_connection(factory, srv.addr[0], srv.addr[1])
        else:  # a failed handshake is an OSError (ssl.SSLError) like a refused connection: HAProxy's SC
            self.opening = self.loop.create_connection(factory, srv.addr[0], srv.addr[1], ssl=ctx,
                                                       server_hostname=sni or "")
        self.waiting = None
        self._arm(self.be.cfg.timeouts.connect, self._connect_timeout)
        self._step()

    def _step(self, fut=None) -> None:
        if fut is not self.waiting:  # the future of an attempt given up on: read it, or asyncio complains
            if not fut.cancelled():
                fut.exception()
            return
        try:
            self.waiting = self.opening.send(None)
        except StopIteration as done:
            self._opened(done.value[1])
        except OSError as e:
            if name_mismatch(e):  # HAProxy never retries a certificate for another name (CO_ER_SSL_MISMATCH_SNI)
                self.failures = self.be.cfg.retries
            self._opened(None, refused=True)
        else:
            if self.waiting is None:  # a bare yield (asyncio's sleep(0)): resume on the next turn
                self.loop.call_soon(self._step)
            else:
                self.waiting.add_done_callback(self._step)

    def _connect_timeout(self) -> None:
        self.opening.close()  # GeneratorExit in create_connection: it closes its half-made transport
        self._opened(None)

    def _opened(self, proto, refused: bool = False) -> None:
        self.opening = self.waiting = None
        self.connecting = False
        self._disarm()
        if proto is None:
            self._connect_failed(refused)
        else:
            self._connected(proto)

    # ----- timers: one deadline per session, one lazily re-armed TimerHandle (cheap per request)
    def _arm(self, ms: int | float | None, callback) -> None:
        """Call ``callback`` in ``ms`` ms, replacing any previous deadline (none when ms is 0/None)."""
        if not ms:
            self.on_deadline = None
            return
        when = self.loop.time() + ms / 1000
        self.deadline, self.on_deadline = when, callback
        h = self.timer
        if h is None or self.timer_at > when:  # a handle firing early re-arms itself; only a late one is replaced
            if h is not None:
                h.cancel()
            self.timer, self.timer_at = self.loop.call_at(when, self._fire), when

    def _disarm(self) -> None:
        self.on_deadline = None

    def _drop_timer(self) -> None:
        """The connection is gone: cancel the handle too."""
        self.on_deadline = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _fire(self) -> None:
        self.timer = None
        cb = self.on_deadline
        if cb is None:
            return
        if self.loop.time() < self.deadline:
            self.timer, self.timer_at = self.loop.call_at(self.deadline, self._fire), self.deadline
            return
        self.on_deadline = None
        cb()

    # ----- the steps
    def _dispatch(self, prev: ServerRT | None = None) -> None:
        """Assign a server (``prev``: the one a redispatched request failed on)."""
        timers = self.timers
        if not timers.queued:
            timers.queued = now()
        if self.stk is not None and self.stk.direct is not None and stick.direct(self, prev):
            return  # a stick table chose the server (stick.py)
        be = self.be
        algo = be.algo
        self.target = None
        ck = self.ck
        if ck is not None and ck.direct is not None:
            if prev is None:
                self._direct(ck.direct)
                return
            ck.direct = None  # a redispatch forgets the cookie (stream_choose_redispatch clears SF_DIRECT)
        if not algo.has_usable():
            self._counted_redispatch(prev, None)
            be.econ += 1  # haproxy counts "no server available" as a failed connection of the backend
            self._no_server()
            return
        if algo.queue_first and be.queue and len(be.queue) != be.scur:
            self._counted_redispatch(prev, None)
            self._enqueue(None)  # the waiting requests were there first
            return
        uri = self._uri() if be.cfg.balance == "uri" else None  # only balance uri reads it
        name = algo.choose(self.src, uri, prev.name if prev is not None else None)
        srv = be.servers[name] if name is not None else None
        if prev is not None:
            self._counted_redispatch(prev, srv)
        if srv is None:
            self._enqueue(None)  # every candidate is full
            return
        if srv is not prev:  # assign_server counts a choice only when it changes the server
            srv.lbtot += 1
            be.lbtot += 1
        if not algo.take_if_room(name):  # full: it waits (or is refused), else it holds a slot now
            if srv.cfg.maxqueue > 0 and len(srv.queue) >= srv.cfg.maxqueue:  # SRV_STATUS_FULL
                self._refuse_full(srv)
                return
            self._enqueue(srv)
            return
        self.algo = algo
        self._use(srv)

    def _direct(self, srv: ServerRT) -> None:
        """A persistence cookie chose ``srv`` (SF_DIRECT): no algorithm, no lbtot; it waits in that
        server's queue when it is full; one its maxqueue refuses goes to the algorithm with
        ``option redispatch`` (back_handle_st_req), else gets a 503."""
        if not self._persistent(srv, self.be.cfg.redispatch and not self.ck.force):  # force-persist stays
            self.ck.direct = None
            self._dispatch()

    def _persistent(self, srv: ServerRT, may_redispatch: bool) -> bool:
        """Use ``srv``, chosen by persistence (a cookie, a stick table: SF_DIRECT), or wait in its queue, or
        be refused when its maxqueue is full; False, doing nothing, when that refusal should rather go to
        the algorithm (``may_redispatch``: ``option redispatch``, back_handle_st_req)."""
        be = self.be
        if not be.algo.take_if_room(srv.name):
            if srv.cfg.maxqueue > 0 and len(srv.queue) >= srv.cfg.maxqueue:
                if may_redispatch:
                    return False
                self._refuse_full(srv)
                return True
            self._enqueue(srv)
            return True
        self.algo = be.algo
        self._use(srv)
        return True

    def _refuse_full(self, srv: ServerRT) -> None:
        """The server's queue is at its maxqueue (SRV_STATUS_FULL): a 503 with SQ."""
        self.target = srv
        self.outcome.termination = "SQ"
        srv.econ += 1
        self.be.econ += 1
        self._no_server()

    def _enqueue(self, srv: ServerRT | None) -> None:
        be = self.be
        w = Waiter(self.src, self._uri(), self._dequeued)
        self.waiter = w
        self.target = srv  # queued on a server: assigned to it, and the log names it
        be.enqueue(w, srv)
        t = be.cfg.timeouts
        ms = t.queue if t.queue is not None else t.connect
        if ms:
            w.timer = self.loop.call_later(ms / 1000, self._queue_timeout)

    def _queue_timeout(self) -> None:
        self.outcome.termination = "sQ"
        w, be = self.waiter, self.be
        self.waiter = None
        if w is not None:
            if w.srv is not None:
                w.srv.econ += 1
            be.econ += 1
            be.unlink(w)
            self._positions(w)
        self._no_server()

    def _positions(self, w: Waiter) -> None:
        o = self.outcome
        o.srv_queue_pos += w.srv_pos
        o.be_queue_pos += w.prx_pos

    def _dequeued(self, name: str | None) -> None:
        if self.waiter is not None:
            self._positions(self.waiter)
        self.waiter = None
        if name is None:
            self._no_server()
        elif name == "":  # its server went down: choose again, a redispatch away from that server
            if self.closed:
                return
            self._dispatch(self.target)
        else:
            self.algo = self.be.algo
            self._use(self.be.servers[name])

    def _leave_queue(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            if w.timer is not None:
                w.timer.cancel()
            self.be.unlink(w)
            self._positions(w)

    def _counted_redispatch(self, prev: ServerRT | None, new: ServerRT | None) -> None:
        """assign_server_and_queue: a request that chose again counts a redispatch ("+" in the log)
        when it lands elsewhere, a retry when it is back on the same server."""
        if prev is None:
            return
        if new is not prev:
            if self.ck is not None and self.ck.req == "V":  # assign_server_and_queue: no longer valid
                self.ck.req = "D"
            self.outcome.redispatched = True
            prev.wredis += 1
            self.be.wredis += 1
        else:
            prev.wretr += 1
            self.be.wretr += 1

    def _use(self, srv: ServerRT) -> None:
        self.srv = self.target = srv
        t = now()
        timers = self.timers
        timers.queue_ms = int((t - timers.queued) * 1000)  # back_handle_st_req's t_queue, set again on a redispatch
        srv.sessions.add(self)
        srv.scur += 1
        if srv.scur > srv.smax:
            srv.smax = srv.scur
        srv.lastsess = self.be.lastsess = t
        if self.closed:
            self._release()
            return
        srv.stot += 1  # _count_attempt, inline: every request passes here
        srv.rate.hit()
        self._attempt()

    def _count_attempt(self) -> None:
        srv = self.srv
        srv.stot += 1
        srv.rate.hit()

    def _release(self) -> None:
        """Give the server slot back (exactly once per pick)."""
        srv = self.srv
        if srv is not None:
            self.srv = None
            srv.sessions.discard(self)
            srv.backend.release(srv, self.algo)

    def _connect_failed(self, refused: bool) -> None:
        if self.closed:
            self._release()
            return
        self.failures += 1
        k, be, srv = self.failures, self.be, self.srv
        if srv.cfg.observe != "none":
            self.engine.observed(srv, "L4_ERR")
        retries = be.cfg.retries
        if k > retries:
            srv.econ += 1
            be.econ += 1
            self._release()
            self._no_server()
            return
        nact = be.active_usable()
        after = be.cfg.redispatch_after
        every = after if after > 0 else retries + 1 + after if after < 0 else 0  # 0: never by count
        stopped = srv.health.op != "running" or srv.health.admin == "maint"  # cur_state < SRV_ST_RUNNING
        ck = self.ck
        direct = stick.is_direct(self) or (ck is not None and ck.direct is not None)  # SF_DIRECT: not left at once
        forced = ck is not None and ck.force  # force-persist (SF_FORCE_PRST): never redispatched
        if be.cfg.redispatch and not forced and (
                stopped or (every and k % every == 0) or (not direct and not be.hashed and nact > 1)):
            self._release()
            wait = nact <= 1
            step = lambda: self._redispatch(srv)  # noqa: E731 (the server to avoid)
        else:
            srv.wretr += 1
            be.wretr += 1
            wait = True
            step = self._retry
        connect = be.cfg.timeouts.connect
        delay = min(1000, connect) if connect else 1000
        if wait and refused:
            self._arm(delay, step)
        else:
            step()

    def _retry(self) -> None:
        if self.closed:
            self._release()
            return
        self._count_attempt()
        self._attempt()

    def _redispatch(self, prev: ServerRT) -> None:
        if self.closed:
            return
        self._dispatch(prev)
