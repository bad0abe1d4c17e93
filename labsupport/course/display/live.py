"""A live loop: call a function every few seconds in a daemon thread, always bounded in time.

Live widgets redraw from one of these. It stops after ``max_seconds`` (a few seconds when the
course runs headless, as in ``make test``, so nbval never waits on it) or on ``stop()``; the tick
never prints and never kills the loop (the next tick retries).
"""
from __future__ import annotations

import threading
import time

from ... import lifecycle
from ..environment import HEADLESS


def live_seconds(requested: float) -> float:
    """How long a live loop may run: as asked, but only a moment when running headless."""
    return min(requested, 3.0) if HEADLESS else requested


class LiveLoop:
    """Call ``tick`` every ``interval`` seconds in a daemon thread until stopped or out of time."""

    def __init__(self, tick, interval: float, max_seconds: float, on_end=None):
        self._tick, self.interval, self.max_seconds = tick, interval, live_seconds(max_seconds)
        self._on_end = on_end
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                self._tick()
            except Exception:  # a background loop must never print or die noisily; next tick retries
                pass
            self._stop.wait(self.interval)
        if self._on_end is not None:
            try:
                self._on_end()  # the last picture says it is no longer live
            except Exception:
                pass

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class LivePanel:
    """What every live widget offers its notebook: ``running`` while its ``LiveLoop`` (``self.loop``) redraws
    it, and ``close()`` (also ``stop()``) to stop redrawing; what it watches goes on."""

    loop: LiveLoop

    @property
    def running(self) -> bool:
        return self.loop.running

    def close(self) -> None:
        """Stop redrawing (what the panel watches goes on)."""
        lifecycle.unregister(self)
        self.loop.stop()

    def stop(self) -> None:
        self.close()
