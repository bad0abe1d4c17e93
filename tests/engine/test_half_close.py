"""A client that sends a complete request and then shuts down its sending side (``shutdown(SHUT_WR)``,
as HTTP/1.0 clients and ``nc -q`` do) still gets its answer from the engine, in mode http and mode tcp;
then the proxy closes. The backend is ``recorder.Recorder``. (The same requests through real HAProxy 2.6:
tests/differential/test_half_close.py.)
"""
from __future__ import annotations

import pytest
from support.half_close import BODIES, REQUESTS, ask_then_half_close, bodies, config
from support.recorder import Recorder, statuses

from labsupport.balancer import Balancer
from labsupport.ports import free_ports


@pytest.fixture(scope="module")
def proxy():
    backend = Recorder()
    http_port, tcp_port = free_ports(2)
    lb = Balancer.from_text(config(http_port, tcp_port, backend.port)).start()
    yield {"http": http_port, "tcp": tcp_port}
    lb.stop()
    backend.close()


@pytest.mark.parametrize("mode", ["http", "tcp"])
@pytest.mark.parametrize("what", sorted(REQUESTS))
def test_half_closed_client_gets_its_answer(proxy, mode, what):
    got = ask_then_half_close(proxy[mode], REQUESTS[what])
    assert statuses(got) == ["200"] * len(BODIES[what]), got[:200]
    assert bodies(got) == BODIES[what]
