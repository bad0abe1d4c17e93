"""Lesson 07, part B: certificates by name, HTTPS through the engine, the app over TLS, the HTTPS exercise."""
from __future__ import annotations

import json

import pytest
from support.edge_lab import edge_lab

from labsupport.course.certs import LabCA
from labsupport.course.fleet import Fleet
from labsupport.errors import UsageError
from labsupport.lessons.edge.exercises import check_edge_https
from labsupport.lessons.edge.services import ask, route_table, start_services
from labsupport.lessons.edge.tls import certificates

SOLUTION = """
frontend exercise
    bind 127.0.0.1:8002
    bind 127.0.0.1:8445 ssl crt "${LAB_RUN}/certs/edge"
    http-request redirect scheme https code 301 unless { ssl_fc }
    http-request set-header X-Forwarded-Proto https if { ssl_fc }
    option forwardfor
    use_backend api_v2 if { ssl_fc_sni -i api.lab }
    default_backend web
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lesson's certificates in a LAB_RUN of their own, its services, and edge-tls.cfg on the engine."""
    def start(fleet, ca):
        start_services(fleet, ["web", "api-v2"])
        start_services(fleet, ["shop"], https_only=["shop"])
    with edge_lab(tmp_path_factory, "edge-tls.cfg", start) as lab:
        yield lab


def test_each_name_gets_its_certificate_and_a_browser_says_why_not(lab):
    ca, lb = lab
    table = certificates(lb, ["api.lab", "STATIC.lab", "nobody.lab", None], cafile=ca.ca_file)
    assert table.column("certificate served") == ["api.lab", "www.lab", "www.lab", "www.lab"]
    assert table.column("a browser trusting the lab CA") == [
        "trusted", "trusted", "refused: Hostname mismatch, certificate is not valid for 'nobody.lab'.",
        "(browsers always send a name)"]


def test_https_requests_redirects_and_the_shops_loop(lab):
    ca, lb = lab
    cafile = ca.ca_file
    t = route_table(["GET api.lab /v2/x", "GET shop.lab /cart"], https=True, cafile=cafile, engine=lb)
    assert t.column("engine") == ["api-v2", "302 to https://shop.lab/cart"]  # the shop cannot know: a loop
    assert route_table(["GET www.lab /a?b=1"], engine=lb).column("engine") == ["301 to https://www.lab/a?b=1"]
    assert ask(lb.urls[1], "/", host="www.lab", cafile=cafile).reply_header("Strict-Transport-Security") == "max-age=31536000"
    untrusted = ask(lb.urls[1], "/", host="www.lab", cafile=ca.rogue().ca_file)
    assert untrusted.status is None and untrusted.who.startswith("refused: ")


def test_a_service_over_tls_is_started_and_asked_by_its_fleet(tmp_path):
    ca = LabCA(tmp_path)
    cert, key = ca.cert_and_key("api.internal", folder=tmp_path)
    with Fleet() as fleet:
        port, = fleet.start(count=1, name="api-tls", tls=(cert, key))
        assert fleet.health_mode(port) == "ok"  # its admin endpoint, over HTTPS
        a = ask(f"https://127.0.0.1:{port}", "/x", host="api.internal", cafile=ca.ca_file)
        assert (a.status, a.who, a.path) == (200, "api-tls", "/x")
        assert json.loads(fleet.ask(port, "/info"))["port"] == port


def test_the_https_exercise_passes_with_the_solution_and_says_what_is_missing(lab):
    ca, _ = lab
    cafile = ca.ca_file
    solved = check_edge_https(SOLUTION, cafile)
    assert solved.passed, repr(solved)
    start = check_edge_https("\n".join(line for line in SOLUTION.splitlines()
                                       if "redirect" not in line and "forwardfor" not in line), cafile)
    assert not start.passed
    assert "http://www.lab/cart?id=3 got web, expected 301 to https://www.lab/cart?id=3" in start.details
    assert any("X-Forwarded-For None" in d for d in start.details)
    one_bind = check_edge_https(SOLUTION.replace("    bind 127.0.0.1:8002\n", ""), cafile)
    assert not one_bind.passed and "two bind lines" in one_bind.details[0]
    with pytest.raises(UsageError, match="text of a frontend section"):
        check_edge_https("bind :1", cafile)
