"""For the tests of PortInUseError's messages: run a cell in a real kernel and read the one-line error it
shows, pull the hint's call out of a message, and wait (with a deadline) until a port is free again."""
from __future__ import annotations

import re
import socket
import time

from test_errors import ANSI, run


def shown_error(kc, code: str) -> str:
    """Run ``code`` in the kernel, which must fail with one course error; return that one line as shown."""
    status, out = run(kc, code)
    shown = [[ANSI.sub("", line) for line in o["traceback"]] for o in out if o["type"] == "error"]
    assert status == "error" and len(shown) == 1 and len(shown[0]) == 1, f"not one one-line error: {out}"
    return shown[0][0]


def ok(kc, code: str) -> str:
    """Run ``code`` in the kernel, which must succeed; return what it printed."""
    status, out = run(kc, code)
    assert status == "ok", f"{code!r} failed: {out}"
    return "".join(o.get("text", "") for o in out if o["type"] == "stream")


def suggested_call(message: str) -> str:
    """The call a hint says to run: 'Stop it with fleet.stop("127.0.0.3:8080"), or ...' -> that call."""
    m = re.search(r"Stop it with (.+?\)), or ", message) or re.search(r"Stop it: (stop_all\(\))", message)
    assert m, f"no call to run in: {message}"
    return m.group(1)


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_free(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> float:
    """Seconds until ``port`` on ``host`` can be bound again; fails after ``timeout``."""
    start = time.monotonic()
    while not is_free(port, host):
        if time.monotonic() - start > timeout:
            raise AssertionError(f"port {port} on {host} still taken after {timeout:g} s")
        time.sleep(0.05)
    return time.monotonic() - start


def hint_frees(kc, start: str, refused: str, expected: str, port: int, host: str = "127.0.0.1") -> str:
    """In the kernel: ``start`` takes the port, ``refused`` then fails with a message matching ``expected``
    (a regular expression, whole); run the call its hint gives, and show the port free. Returns the message."""
    ok(kc, start)
    message = shown_error(kc, refused)
    assert re.fullmatch(expected, message), message
    ok(kc, suggested_call(message))  # what the student does next
    wait_free(port, host)
    return message
