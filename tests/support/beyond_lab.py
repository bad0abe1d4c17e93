"""Lesson 10's balancer pair in tests: what they need (namespaces, keepalived) and a small site to balance.

``require_netns()``/``require_keepalived()`` skip with the reason, or fail under LAB_REQUIRE_NETNS=1 /
LAB_REQUIRE_KEEPALIVED=1. ``site(lab)`` makes a client host (10.0.0.2) and two web hosts (10.0.0.11 and .12)
running backends/app.py on port 80, and returns (client, servers) once both answer the client.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from labsupport.course.hosts import Host, Lab
from labsupport.lessons.beyond.pair import keepalived_binary
from support.paths import ROOT

WEBS = {"web1": "10.0.0.11", "web2": "10.0.0.12"}
FETCH = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)"


def _missing(env: str, reason: str) -> None:
    if os.environ.get(env) == "1":
        pytest.fail(f"{env}=1 but {reason}")
    pytest.skip(f"{reason} (set {env}=1 to make this a failure)")


def require_netns() -> None:
    if not Lab.available():
        _missing("LAB_REQUIRE_NETNS", f"no network namespaces for this account: {Lab.why_not()}")


def require_keepalived() -> None:
    require_netns()
    if keepalived_binary() is None:
        _missing("LAB_REQUIRE_KEEPALIVED", "'keepalived' is not installed (sudo apt-get install keepalived)")


def expected_kind() -> str | None:
    """'haproxy' when the run requires real HAProxy (LAB_REQUIRE_HAPROXY=1), else None (either will do)."""
    return "haproxy" if os.environ.get("LAB_REQUIRE_HAPROXY") == "1" else None


def site(lab: Lab) -> tuple[Host, dict[str, str]]:
    client = lab.host("client", "10.0.0.2")
    servers = {}
    for name, address in WEBS.items():
        lab.host(name, address).popen([sys.executable, str(ROOT / "backends" / "app.py"), "80", "--host", address],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers[name] = f"{address}:80"
    deadline = time.monotonic() + 60
    for target in servers.values():
        while client.run([sys.executable, "-c", FETCH, f"http://{target}/"], timeout=30).returncode != 0:
            assert time.monotonic() < deadline, f"the web server {target} does not answer the client"
            time.sleep(0.1)
    return client, servers
