"""One long request in the background (a download, a slow report): does it survive a reload?

    download = LongRequest(lb.url, seconds=2)   # GET /slow?ms=2000 on a thread of its own, sent now
    lb.reload()
    download.result()                           -> 'HTTP 200 from 8302 after 2.00 s'

The request is the course's ``send`` (course/traffic/sender.py), one request on a new connection; the
application server answers ``/slow`` after ``ms`` milliseconds (backends/app.py).
"""
from __future__ import annotations

import threading

from ...course.traffic.results import Result
from ...course.traffic.sender import send
from ...errors import UsageError

MAX_SECONDS = 30.0


class LongRequest:
    """``GET /slow?ms=...`` sent at once on a background thread; ``result()`` waits for its answer."""

    def __init__(self, url: str, seconds: float = 2.0, *, timeout: float = 10.0) -> None:
        if not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_SECONDS:
            raise UsageError(f"seconds is a number from 0 to {MAX_SECONDS:g}, such as 2, not {seconds!r}")
        self.url = url.rstrip("/") + f"/slow?ms={int(seconds * 1000)}"
        self.seconds, self.timeout = float(seconds), max(timeout, seconds + 5)
        self.answer: Result | None = None
        self._thread = threading.Thread(target=self._send, name="lab-long-request", daemon=True)
        self._thread.start()

    def _send(self) -> None:
        self.answer = send(self.url, 1, timeout=self.timeout, progress=False).results[0]

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self, timeout: float | None = None) -> str:
        """Wait (at most ``timeout`` s, by default as long as the request may take) and say how it ended."""
        self._thread.join(self.timeout + 5 if timeout is None else timeout)
        r = self.answer
        if r is None:
            return f"still waiting for {self.url}"
        took = f"after {r.latency_ms / 1000:.2f} s"
        if r.status is not None:
            return f"HTTP {r.status}{f' from {r.server}' if r.server else ''} {took}"
        return f"failed {took}: {r.error}"

    def __repr__(self) -> str:
        return self.result() if self.done else f"LongRequest({self.url}): still running"
