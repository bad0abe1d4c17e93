"""BalancerLike: what the lessons drive on a balancer; the engine's Balancer and real HAProxy both offer it."""
from __future__ import annotations

import inspect

import pytest

from labsupport import Balancer, BalancerLike, HAProxy, MasterWorker
from labsupport.ports import free_ports

CONFIG = ("defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"
          "frontend f\n  bind 127.0.0.1:{port}\n  default_backend b\nbackend b\n  server s1 127.0.0.1:9\n")


def unstarted(cls):
    """One of each, not started (HAProxy's binary is never run here)."""
    text = CONFIG.format(port=free_ports(1)[0])
    if cls is MasterWorker:
        return MasterWorker.from_text(text, engine=True)
    return Balancer.from_text(text) if cls is Balancer else HAProxy.from_text(text, binary="/nonexistent/haproxy")

MEMBERS = sorted({n for n in vars(BalancerLike) if not n.startswith("_")} | set(BalancerLike.__annotations__))


def test_the_protocol_names_what_the_lessons_use():
    assert {"reloads_config", "ports", "urls", "text", "snapshot", "stats_csv", "logs", "set_weight",
            "set_state", "reload", "stop"} <= set(MEMBERS)


@pytest.mark.parametrize("cls", [Balancer, HAProxy, MasterWorker], ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", MEMBERS)
def test_both_balancers_have_every_member_with_a_compatible_signature(cls, name):
    assert name in dir(unstarted(cls)), f"{cls.__name__} lacks {name}"
    wanted = getattr(BalancerLike, name, None)
    if callable(wanted) and not isinstance(inspect.getattr_static(BalancerLike, name), property):
        have = inspect.signature(getattr(cls, name))
        for param in inspect.signature(wanted).parameters.values():
            assert param.name in have.parameters, f"{cls.__name__}.{name} has no parameter {param.name}"


def test_only_the_engine_reloads_its_configuration_in_place():
    assert Balancer.reloads_config is True and HAProxy.reloads_config is False


def test_a_running_engine_is_a_balancerlike_and_says_where_it_listens():
    assert isinstance(unstarted(HAProxy), BalancerLike) and isinstance(unstarted(MasterWorker), BalancerLike)
    with unstarted(Balancer).start() as lb:
        assert isinstance(lb, BalancerLike)
        assert lb.text.startswith("defaults") and lb.urls and lb.ports
