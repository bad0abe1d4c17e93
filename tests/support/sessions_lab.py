"""Lesson 08's rate-limit setup for tests: ratelimit.cfg on free ports, with the lesson's session servers.

``ratelimit_config(port, servers, period="10s")`` is haproxy/ratelimit.cfg with its frontend on ``port``,
its three servers on ``servers`` and, when asked, a shorter rate period (tests keep their runs short).
"""
from __future__ import annotations

from support.paths import ROOT

LESSON_SERVERS = (8201, 8202, 8203)


def ratelimit_config(port: int, servers, period: str = "10s", extra: str = "") -> str:
    text = (ROOT / "haproxy" / "ratelimit.cfg").read_text().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    for old, new in zip(LESSON_SERVERS, servers):
        text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
    text = text.replace("_rate(10s)", f"_rate({period})")
    if extra:
        text = text.replace("    default_backend carts", extra.rstrip() + "\n    default_backend carts")
    return text
