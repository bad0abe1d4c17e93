"""Tricky requests through real HAProxy 2.6 in front of a backend that records every request it gets: each
case of tests/support/request_cases.py must still give the answers recorded in tests/vectors/requests.json
(the engine is checked against the same vectors in tests/engine/test_requests.py)."""
from __future__ import annotations

import pytest
from support.recorder import Recorder
from support.request_cases import cases, config, exchange, recorded, want

from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy

VECTOR = recorded()
NAMES = [name for name, _ in cases()]


@pytest.fixture(scope="module")
def haproxy_lab(haproxy_bin):
    rec = Recorder()
    port, = free_ports(1)
    hx = HAProxy.from_text(config(port, rec.port), "requests.cfg", binary=haproxy_bin).start()
    try:
        yield port, rec
    finally:
        hx.stop()
        rec.close()


@pytest.mark.parametrize("name", NAMES)
def test_haproxy_gives_the_recorded_answers(haproxy_lab, name):
    port, rec = haproxy_lab
    assert exchange(port, rec, dict(cases())[name].encode("latin-1")) == want(VECTOR, name)
