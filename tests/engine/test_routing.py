"""Content switching on the engine: ``use_backend ... if|unless`` and ``default_backend``.

One frontend holds every kind of rule the course uses, in an order where first-match-wins matters:
``hdr(host)`` with and without ``-i``, ``path_beg`` with and without ``-i``, ``path``, a named ACL with
two values, ``unless``, and ``default_backend`` for the rest (tests/support/routing.py). Each backend has
one tiny raw server that answers its own backend's name, so the body of each answer says which backend
the request was routed to. ``ROUTES`` is what HAProxy 2.6's rules say should happen; the engine is checked
against it, and tests/differential/test_routing.py sends the same requests to real HAProxy running the
same text (``port_map``).
"""
from __future__ import annotations

import pytest
from support.routing import BACKENDS, ROUTES, NamedServer, config, routed_to, start_with_retry

from labsupport.balancer import Balancer


@pytest.fixture(scope="module")
def servers():
    named = {name: NamedServer(name) for name in BACKENDS}
    yield named
    for srv in named.values():
        srv.close()


@pytest.fixture(scope="module")
def engine(servers):
    port, lb = start_with_retry(lambda p: Balancer.from_text(config(p, servers)))
    yield port, lb
    lb.stop()


def test_the_rules_parse_without_warnings(engine):
    _, lb = engine
    assert [str(w) for w in lb.warnings] == []


@pytest.mark.parametrize("host,path,backend", ROUTES, ids=[f"{h}{p}" for h, p, _ in ROUTES])
def test_engine_routes_like_haproxy(engine, host, path, backend):
    port, _ = engine
    assert routed_to(port, host, path) == backend
