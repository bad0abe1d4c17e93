"""Lesson 07, part B, sections 9 and 10: the vault over TLS behind the engine (good CA, wrong CA), the table
of what the health checks found, and the TLS cost measurement."""
from __future__ import annotations

import pytest
from support.edge_lab import edge_lab
from support.paths import ROOT

from labsupport.errors import UsageError
from labsupport.lessons.edge.services import route_table, start_services
from labsupport.lessons.edge.tls import server_checks
from labsupport.lessons.edge.tlscost import MODES, tls_cost
from labsupport.lessons.monitoring.monitor import wait_for_status

CONFIG = ROOT / "haproxy" / "edge-reencrypt.cfg"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lesson's certificates in a LAB_RUN of their own, web and the vault over TLS, edge-reencrypt.cfg."""
    def start(fleet, ca):
        start_services(fleet, ["web", "vault"], tls={"vault": ca.cert_and_key("vault.lab")})
    with edge_lab(tmp_path_factory, "edge-reencrypt.cfg", start) as lab:
        yield lab


def test_the_vault_is_checked_over_tls_and_refused_with_the_wrong_ca(lab):
    ca, lb = lab
    lb.reload(CONFIG.read_text())
    wait_for_status(lb, "vault/vault1", "UP")
    t = server_checks("vault", engine=lb, haproxy=None)
    assert [(r["server"], r["status"], r["check"]) for r in t.rows] == [("vault/vault1", "UP", "L6OK")]
    assert route_table(["GET www.lab /vault/x"], https=True, cafile=ca.ca_file, engine=lb).column("engine") == ["vault"]
    ca.rogue()
    lb.reload(CONFIG.read_text().replace("lab_ca.pem", "rogue_ca.pem"))
    wait_for_status(lb, "vault/vault1", "DOWN")
    t = server_checks("vault", engine=lb)
    assert [(r["status"], r["check"], r["what the check found"]) for r in t.rows] == [
        ("DOWN", "L6RSP", "Layer6 invalid response")]
    got = route_table(["GET www.lab /vault/x"], https=True, cafile=ca.ca_file, engine=lb).column("engine")
    assert got == ["503 Service Unavailable"]
    with pytest.raises(UsageError, match="engine has no backend 'nothing' with servers"):
        server_checks("nothing", engine=lb)
    with pytest.raises(UsageError, match="give at least one balancer"):
        server_checks("vault", haproxy=None)


def test_tls_cost_measures_each_way_of_connecting(lab):
    ca, lb = lab
    lb.reload(CONFIG.read_text())
    t = tls_cost(ca.ca_file, seconds=0.3, engine=lb)
    assert t.column("how the client connects") == list(MODES.values())
    assert all(n > 0 for n in t.column("engine req/s")) and all(n > 0 for n in t.column("engine CPU µs/request"))


@pytest.mark.parametrize("kwargs, message", [
    ({"seconds": 0}, "seconds must be a number from 0.2 to 10, not 0"),
    ({"seconds": "1"}, "seconds must be a number from 0.2 to 10, not '1'"),
    ({}, "give at least one balancer"),
])
def test_tls_cost_says_what_is_wrong(kwargs, message):
    with pytest.raises(UsageError, match=message):
        tls_cost("ca.pem", **kwargs)


def test_a_client_the_balancer_refuses_is_a_readable_error(lab, tmp_path):
    ca, lb = lab
    lb.reload(CONFIG.read_text())
    with pytest.raises(UsageError, match=r"the TLS client on port 8443 \(new connection\) failed: .*certificate verify"):
        tls_cost(ca.rogue("Other CA").ca_file, seconds=0.2, engine=lb)


def test_the_cost_figure_draws_a_bar_per_balancer_and_way():
    from labsupport.course.display.table import Table
    from labsupport.lessons.edge.tlscost import tls_cost_figure

    cost = Table([{"how the client connects": m, "engine req/s": 1, "engine CPU µs/request": 900 - 300 * k,
                   "haproxy req/s": 1, "haproxy CPU µs/request": 500 - 100 * k} for k, m in enumerate(MODES.values())])
    fig = tls_cost_figure(cost)
    ax = fig.axes[0]
    assert len(ax.patches) == 6 and [t.get_text() for t in ax.get_yticklabels()] == list(MODES.values())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["engine", "haproxy"]
    with pytest.raises(UsageError, match="needs the table tls_cost"):
        tls_cost_figure(Table([{"a": 1}]))
