"""What the rules of http-request and http-response make a client connection do (a mixin of ``HttpClient``).

``RuleAnswers._intercept`` sends the answer of a redirect, return or deny made by an http-request
rule; ``rewrite_response`` runs the http-response rules on the server's answer head (called by
upstream.py's ``ServerConn`` once the head is complete) and, when deny or return replaces the answer,
sends ours instead (``_deny_response``). The rules themselves are actions.py's.

Counters and log flags as src/http_ana.c sets them (HAProxy 2.6, Copyright Willy Tarreau and
contributors, GPL-2.0-or-later), checked against haproxy 2.6.12 by tests/differential/test_actions.py:
a request deny counts ``dreq`` on the frontend and on the backend once one is chosen and logs ``PR``;
a tarpit counts the same at once, holds the request for ``timeout tarpit`` and logs ``PT`` (test_tarpit.py);
redirect and return log ``LR`` and count ``intercepted`` when the frontend made them; a response deny
counts ``dresp`` on the frontend, the backend and the server and logs ``PH``, a response return ``LH``;
set-status moves the frontend's and backend's ``hrsp_*`` to the new status (the server keeps its own).
"""
from __future__ import annotations

from .actions import Reply, run_response
from .state import now, status_slot
from .stick import count_error
from .upstream import ServerConn


class RuleAnswers:
    """Answers and rewrites of http-request/http-response rules (state in ``HttpClient``'s slots)."""

    __slots__ = ()

    def sample_ctx(self, req):
        """The request as rule conditions and values read it (httpclient.py's sample context)."""
        return self._sample_ctx(req)

    def _intercept(self, answer: Reply, be) -> None:
        """A redirect, return, deny or tarpit of an http-request rule: HAProxy's answer, counters and
        log (src/http_ana.c: deny counts dreq on the frontend and the backend chosen so far, and logs
        PR; redirect and return log LR, and count as intercepted when the frontend made them)."""
        if answer.kind == "tarpit":
            self._tarpit(answer, be)
            return
        if answer.kind == "deny":
            self._denied(be)
        self._answer(answer, be)

    def _denied(self, be) -> None:
        """A deny or tarpit: dreq on the frontend and the backend chosen so far, http_err on the
        tracked entries, at once (a tarpit's answer comes later)."""
        self.fe.dreq += 1
        if be is not None:
            be.dreq += 1
        count_error(self)

    def _tarpit(self, answer: Reply, be) -> None:
        """http-request tarpit (http_ana.c's tarpit label, then http_process_tarpit): counted as a deny
        at once, the request held for the ``timeout tarpit`` of the proxy whose rule it was (else its
        ``timeout connect``; 0 answers at once), then the deny status's answer, logged PT with %TR -1
        and %Tw the time held. A client that leaves meanwhile ends it (connection_lost)."""
        self._denied(be)
        self.outcome.termination = "PT"
        ms = (be or self.fe).cfg.timeouts.tarpit
        cur = self.cur

        def over() -> None:
            if self.cur is cur and not self.closed:
                self.timers.queue_ms = int((now() - cur.t0) * 1000) + 1  # t_queue - t_request, which is -1
                self._answer(answer, be)
        if ms:
            self._arm(ms, over)
        else:
            self.loop.call_soon(over)

    def _answer(self, answer: Reply, be) -> None:
        close = not self.cur.keep_alive
        data, logged = answer.encode(close)
        self.transport.write(data)
        fe = self.fe
        fe.bout += len(data)
        fe.count_status(answer.status)
        if be is not None:
            be.count_status(answer.status)
        o = self.outcome
        if answer.kind in ("deny", "tarpit"):
            if be is not None and self.ck is not None:  # HAProxy still reads the cookie, for the log
                self.ck.request(be, self.cur.headers)
                self.target = self.ck.direct  # (and the log names the server it designates)
            o.termination = "PR" if answer.kind == "deny" else "PT"
        else:
            if be is None or be.cfg is fe.cfg:
                fe.intercepted += 1
            o.termination = "LR"
        o.by_rule = True
        o.logged_bytes = logged
        o.untimed = True
        self._finish(answer.status, close)

    def rewrite_response(self, conn: ServerConn, head: bytes) -> bytes | None:
        """The server's answer head through the http-response rules (backend's, then frontend's);
        None when a rule answered instead (the server connection is then dropped)."""
        lines = head.split(b"\r\n")
        status_line = lines[0] + b"\r\n"
        headers = [x + b"\r\n" for x in lines[1:]]
        for rules in self.res_rules:
            status_line, answer = run_response(rules, self, self.cur, status_line, headers)
            if answer is not None:
                self._deny_response(conn, answer)
                return None
        status = int(status_line.split(b" ", 2)[1])
        if status != conn.status:
            self._recount(conn.status, status)
            conn.status = status
        return status_line + b"".join(headers)[:-2] if headers else status_line[:-2]

    def _recount(self, old: int, new: int) -> None:
        """set-status: the frontend and backend count the status the client gets (the server keeps its own)."""
        for px in (self.fe, self.be):
            px.hrsp[status_slot(old)] -= 1
            px.hrsp[status_slot(new)] += 1

    def _deny_response(self, conn: ServerConn, answer: Reply) -> None:
        """http-response deny / return: the server's answer is dropped, ours goes instead."""
        self.conn = None
        conn.client = None
        conn.close()
        for px in (self.fe, self.be):
            px.hrsp[status_slot(conn.status)] -= 1
        if answer.kind == "deny":
            self.fe.dresp += 1
            self.be.dresp += 1
            self.srv.dresp += 1
        self.outcome.termination = "PH" if answer.kind == "deny" else "LH"
        self._disarm()
        close = not self.cur.keep_alive
        data, logged = answer.encode(close)
        self.transport.write(data)
        self.fe.bout += len(data)
        self.fe.count_status(answer.status)
        self.be.count_status(answer.status)
        self.outcome.logged_bytes = logged
        self._finish(answer.status, close)
