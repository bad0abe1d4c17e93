"""How far a client's current request got: its timers, and what its log line will say.

One ``Timers`` and one ``Outcome`` per client connection (session.py makes them), reset when a
request starts (``start``), filled in as the request goes (httpclient.py, session.py) and read by
accesslog.py into HAProxy's httplog fields. Plain slotted objects: the hot path sets a few
attributes per request and allocates nothing.
"""
from __future__ import annotations


class Timers:
    """Instants on the engine's clock (monotonic seconds; 0.0: not yet) and the log's durations
    (whole ms; -1: a stage the request never reached)."""

    __slots__ = ("accepted", "started", "queued", "connecting", "sent", "queue_ms", "connect_ms", "response_ms")

    def __init__(self) -> None:
        self.accepted = 0.0  # the connection was accepted (a first request's timers start there)
        self.started = 0.0  # the request was complete and began to be served (the end of %TR)
        self.queued = 0.0  # it first asked for a server: %Tw runs from here to its last assignment
        self.connecting = 0.0  # its last new server connection began opening
        self.sent = 0.0  # it was sent to the server (%Tr runs from here to the answer's head)
        self.queue_ms = self.connect_ms = self.response_ms = -1  # the log's %Tw, %Tc and %Tr

    def start(self, t: float) -> None:
        """A request begins being served at ``t``: nothing reached yet."""
        self.started = t
        self.queued = 0.0
        self.queue_ms = self.connect_ms = self.response_ms = -1


class Outcome:
    """What the request's log line will say that no counter holds."""

    __slots__ = ("termination", "server_status", "logged_bytes", "fe_bout_before", "untimed", "srv_queue_pos",
                 "be_queue_pos", "redispatched", "by_rule")

    def __init__(self) -> None:
        self.termination = "--"  # %tsc's first two characters: who ended the session, at which stage
        self.server_status = -1  # the status of the server's answer (-1: no answer head yet)
        self.logged_bytes: int | None = None  # %B when it is not the bytes the frontend sent meanwhile
        self.fe_bout_before = 0  # the frontend's bout when the request started (%B counts from it)
        self.untimed = False  # an error page of ours: HAProxy keeps no time stats without a server answer
        self.srv_queue_pos = self.be_queue_pos = 0  # its places in the server's / backend's queue (%sq/%bq)
        self.redispatched = False  # it chose again and landed on another server ("+" before %rc)
        self.by_rule = False  # an http-request rule answered it (logged <NOSRV>, not <STATS>)

    def start(self, fe_bout: int) -> None:
        """A request begins being served; its frontend has sent ``fe_bout`` bytes so far."""
        self.termination = "--"
        self.server_status = -1
        self.logged_bytes = None
        self.fe_bout_before = fe_bout
        self.srv_queue_pos = self.be_queue_pos = 0
        self.redispatched = False
        self.by_rule = False
