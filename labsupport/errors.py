"""The library's errors, grouped by who must act.

- ``ConfigError``: the student must fix a configuration file (messages carry file:line).
- ``PortInUseError`` / ``ServerStartError``: something on the machine is in the way.
- ``ToolMissingError``: an optional system tool (haproxy, dig) is not installed.
- ``NotRunningError``: the student asked a stopped balancer for its address.
- ``CommandError``: a runtime command (``set_weight``, ``set_state`` ...) refused, in HAProxy's words.
- ``UsageError``: a library function was given a value it cannot use (the code in the cell must change).
- ``NotFoundError``: a name that is not there (a server, a proxy, a stats row); the message lists those that are.
Every message says where the problem is and what to do, like a compiler.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass


class LabError(Exception):
    """Base class for every error the course library raises on purpose."""


@dataclass(frozen=True)
class Message:
    """One located diagnostic, as haproxy prints it (``level`` is ALERT, WARNING or NOTICE)."""

    level: str
    text: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def __str__(self) -> str:
        out = f"[{self.level}] {self.text}"
        if self.hint:
            out += f"\n    hint: {self.hint}"
        return out


class ConfigError(LabError):
    """A configuration that haproxy would refuse. ``messages`` holds every problem found in one pass."""

    def __init__(self, messages: list[Message] | tuple[Message, ...], path: str | None = None):
        self.messages = tuple(messages)
        self.path = path
        super().__init__("\n".join(str(m) for m in self.messages) or "invalid configuration")


class PortInUseError(LabError):
    """A port someone wanted to listen on is already taken (by ``holder`` when it could be found).

    ``labsupport.ports.in_use`` builds it: ``holder`` says who, from the student's side (this notebook,
    another notebook's kernel, another program), and ``hint`` what frees the port."""

    def __init__(self, port: int, host: str = "127.0.0.1", holder: str | None = None, hint: str | None = None):
        self.port, self.host, self.holder = port, host, holder
        who = f" by {holder}" if holder else " by another program"
        super().__init__(
            f"port {port} on {host} is already in use{who}. "
            + (hint or "Stop that program, or choose another port.")
        )


class ServerStartError(LabError):
    """An application server died or never answered during start-up; carries the tail of its log."""

    def __init__(self, message: str, log_tail: str = ""):
        self.log_tail = log_tail
        super().__init__(message + (f"\n--- last lines of its log ---\n{log_tail}" if log_tail else ""))


class ServerNotRunningError(LabError):
    """An action needs a running application server, and this one is stopped or killed."""

    def __init__(self, address: str, port: int):
        super().__init__(f"server {address} is not running: start it again first (fleet.restart({port})).")


class NotRunningError(LabError):
    """Something was asked for its address while it is not running (its start failed, or it was stopped)."""


class ToolMissingError(LabError):
    """An optional system program is not installed."""

    def __init__(self, tool: str, install: str, adds: str = ""):
        self.tool, self.install = tool, install
        super().__init__(f"'{tool}' is not installed{(': ' + adds) if adds else ''}. Install it with: {install}")


class CommandError(LabError, ValueError):
    """A runtime command refused, with HAProxy's CLI message (which says what it accepts).

    Also a ``ValueError``, as the refused value is what is wrong."""


class UsageError(LabError, ValueError):
    """A function was called with a value it cannot use; the message names the value and what to give
    instead. Also a ``ValueError``, so callers that catch ``ValueError`` keep working."""


class NotFoundError(LabError, KeyError):
    """A name looked up that is not there; the message lists the names that are. Also a ``KeyError``,
    so callers that catch ``KeyError`` keep working."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class WaitTimeout(LabError, TimeoutError):
    """Something waited for did not happen in time; the message says what, and what it is instead."""


def show_briefly(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython handler: a LabError shows as 'NameOfError: message' (the message carries the hint)."""
    stb = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
    shell._showtraceback(etype, value, stb)  # the error output a frontend shows, in place of a traceback
    return stb


def show_lab_errors_briefly() -> bool:
    """In an IPython kernel, let a ``LabError`` reaching a cell read as its message, not a traceback.

    Other exceptions (genuine bugs) keep their full traceback. Does nothing outside IPython.
    """
    if "IPython" not in sys.modules:  # a plain script or the command line: Python's usual report
        return False
    shell = sys.modules["IPython"].get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    if LabError in getattr(shell, "custom_exceptions", ()):  # already (the course's kernel also rescues NameErrors)
        return True
    shell.set_custom_exc((LabError,), show_briefly)
    return True
