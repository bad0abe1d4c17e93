"""``config``: a frontend and a backend whose servers fill the stats rows' columns every way (a checked live
server, an unchecked one of weight 2, a checked dead one); ``rows`` reads a stats CSV into dicts by
HAProxy's column names."""
from __future__ import annotations

import csv
import io


def config(port: int, b1: int, b2: int, dead: int) -> str:
    return f"""
global
    maxconn 500
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:{b1} check inter 200ms
    server s2 127.0.0.1:{b2} weight 2
    server s3 127.0.0.1:{dead} check inter 200ms
"""


def rows(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line]
    header = lines[0][2:].split(",")[:-1]
    return [dict(zip(header, r)) for r in csv.reader(io.StringIO("\n".join(lines[1:])))]
