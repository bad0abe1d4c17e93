"""Network namespaces for tests of lesson 10's hosts: skip with the reason when this account cannot make them,
fail instead under LAB_REQUIRE_NETNS=1 (as tests/course/test_hosts.py does), and wait for a condition."""
from __future__ import annotations

import os
import time

import pytest

from labsupport.course.hosts import Lab


def require_netns() -> None:
    """Skip (or fail under LAB_REQUIRE_NETNS=1) when no Lab can be made here."""
    if not Lab.available():
        reason = f"no network namespaces for this account: {Lab.why_not()}"
        if os.environ.get("LAB_REQUIRE_NETNS") == "1":
            pytest.fail(f"LAB_REQUIRE_NETNS=1 but {reason}")
        pytest.skip(reason + " (set LAB_REQUIRE_NETNS=1 to make this a failure)")


def wait_until(what: str, test, timeout: float = 30.0):
    """``test()``'s first true value, polled until ``timeout`` seconds have passed (then the test fails)."""
    deadline = time.monotonic() + timeout
    while not (value := test()):
        assert time.monotonic() < deadline, f"{what}: not after {timeout:.0f} s"
        time.sleep(0.05)
    return value
