"""The lab's picture and table (labsupport/lessons/beyond/topology.py): one box per host the kernel reports, an
unplugged host drawn DOWN, notes and roles, fourteen hosts in two rows, wrong arguments refused plainly.

Most tests draw from a topology snapshot (a dict, what ``Lab.topology()`` returns), so they need no
namespaces; the last ones draw a real lab before and after a host is unplugged."""
from __future__ import annotations

import io

import pytest
from matplotlib.patches import FancyBboxPatch
from support.netns import require_netns

from labsupport.course.hosts import Lab
from labsupport.errors import UsageError
from labsupport.lessons.beyond.topology import DOWN_FACE, GID, ROLE_COLORS, role_of, topology_figure, topology_table


def snapshot(names: list[tuple[str, str]], down: tuple[str, ...] = ()) -> dict:
    hosts = [{"name": n, "address": a, "interface": "eth0", "switch_port": f"h-{n}",
              "state": "DOWN" if n in down else "UP"} for n, a in names]
    return {"subnet": "10.0.0.0/24", "switch": "br0", "hosts": hosts, "links": [], "user_namespace": True}


SMALL = [("client", "10.0.0.2"), ("lb1", "10.0.0.3"), ("web1", "10.0.0.11"), ("web2", "10.0.0.12")]


def boxes(fig) -> dict[str, FancyBboxPatch]:
    ax = fig.axes[0]
    return {p.get_gid()[len("lab-host-"):]: p for p in ax.patches if (p.get_gid() or "").startswith("lab-host-")}


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_one_box_per_host_with_name_and_address():
    fig = topology_figure(snapshot(SMALL))
    assert fig.axes[0].get_gid() == GID == "lab-topology"
    assert fig.get_suptitle() == "Lab network 10.0.0.0/24: 4 hosts on switch br0"
    assert list(boxes(fig)) == ["client", "lb1", "web1", "web2"]
    for name, address in SMALL:
        assert name in texts(fig) and address in texts(fig)
    assert "br0  (switch)" in texts(fig)
    assert [p.get_gid() for p in fig.axes[0].patches].count("lab-switch") == 1
    assert all(box.get_label().endswith(" UP") for box in boxes(fig).values())
    png = io.BytesIO()
    fig.savefig(png, format="png")
    assert png.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unplugged_host_is_drawn_down():
    fig = topology_figure(snapshot(SMALL, down=("web2",)))
    drawn = boxes(fig)
    assert drawn["web2"].get_label() == "web2 DOWN" and drawn["web1"].get_label() == "web1 UP"
    assert drawn["web2"].get_linestyle() == "--" and drawn["web1"].get_linestyle() == "-"
    assert drawn["web2"].get_facecolor() != drawn["web1"].get_facecolor()
    assert drawn["web2"].get_facecolor()[:3] == pytest.approx(tuple(int(DOWN_FACE[i:i + 2], 16) / 255 for i in (1, 3, 5)))
    assert texts(fig).count("DOWN (unplugged)") == 1 and "h-web2\nDOWN" in texts(fig)
    assert fig.get_suptitle().endswith(", 1 cut off")
    assert "cut off (DOWN)" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_notes_and_roles():
    fig = topology_figure(snapshot(SMALL), roles={"web2": "balancer"}, holders={"lb1": "holds 10.0.0.100"})
    assert "holds 10.0.0.100" in texts(fig)
    drawn = boxes(fig)
    assert drawn["web2"].get_edgecolor()[:3] == drawn["lb1"].get_edgecolor()[:3]  # the role chose the colour
    assert [role_of(n) for n in ("client", "web3", "lb2", "far-web3", "dns", "router")] == [
        "client", "web server", "balancer", "far link", "DNS server", "host"]
    assert set(ROLE_COLORS) >= {role_of(n) for n, _ in SMALL}


def test_fourteen_hosts_sit_in_two_rows():
    names = [("client", "10.0.0.2")] + [(f"web{k}", f"10.0.0.{10 + k}") for k in range(1, 14)]
    fig = topology_figure(snapshot(names))
    drawn = boxes(fig)
    assert len(drawn) == 14
    above = [n for n, b in drawn.items() if b.get_y() > 0]
    below = [n for n, b in drawn.items() if b.get_y() < 0]
    assert len(above) == len(below) == 7
    lefts = sorted(b.get_x() for b in drawn.values() if b.get_y() > 0)
    assert all(b - a >= drawn["web1"].get_width() for a, b in zip(lefts, lefts[1:]))  # no two boxes overlap
    assert fig.get_size_inches()[0] <= 12  # still notebook width


def test_no_hosts_yet():
    fig = topology_figure(snapshot([]))
    assert boxes(fig) == {} and any("no hosts yet" in t for t in texts(fig))
    assert fig.get_suptitle() == "Lab network 10.0.0.0/24: 0 hosts on switch br0"


def test_the_table_says_the_same():
    table = topology_table(snapshot(SMALL, down=("lb1",)), holders={"web1": "serves /"})
    assert table.title == "Lab network 10.0.0.0/24: 4 hosts on switch br0, 1 cut off"
    assert table.columns == ["host", "address", "switch port", "state", "role", "note"]
    assert [(r["host"], r["state"], r["role"], r["note"]) for r in table] == [
        ("client", "UP", "client", ""), ("lb1", "DOWN (unplugged)", "balancer", ""),
        ("web1", "UP", "web server", "serves /"), ("web2", "UP", "web server", "")]


def test_wrong_arguments_are_refused_plainly():
    cases = [
        (lambda: topology_figure("lab"), "give a Lab (or what lab.topology() returned), not str"),
        (lambda: topology_table({"hosts": []}, holders={"lb9": "x"}),
         "holders= names 'lb9', not a host of this lab (hosts: none)"),
        (lambda: topology_figure(snapshot(SMALL), roles=["web1"]),
         "roles= is a dict of host name -> text, e.g. {'lb1': 'holds 10.0.0.100'}"),
        (lambda: topology_figure(snapshot(SMALL), holders={"lb2": "holds 10.0.0.100"}),
         "holders= names 'lb2', not a host of this lab (hosts: client, lb1, web1, web2)"),
    ]
    for call, message in cases:
        with pytest.raises(UsageError) as caught:
            call()
        assert str(caught.value) == message


# ---------------------------------------------------------------- from a real lab
@pytest.fixture()
def lab():
    require_netns()
    made = Lab()
    yield made
    made.stop()


def test_a_real_lab_is_drawn_from_what_the_kernel_reports(lab):
    for name, address in SMALL:
        lab.host(name, address)
    assert [b.get_label() for b in boxes(topology_figure(lab)).values()] == [
        "client UP", "lb1 UP", "web1 UP", "web2 UP"]
    lab["web2"].unplug()
    fig = topology_figure(lab, holders={"lb1": "holds 10.0.0.100"})
    assert boxes(fig)["web2"].get_label() == "web2 DOWN" and "holds 10.0.0.100" in texts(fig)
    assert topology_table(lab)[3]["state"] == "DOWN (unplugged)"
    lab["web2"].plug()
    assert boxes(topology_figure(lab))["web2"].get_label() == "web2 UP"
    assert [r["state"] for r in topology_table(lab)] == ["UP"] * 4


def test_without_namespaces_each_function_says_why(monkeypatch):
    from labsupport.course import hosts
    from labsupport.course.hosts import NamespacesUnavailableError
    from labsupport.lessons.beyond.distance import far
    from labsupport.lessons.beyond.labsite import build_site

    monkeypatch.setattr(hosts, "_probed", (None, "this account may not create namespaces here (demo)"))
    nolab = Lab.if_possible()
    for call in (lambda: topology_figure(nolab), lambda: topology_table(nolab), lambda: build_site(nolab),
                 lambda: far(nolab, "10.0.0.13")):
        with pytest.raises(NamespacesUnavailableError) as caught:
            call()
        assert str(caught.value) == "no lab network on this machine: this account may not create namespaces here (demo)"
