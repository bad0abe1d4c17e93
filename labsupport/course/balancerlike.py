"""What the lessons drive on a balancer: the course's engine (``Balancer``) and real HAProxy
(``HAProxy``) both offer it, so every experiment, chart and widget takes either.

A ``typing.Protocol``: neither class inherits from it; ``tests/course/test_balancerlike.py`` checks
that both satisfy it. What only one of them can do is a plain attribute of the protocol
(``reloads_config``), never a question asked with ``hasattr``.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class BalancerLike(Protocol):
    """A running (or startable) load balancer the lessons can steer and read."""

    #: True when ``reload(config)`` swaps the configuration while the ports stay open (the engine);
    #: real HAProxy run by the course changes its file only by a restart.
    reloads_config: bool

    @property
    def running(self) -> bool: ...

    @property
    def ports(self) -> list[int]: ...

    @property
    def urls(self) -> list[str]: ...

    @property
    def text(self) -> str: ...

    @property
    def socket_path(self) -> str | None: ...

    def stop(self, timeout: float = ...) -> None: ...

    def snapshot(self) -> Any: ...

    def stats_csv(self) -> str: ...

    def events(self, since: int = 0) -> tuple[list[str], int]: ...

    def logs(self, since: int = 0) -> tuple[list[str], int]: ...

    def reload(self, config: Any) -> None: ...

    def set_weight(self, server: str, weight: int | str) -> None: ...

    def set_state(self, server: str, state: str) -> None: ...

    def enable(self, server: str) -> None: ...

    def disable(self, server: str) -> None: ...
