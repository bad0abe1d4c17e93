"""The runtime API's lab config: one frontend and backend with three stats sockets (admin, operator, user)
under ``{dir}``; s1 is checked every 60 s (after its first check its state only changes when a command
changes it), s2 is not checked."""
from __future__ import annotations

CONFIG = """global
    maxconn 500
    stats socket {dir}/admin.sock level admin
    stats socket {dir}/operator.sock level operator
    stats socket {dir}/user.sock level user
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{s1} check inter 60s
    server s2 127.0.0.1:{s2}
"""
