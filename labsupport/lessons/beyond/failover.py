"""How long a balancer failover hurts: steady requests to the virtual address while the active balancer fails.

    result = measure_failover(pair, lab["client"], how="balancer", rate=20)
    result                                 # 3 of 90 requests failed, for 0.95 s; 10.0.0.100 moved lb1 -> lb2
    failover_figure(result)                # requests over time (ok / failed), who held the address, the stop
    result.table()                         # the same as text (headless runs, reference outputs)

What happens, step by step: a ``Probe`` in the client host sends ``rate`` requests a second to
``http://VIP/info`` (each a new connection; ``/info`` names the server that answered); after ``stop_after``
seconds the pair's ``stop_active(how)`` makes the holder fail; a thread here reads who holds the address
every ``POLL`` s. The result keeps every request, the holder timeline and the stop moment.

What to expect (measured by the lesson, the numbers are this machine's):

- ``how="unplug"`` (the machine is cut off): nobody tells lb2; it takes over when it has heard no
  advertisement for the master down interval, ``3 * advert_int + skew``: about 3.6 s at ``advert_int 1``,
  1.8 s at 0.5. Requests meanwhile time out (``timeout`` each), so fewer fail than the gap suggests.
- ``how="balancer"`` (HAProxy dies, the machine stays): with ``track=True`` the balancer's check notices
  within its interval and keepalived enters FAULT, gives the address up and says so: lb2 holds it well
  under a second later, whatever ``advert_int`` is. With ``track=False`` keepalived never knows: the
  address stays on lb1, every request is refused, and the outage lasts until ``restore()``.
- ``how="keepalived"`` (keepalived stopped cleanly): it sends priority 0 on the way out; lb2 takes over
  at once.
- ``preempt``: with it, lb1 takes the address back once restored (a second, shorter blip); ``nopreempt``
  leaves it on lb2.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from matplotlib.figure import Figure

from labsupport.course.display.charts import FAILURE_COLOR, NO_ANSWER_COLOR, PALETTE
from labsupport.course.display.table import Table
from labsupport.course.hosts import Host
from labsupport.errors import LabError, UsageError

from .pair import HOWS, BalancerPair
from .probe import Probe, Shot, longest_gap

POLL = 0.1  # seconds between two reads of who holds the address
OK_COLOR = "#2e9d43"
HOLDER_COLORS = {"lb1": PALETTE[0], "lb2": PALETTE[1], None: "#cccccc"}


@dataclass
class FailoverResult:
    """Every request (``shots``), when the failure was injected (``stopped_at``, seconds after the first
    request), what was done (``did``), who held the address when (``holders``: (t, 'lb1'|'lb2'|None) at each
    change), and the pair's settings."""

    how: str
    settings: dict
    shots: list[Shot]
    stopped_at: float
    did: str
    holders: list[tuple[float, str | None]]
    servers: dict[str, str] = field(default_factory=dict)  # 'address:port' -> server name

    @property
    def failed(self) -> int:
        return sum(not s.ok for s in self.shots)

    @property
    def ok(self) -> int:
        return sum(s.ok for s in self.shots)

    def gap(self) -> float:
        """The longest run of failed requests, in seconds (``probe.longest_gap``); 0.0 when none failed."""
        return longest_gap(self.shots)

    @property
    def first_holder(self) -> str | None:
        return self.holders[0][1] if self.holders else None

    @property
    def last_holder(self) -> str | None:
        return self.holders[-1][1] if self.holders else None

    def moved_after(self) -> float | None:
        """Seconds from the stop until another balancer held the address (None: it never moved)."""
        for t, name in self.holders:
            if t >= self.stopped_at and name is not None and name != self.first_holder:
                return round(t - self.stopped_at, 3)
        return None

    def server_of(self, shot: Shot) -> str:
        """The server that answered ``shot`` (its name from the pair's servers), '' when none did."""
        if not shot.ok:
            return ""
        try:
            info = json.loads(shot.body)
            where = f"{info['host']}:{info['port']}"
            return self.servers.get(where, where)
        except (ValueError, KeyError, TypeError):
            return shot.server

    def answered_by(self) -> Counter:
        """Requests per server ('' : failed)."""
        return Counter(self.server_of(s) for s in self.shots)

    def table(self) -> Table:
        """One row per second of the run: requests sent, answered, failed, who held the address."""
        rows, end = [], int(max((s.t for s in self.shots), default=0)) + 1
        for second in range(end):
            inside = [s for s in self.shots if second <= s.t < second + 1]
            rows.append({"second": second, "sent": len(inside), "answered": sum(s.ok for s in inside),
                         "failed": sum(not s.ok for s in inside), "holder": self.holder_at(second + 0.5) or "-",
                         "event": "stop" if second <= self.stopped_at < second + 1 else ""})
        return Table(rows, title=self.summary())

    def holder_at(self, t: float) -> str | None:
        found = self.first_holder
        for when, name in self.holders:
            if when <= t:
                found = name
        return found

    def summary(self) -> str:
        moved = self.moved_after()
        where = (f"{self.settings.get('vip')} moved {self.first_holder} -> {self.last_holder} "
                 f"{moved:.2f} s after the stop" if moved is not None
                 else f"{self.settings.get('vip')} stayed on {self.last_holder}")
        return (f"{self.how}: {self.failed} of {len(self.shots)} requests failed, longest gap {self.gap():.2f} s; "
                f"{where} (advert_int {self.settings.get('advert_int'):g}, track {self.settings.get('track')}, "
                f"{self.settings.get('kind')})")

    def title(self) -> str:
        """The chart's title: the outage and the settings behind it."""
        return (f"{self.failed} failed, longest gap {self.gap():.2f} s (advert_int {self.settings['advert_int']:g}, "
                f"track {self.settings['track']}, {self.how})")

    def __repr__(self) -> str:
        return self.summary()


class _HolderWatch:
    """Reads ``pair.holder()`` every POLL s in a thread; keeps the changes, times from ``start``."""

    def __init__(self, pair: BalancerPair, start: float, max_seconds: float):
        self.pair, self.start, self.changes = pair, start, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(max_seconds,), daemon=True, name="lab-holder-watch")
        self._thread.start()

    def _run(self, max_seconds: float) -> None:
        end = time.monotonic() + max_seconds
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                name = self.pair.holder()
            except (LabError, OSError, ValueError):
                break
            if not self.changes or self.changes[-1][1] != name:
                self.changes.append((round(time.monotonic() - self.start, 3), name))
            self._stop.wait(POLL)

    def stop(self) -> list[tuple[float, str | None]]:
        self._stop.set()
        self._thread.join(10)
        return list(self.changes)


def measure_failover(pair: BalancerPair, client_host: Host, how: str = "unplug", rate: float = 20.0,
                     seconds: float | None = None, stop_after: float = 1.0, timeout: float = 0.5,
                     restore: bool = True, path: str = "/info", host: str | None = None) -> FailoverResult:
    """Send ``rate`` requests/s from ``client_host`` to the pair's address for ``seconds`` (default: long
    enough for the failover the settings allow, ``stop_after + 4 * advert_int + 2``), make the holder fail
    (``how``) after ``stop_after`` s (``host``: make that balancer fail instead, holder or not); ``restore``
    undoes it at the end."""
    if how not in HOWS:
        raise UsageError(f"how={how!r}: one of {', '.join(HOWS)}")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 1 <= rate <= 200:
        raise UsageError(f"rate={rate!r}: requests per second, 1 to 200")
    if seconds is None:
        seconds = stop_after + 4 * pair.advert_int + 2
    if not 0 < stop_after < seconds <= 120:
        raise UsageError(f"stop_after={stop_after!r}, seconds={seconds!r}: 0 < stop_after < seconds <= 120")
    if not isinstance(client_host, Host):
        raise UsageError(f"client_host: a host of the lab (lab['client']), not {type(client_host).__name__}")
    pair.settle()  # after a start or a restore: the address where the settings put it, before the clock starts
    probe = Probe(client_host, f"http://{pair.vip}{path}", count=max(1, int(seconds * rate)), interval=1 / rate,
                  timeout=timeout, max_seconds=seconds + 10)
    watch = _HolderWatch(pair, probe.started, seconds + 15)
    try:
        deadline = probe.started + stop_after
        while time.monotonic() < deadline and probe.running:
            time.sleep(0.01)
        stopped_at = round(time.monotonic() - probe.started, 3)
        did = pair.stop_active(how, host)
        probe.wait(seconds + 30)
    finally:
        probe.stop()
        holders = watch.stop()
        if restore:
            pair.restore()
    settings = {"vip": pair.vip, "advert_int": pair.advert_int, "priorities": pair.priorities,
                "preempt": pair.preempt, "track": pair.track, "kind": pair.kind, "rate": rate}
    servers = {target: name for name, target in pair.servers.items()}
    return FailoverResult(how, settings, list(probe.results), stopped_at, did, holders, servers)


def failover_figure(result: FailoverResult, title: str | None = None) -> Figure:
    """Requests over time (a dot per request: green answered, red failed; height = its time taken), a band
    below showing who held the address (for DNS failover: which address answered), and a line at the stop."""
    fig = Figure(figsize=(8, 3.2))
    ax, band = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    ok = [s for s in result.shots if s.ok]
    bad = [s for s in result.shots if not s.ok]
    ax.scatter([s.t for s in ok], [s.ms for s in ok], s=8, color=OK_COLOR, label=f"answered ({len(ok)})")
    ax.scatter([s.t for s in bad], [s.ms for s in bad], s=14, marker="x",
               color=FAILURE_COLOR if bad else NO_ANSWER_COLOR, label=f"failed ({len(bad)})")
    ax.axvline(result.stopped_at, color="#333333", linestyle="--", linewidth=1)
    ax.annotate(f"stop ({result.how})", (result.stopped_at, 1), xycoords=("data", "axes fraction"),
                xytext=(3, -12), textcoords="offset points", fontsize=8)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_ylim(0, max([s.ms for s in result.shots] + [10]) * 2)
    ax.set_ylabel("ms")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or result.title(), fontsize=10)
    end = max([s.t + s.ms / 1000 for s in result.shots] + [result.stopped_at + 0.1])
    changes = result.holders or [(0.0, None)]
    colours = dict(HOLDER_COLORS)  # lb1, lb2, nobody; other holders (DNS: the address that answered) in turn
    for k, (t, name) in enumerate(changes):
        until = changes[k + 1][0] if k + 1 < len(changes) else end
        band.axvspan(max(t, 0), until, color=colours.setdefault(name, PALETTE[len(colours) - 1]))
        if until - t > end / 20:
            band.text((max(t, 0) + until) / 2, 0.5, name or "nobody", ha="center", va="center", fontsize=8)
    band.axvline(result.stopped_at, color="#333333", linestyle="--", linewidth=1)
    band.set_yticks([])
    band.set_ylabel("VIP", rotation=0, labelpad=14, fontsize=8)
    band.set_xlabel("seconds")
    band.set_xlim(0, end)
    fig.tight_layout()
    return fig


def failover_table(result: FailoverResult) -> Table:
    """The figure as text: per second, requests sent, answered, failed, and who held the address."""
    return result.table()
