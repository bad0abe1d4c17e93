"""One call that stops everything the course started from this kernel.

Notebooks call ``stop_all()`` in their first cell, so running a notebook a second time (or after
an error halfway) never meets "address already in use" from its own earlier run.
"""
from __future__ import annotations

import sys

from . import dnslab, fleet, haproxy
from .engine import balancer


def stop_all() -> None:
    """Stop every application server, DNS server, engine and real haproxy this kernel started."""
    widgets = sys.modules.get("labsupport.widgets")  # no dashboard can exist unless widgets was imported
    if widgets is not None:
        widgets.close_dashboards()  # first: a live dashboard's traffic would otherwise hit the next run's balancer
    timelines = sys.modules.get("labsupport.healthwidget")
    if timelines is not None:
        timelines.close_timelines()
    stop_processes()


def stop_processes() -> None:
    """Stop the balancers, real haproxy, DNS servers and application servers (not the dashboards)."""
    balancer.stop_all()
    haproxy.stop_all()
    dnslab.stop_all_dns()
    fleet.stop_all()
    widgets = sys.modules.get("labsupport.widgets")
    if widgets is not None:
        widgets.close_panels()  # last: the panels' final look shows the servers stopped
