"""Stick tables at work on a request: tracking counters and persistence, as HAProxy 2.6's streams use them.

How it works. Each request gets a ``StkTxn`` when a rule first needs one (``HttpClient.stk``):
- ``http-request track-scN KEY [table T]`` (``track``) finds or makes KEY's entry in T and holds it
  for the rest of the request (its ``use``): conn_cur, conn_cnt, conn_rate, http_req_cnt and
  http_req_rate count at once; ``sc-inc-gpc0(N)`` adds to gpc0 and gpc0_rate of the entry N tracks.
  When the request ends (``end``), conn_cur goes down again, a server's 4xx answer counts in
  http_err_cnt and http_err_rate (a deny or tarpit counts there at once: ``count_error``), and the
  entry lives ``expire`` ms from then.
- The backend's sticking rules (``sticking_rules``, after its http-request rules, before a server is
  chosen): ``stick match``/``on`` look the key up, and when its ``server_key`` (the server's name) or
  else its ``server_id`` names a server of the backend that is not stopped (or ``option persist`` is on) the request goes to that server without
  the algorithm (``direct``, called from session.py's ``_dispatch``). ``stick store-request``/``on``
  remember the key; once the chosen server has answered, ``end`` stores its id and name there.
- ``stick store-response`` (``store_response``, called by upstream.py on the server's answer head, before
  the http-response rules and the cookie, as AN_RES_STORE_RULES comes first) reads its key from the
  response (``res.cook(SESSIONID)``, ``res.hdr(X)``): the first rule of each table whose condition holds
  and whose key has a sample gives a key, which ``end`` stores with the server as a request's.
  A redispatch (``option redispatch``) forgets the sticky server, as HAProxy clears SF_DIRECT.

Follows HAProxy 2.6's src/stream.c (process_sticking_rules, process_store_rules), include/haproxy/
stream.h (stream_track_stkctr, stream_start_counters, stream_store_counters), src/http_act.c and
src/stick_table.c (action_track_sc, action_inc_gpc0) and src/http_ana.c (stream_inc_http_err_ctr on
a 4xx); Copyright Willy Tarreau and contributors, GPL-2.0-or-later.
"""
from __future__ import annotations

from ..sticktable import tables_of


class StkTxn:
    """What one request holds: the entries its counters track (sc0..sc2), the sticky server the table
    gave it, and the keys to store the chosen server under."""

    __slots__ = ("ctr", "direct", "stores", "on_res")

    def __init__(self) -> None:
        self.ctr: list = [None, None, None]  # (StickTable, Entry) per tracking counter
        self.direct = None  # ServerRT chosen by a stick match (SF_DIRECT)
        self.stores: list = []  # (StickTable, key)
        self.on_res: tuple = ()  # the backend's store-response rules, to run on the answer's head


def _txn(c) -> StkTxn:
    stk = c.stk
    if stk is None:
        stk = c.stk = StkTxn()
    return stk


# --------------------------------------------------------------------------- http-request actions
def run_action(c, rule, ctx) -> None:
    """``track-scN`` or ``sc-inc-gpc0/1(N)`` (proxy/actions.py calls this)."""
    what = rule.stick
    if what[0] == "track":
        _, n, expr, table = what
        stk = _txn(c)
        if stk.ctr[n] is not None:  # a counter tracks one entry per request: later rules are no-ops
            return
        t = tables_of(c.engine).get(table)
        if t is None:
            return
        key = t.key(expr.value(ctx))
        if key is None:
            return
        e = t.get(key)
        if e is None:
            return
        e.use += 1
        stk.ctr[n] = (t, e)
        for name in ("conn_cur", "conn_cnt", "conn_rate", "http_req_cnt", "http_req_rate"):
            t.add(e, name)
        t.touch(e)
    else:
        stk = c.stk
        tracked = stk.ctr[what[1]] if stk is not None else None
        if tracked is not None:
            t, e = tracked
            gpc = what[0][4:]  # "gpc0" | "gpc1"
            t.add(e, gpc + "_rate")
            t.add(e, gpc)


# --------------------------------------------------------------------------- persistence
def _stopped(srv) -> bool:
    """cur_state == SRV_ST_STOPPED: DOWN or in maintenance (drain keeps a server running)."""
    return srv.health.op == "stopped" or srv.health.admin == "maint"


def _server_of(be, e):
    """The entry's server in ``be``: by name (server_key) first, else by id (server_id), as 2.6 looks."""
    name = e.data.get("server_key")
    if name and name in be.servers:
        return be.servers[name]
    sid = e.data.get("server_id")
    return next((s for s in be.servers.values() if s.cfg.id == sid), None) if sid else None


def sticking_rules(c, be, ctx) -> None:
    """process_sticking_rules: the backend's stick rules on the request, in order."""
    stk = _txn(c)
    tables = tables_of(c.engine)
    ck = c.ck  # cookie persistence (cookies.py) ran first: its server stays (SF_ASSIGNED), force-persist counts
    assigned = ck is not None and ck.direct is not None
    keep = be.cfg.persist or (ck is not None and ck.force)  # option persist, force-persist (SF_FORCE_PRST)
    for rule in be.cfg.stick_rules:
        if rule.on_response:
            stk.on_res += (rule,)
            continue
        t = tables.get(rule.table)
        if t is None:
            continue
        if rule.stores and any(s[0] is t for s in stk.stores):  # only the first store rule of a table
            continue
        if rule.cond is not None and not rule.cond.holds(ctx):
            continue
        key = t.key(rule.expr.value(ctx))
        if key is None:
            continue
        if rule.matches:
            e = t.lookup(key)
            if e is not None:
                if stk.direct is None and not assigned:
                    srv = _server_of(be, e)
                    if srv is not None and (not _stopped(srv) or keep):
                        stk.direct = srv
                t.touch(e)
        if rule.stores:
            stk.stores.append((t, key))


def direct(c, prev) -> bool:
    """session.py's ``_dispatch`` asks: does a stick match choose the server? True when it did (the
    request now uses or waits for it). A redispatch (``prev``) forgets it and lets the algorithm choose."""
    stk = c.stk
    if prev is not None:
        stk.direct = None
        return False
    c.target = None
    if c._persistent(stk.direct, c.be.cfg.redispatch):  # session.py: use it, wait for it, or a 503
        return True
    stk.direct = None  # back_handle_st_req: a full persistent server is left for another one
    return False


def store_response(c, head: bytes, status: int) -> None:
    """process_store_rules on the answer's head (``head``: status line and headers, without the blank
    line): each store-response rule in order, skipping a table that already has a store-response key
    (a store-request's may sit beside it); its condition and key read the response."""
    stk = c.stk
    lines = head.split(b"\r\n")[1:]
    ctx = c.sample_ctx(c.cur).response(status, lines)
    tables = tables_of(c.engine)
    nreq = len(stk.stores)
    for rule in stk.on_res:
        t = tables.get(rule.table)
        if t is None or any(s[0] is t for s in stk.stores[nreq:]):
            continue
        if rule.cond is not None and not rule.cond.holds(ctx):
            continue
        key = t.key(rule.expr.value(ctx))
        if key is not None:
            stk.stores.append((t, key))


def count_error(c) -> None:
    """A deny or a tarpit: stream_inc_http_err_ctr at once, whatever the status (http_ana.c)."""
    stk = c.stk
    if stk is None:
        return
    for tracked in stk.ctr:
        if tracked is not None:
            t, e = tracked
            t.add(e, "http_err_cnt")
            t.add(e, "http_err_rate")
            t.touch(e)


def is_direct(c) -> bool:
    """The request goes to a server a table chose (SF_DIRECT): a failed connection is retried there."""
    return c.stk is not None and c.stk.direct is not None


# --------------------------------------------------------------------------- the end of a request
def end(c, status: int | None) -> None:
    """The request is over (``status``: its answer, None when the client left): store the server
    that answered (process_store_rules), count a 4xx as an error, release the tracked entries."""
    stk = c.stk
    if stk is None:
        return
    c.stk = None
    srv = c.srv
    if stk.stores and srv is not None and c.outcome.server_status >= 0:
        for t, key in stk.stores:
            e = t.get(key)
            if e is not None:
                e.data["server_id"] = srv.cfg.id
                e.data["server_key"] = srv.name
                t.touch(e)
    # a server's 4xx counts as an error (http_wait_for_response); a deny or tarpit counted already
    err = status is not None and 400 <= c.outcome.server_status < 500
    for tracked in stk.ctr:
        if tracked is None:
            continue
        t, e = tracked
        if err:
            t.add(e, "http_err_cnt")
            t.add(e, "http_err_rate")
        if e.data.get("conn_cur", 0) > 0:
            e.data["conn_cur"] -= 1
        e.use -= 1
        t.touch(e)
