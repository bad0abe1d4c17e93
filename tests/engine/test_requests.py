"""Tricky requests through the engine, in front of a backend
that records every request it gets (request smuggling through upgrades, HAProxy's limits and
checks, malformed heads).

For each case of tests/support/request_cases.py the engine must give the client the same status codes
and error page as HAProxy did (tests/vectors/requests.json), and its backend must receive exactly
the same requests -- the probe sent afterwards on another connection included, so a server
connection left mid-message (a desync) shows. Where the engine is deliberately stricter
(``STRICTER``, listed in the README) it must refuse with its own status and forward nothing.
Real HAProxy must still give the recorded answers: tests/differential/test_requests.py.
"""
from __future__ import annotations

import socket

import pytest
from support.recorder import TIMEOUT, Recorder, read_all, statuses
from support.request_cases import PROBE, STRICTER, cases, config, exchange, normalise, recorded, want

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.engine.proxy.pages import page

VECTOR = recorded()
NAMES = [name for name, _ in cases()]
PROBE_SEEN = ["GET", "/probe", [["host", "lab"]], ""]


def test_vectors_cover_every_case():
    assert sorted(VECTOR) == sorted(NAMES), "regenerate tests/vectors/requests.json (python tests/support/request_cases.py)"
    assert set(STRICTER) <= set(NAMES)


@pytest.fixture(scope="module")
def engine_lab():
    rec = Recorder()
    port, = free_ports(1)
    lb = Balancer.from_text(config(port, rec.port)).start()
    try:
        yield port, rec
    finally:
        lb.stop()
        rec.close()


@pytest.mark.parametrize("name", NAMES)
def test_engine_like_haproxy(engine_lab, name):
    port, rec = engine_lab
    got = exchange(port, rec, dict(cases())[name].encode("latin-1"))
    if name in STRICTER:
        code, why = STRICTER[name]
        assert VECTOR[name]["status"] == ["200"], f"HAProxy refuses it too now: drop it from STRICTER ({why})"
        assert got == {"status": [code], "page": page(int(code)).decode("latin-1"), "probe": ["200"],
                       "seen": [PROBE_SEEN]}
    else:
        assert got == want(VECTOR, name)


def _in_pieces(port: int, data: bytes, size: int) -> list[str]:
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for i in range(0, len(data), size):
                s.sendall(data[i:i + size])
        except (BrokenPipeError, ConnectionResetError):  # refused before the end: fine
            pass
        return statuses(read_all(s))


@pytest.mark.parametrize("name", ["20 KB request line", "head of 15274 bytes (long value)",
                                  "head of 15273 bytes (long value)", "101 header fields"])
def test_limits_hold_in_small_reads(engine_lab, name):
    """The same verdict whether the head arrives in one read or in 1000-byte pieces."""
    port, rec = engine_lab
    rec.reset()
    assert _in_pieces(port, dict(cases())[name].encode("latin-1"), 1000) == VECTOR[name]["status"]


def test_probe_is_a_real_check(engine_lab):
    """The probe does see a desync: a server connection left with stray bytes mangles it."""
    rec = engine_lab[1]
    rec.reset()
    with socket.create_connection(("127.0.0.1", rec.port), TIMEOUT) as s:  # straight to the backend
        s.sendall(b"POST /x HTTP/1.1\r\nHost: lab\r\nContent-Length: 0\r\n\r\nGET /ad")
        s.sendall(PROBE)
        s.settimeout(TIMEOUT)
        read_all(s)
    seen = normalise(rec.seen())
    assert seen[0][:2] == ["POST", "/x"] and PROBE_SEEN not in seen and seen[1][0] == "GARBAGE"
