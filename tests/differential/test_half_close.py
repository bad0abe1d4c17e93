"""A client that sends a complete request and then shuts down its sending side (``shutdown(SHUT_WR)``,
as HTTP/1.0 clients and ``nc -q`` do) still gets its answer from real HAProxy 2.6, in mode http and
mode tcp, as from the engine (tests/engine/test_half_close.py); then the proxy closes. The backend is
``recorder.Recorder``.
"""
from __future__ import annotations

import pytest
from support.half_close import BODIES, REQUESTS, ask_then_half_close, bodies, config
from support.recorder import Recorder, statuses

from labsupport.course.haproxy import HAProxy
from labsupport.ports import free_ports


@pytest.fixture(scope="module")
def proxy(haproxy_bin):
    backend = Recorder()
    http_port, tcp_port = free_ports(2)
    hx = HAProxy.from_text(config(http_port, tcp_port, backend.port), "halfclose.cfg", binary=haproxy_bin).start()
    yield {"http": http_port, "tcp": tcp_port}
    hx.stop()
    backend.close()


@pytest.mark.parametrize("mode", ["http", "tcp"])
@pytest.mark.parametrize("what", sorted(REQUESTS))
def test_half_closed_client_gets_its_answer(proxy, mode, what):
    got = ask_then_half_close(proxy[mode], REQUESTS[what])
    if what == "two" and mode == "http":
        # real haproxy answers the second pipelined request of a half-closed client only sometimes
        # (it may close as soon as the first answer is out); the engine answers both, always
        assert bodies(got) in (BODIES[what], BODIES[what][:1])
        return
    assert statuses(got) == ["200"] * len(BODIES[what]), got[:200]
    assert bodies(got) == BODIES[what]
