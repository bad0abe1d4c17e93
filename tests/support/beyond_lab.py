"""Lesson 10's balancer pair in tests: what they need (namespaces, keepalived) and a small site to balance.

``require_keepalived()`` skips with the reason (namespaces first: support.netns), or fails under
LAB_REQUIRE_NETNS=1 / LAB_REQUIRE_KEEPALIVED=1. ``site(lab)`` makes a client host (10.0.0.2) and two web hosts
(10.0.0.11 and .12) running backends/app.py on port 80, and returns (client, servers) once both answer.
"""
from __future__ import annotations

import os

import pytest

from labsupport.course.hosts import Host, Lab
from labsupport.lessons.beyond.labsite import build_site
from labsupport.lessons.beyond.pair import keepalived_binary
from support.netns import require_netns


def require_keepalived() -> None:
    require_netns()
    if keepalived_binary() is None:
        reason = "'keepalived' is not installed (sudo apt-get install keepalived)"
        if os.environ.get("LAB_REQUIRE_KEEPALIVED") == "1":
            pytest.fail(f"LAB_REQUIRE_KEEPALIVED=1 but {reason}")
        pytest.skip(f"{reason} (set LAB_REQUIRE_KEEPALIVED=1 to make this a failure)")


def expected_kind() -> str | None:
    """'haproxy' when the run requires real HAProxy (LAB_REQUIRE_HAPROXY=1), else None (either will do)."""
    return "haproxy" if os.environ.get("LAB_REQUIRE_HAPROXY") == "1" else None


def site(lab: Lab) -> tuple[Host, dict[str, str]]:
    """Hosts client, web1 and web2 (lesson 10's ``build_site``); (client, {name: 'address:80'})."""
    made = build_site(lab, servers=2)
    return made.client, {name: f"{address}:{made.port}" for name, address in made.servers.items()}
