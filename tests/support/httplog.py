"""``LOGGED``: the head (global and defaults) of a config whose every request goes to stdout as an httplog
line, on the engine and on real haproxy alike; the tests that compare log lines build on it."""
from __future__ import annotations

LOGGED = """global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
"""
