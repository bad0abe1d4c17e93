"""Lesson 07's explainer: the frontend's named ACLs on a typed request, following reloads."""
from __future__ import annotations

import pytest
from support.paths import ROOT

from labsupport.engine.balancer import Balancer
from labsupport.engine.config import parse
from labsupport.errors import UsageError
from labsupport.lessons.edge.explain import edge_acls


def test_each_named_acl_of_the_edge_config():
    lb = Balancer.from_file(ROOT / "haproxy" / "edge.cfg")
    explain = edge_acls(lb)
    assert explain("GET", "api.lab", "/static/x.css") == [("is_api", True), ("is_static", True), ("is_admin", False),
                                                          ("from_here", True)]
    assert dict(explain("GET", "api.lab:8000", "/admin"))["is_api"] is False  # the port is part of the header
    lb.config = parse("defaults\n mode http\nfrontend f\n bind :1\n acl x path /x\n default_backend b\n"
                      "backend b\n server s 127.0.0.1:1\n")  # what a reload does to it
    assert explain("GET", "h", "/x") == [("x", True)]


def test_a_wrong_balancer_or_frontend_is_one_line():
    with pytest.raises(UsageError, match="needs the course's Balancer"):
        edge_acls("http://127.0.0.1:8000")
    with pytest.raises(UsageError, match="no frontend named 'nope' \\(frontends: edge\\)"):
        edge_acls(Balancer.from_file(ROOT / "haproxy" / "edge.cfg"), "nope")
