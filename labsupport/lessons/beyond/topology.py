"""A picture of the lab's network, drawn from what the kernel reports (``Lab.topology()``), and the same as text.

    topology_figure(lab)                                   # the switch br0, a box per host, each cable
    topology_figure(lab, holders={"lb1": "holds 10.0.0.100"})   # a note under a host
    topology_table(lab)                                    # the same facts as a table (headless runs)

Why from the kernel: the picture must show what exists, not what a script meant to create. ``Lab.topology()``
asks the switch's namespace (``ip -o link show master br0``) which ports the bridge has and whether each is
up; a host whose cable was pulled (``host.unplug()``) has its port DOWN, and the picture draws it so: a grey
box, a broken red dashed cable, the word DOWN. A host whose port is gone altogether is drawn the same way.

Compute, then draw: both functions take a ``Lab`` or the dict its ``topology()`` returned (a snapshot), so a
test or a figure of an earlier moment needs no running lab. Roles come from the host names (``client``,
``web1``, ``lb1``, ``far-web3``, ``dns``...) unless ``roles`` says otherwise; they only choose the colour.

Layout: the switch is a bar; up to six hosts sit in one row under it, more in two rows (above and below),
so fourteen hosts still read at notebook width. The axes have the gid ``lab-topology`` and the figure's
title starts with "Lab network", for tests that look for the picture.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from ...course.display.charts import show_figures_inline
from ...course.display.table import Table
from ...course.hosts import Lab, NoLab
from ...errors import UsageError

GID = "lab-topology"
TITLE = "Lab network"
ONE_ROW = 6
# role -> (face colour, edge colour); light faces so the black text reads on every one
ROLE_COLORS = {
    "client": ("#dbe9f6", "#1f77b4"),
    "web server": ("#dcf0dc", "#2ca02c"),
    "balancer": ("#fde5cc", "#ff7f0e"),
    "far link": ("#eadff2", "#9467bd"),
    "DNS server": ("#f6dced", "#e377c2"),
    "host": ("#e8eef2", "#5a6b78"),
}
DOWN_FACE, DOWN_EDGE, DOWN_TEXT, CABLE = "#eeeeee", "#9a9a9a", "#c0392b", "#4a4a4a"
show_figures_inline()  # a Figure displays as its picture


def role_of(name: str) -> str:
    """The role a host's name suggests: client, web server, balancer, far link, DNS server, or host."""
    for prefix, role in (("client", "client"), ("web", "web server"), ("srv", "web server"), ("lb", "balancer"),
                         ("far", "far link"), ("dns", "DNS server")):
        if name.startswith(prefix):
            return role
    return "host"


def _snapshot(lab: Lab | Mapping) -> Mapping:
    if isinstance(lab, (Lab, NoLab)):
        return lab.topology()  # a NoLab says why this machine has no hosts
    if isinstance(lab, Mapping) and "hosts" in lab:
        return lab
    raise UsageError(f"give a Lab (or what lab.topology() returned), not {type(lab).__name__}")


def _check_names(what: str, given: Mapping[str, str] | None, names: list[str]) -> dict[str, str]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise UsageError(f"{what}= is a dict of host name -> text, e.g. {{'lb1': 'holds 10.0.0.100'}}")
    unknown = [n for n in given if n not in names]
    if unknown:
        raise UsageError(f"{what}= names {', '.join(map(repr, unknown))}, not a host of this lab "
                         f"(hosts: {', '.join(names) or 'none'})")
    return {n: str(t) for n, t in given.items()}


def _is_up(host: Mapping) -> bool:
    return host.get("state") == "UP"


def topology_table(lab: Lab | Mapping, roles: Mapping[str, str] | None = None,
                   holders: Mapping[str, str] | None = None) -> Table:
    """One row per host: name, address, its port on the switch and that port's state, role, note."""
    topo = _snapshot(lab)
    names = [h["name"] for h in topo["hosts"]]
    roles, holders = _check_names("roles", roles, names), _check_names("holders", holders, names)
    rows = [{"host": h["name"], "address": h["address"], "switch port": h["switch_port"],
             "state": "UP" if _is_up(h) else f"{h.get('state', 'gone')} (unplugged)",
             "role": roles.get(h["name"], role_of(h["name"])), "note": holders.get(h["name"], "")}
            for h in topo["hosts"]]
    down = sum(not _is_up(h) for h in topo["hosts"])
    return Table(rows, ["host", "address", "switch port", "state", "role", "note"],
                 title=f"{TITLE} {topo['subnet']}: {len(rows)} hosts on switch {topo['switch']}"
                       + (f", {down} cut off" if down else ""))


def topology_figure(lab: Lab | Mapping, roles: Mapping[str, str] | None = None,
                    holders: Mapping[str, str] | None = None) -> Figure:
    """The switch and every host on it, as the kernel reports them; an unplugged host is drawn DOWN."""
    topo = _snapshot(lab)
    hosts = list(topo["hosts"])
    names = [h["name"] for h in hosts]
    roles, holders = _check_names("roles", roles, names), _check_names("holders", holders, names)
    rows = [hosts] if len(hosts) <= ONE_ROW else [hosts[:math.ceil(len(hosts) / 2)], hosts[math.ceil(len(hosts) / 2):]]
    columns = max(1, max(len(r) for r in rows))
    step, box_w, box_h = 2.0, 1.7, 1.05
    width = columns * step
    two = len(rows) == 2
    fig = Figure(figsize=(max(7.0, 1.45 * columns + 1.2), 2.9 if not two else 4.9), layout="constrained")
    ax = fig.add_subplot()
    ax.set_gid(GID)
    down = sum(not _is_up(h) for h in hosts)
    fig.suptitle(f"{TITLE} {topo['subnet']}: {len(hosts)} host{'s' * (len(hosts) != 1)} on switch {topo['switch']}"
                 + (f", {down} cut off" if down else ""), fontsize=11)

    # the switch: a bar across, its name on the left end
    ax.add_patch(FancyBboxPatch((0.1, -0.16), width - 0.2, 0.32, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor="#394b59", edgecolor="#394b59", gid="lab-switch"))
    ax.text(0.3, 0, f"{topo['switch']}  (switch)", color="white", fontsize=9, fontweight="bold", va="center")

    roles_seen: dict[str, tuple[str, str]] = {}
    for r, row in enumerate(rows):
        side = -1 if r == len(rows) - 1 else 1  # the last row below the switch, the first (of two) above
        centre_y = side * 1.55
        offset = (columns - len(row)) * step / 2
        for k, host in enumerate(row):
            x = offset + (k + 0.5) * step
            up = _is_up(host)
            role = roles.get(host["name"], role_of(host["name"]))
            face, edge = ROLE_COLORS.get(role, ROLE_COLORS["host"])
            roles_seen.setdefault(role, (face, edge))
            if not up:
                face, edge = DOWN_FACE, DOWN_EDGE
            near_box = centre_y - side * box_h / 2
            # the cable from the switch to the box; cut (dashed, red, a gap) when the port is down
            if up:
                ax.plot([x, x], [side * 0.16, near_box], color=CABLE, linewidth=2, solid_capstyle="butt")
            else:
                mid = (side * 0.16 + near_box) / 2
                for a, b in ((side * 0.16, mid - side * 0.08), (mid + side * 0.08, near_box)):
                    ax.plot([x, x], [a, b], color=DOWN_TEXT, linewidth=2, linestyle=(0, (3, 2)))
                ax.plot([x], [mid], marker="x", color=DOWN_TEXT, markersize=9, markeredgewidth=2.2)
            ax.text(x + (0.1 if up else 0.22), (side * 0.16 + near_box) / 2,
                    f"{host['switch_port']}\n{'up' if up else 'DOWN'}", fontsize=7,
                    color="#555555" if up else DOWN_TEXT, fontweight="normal" if up else "bold",
                    va="center", ha="left")
            box = FancyBboxPatch((x - box_w / 2, centre_y - box_h / 2), box_w, box_h,
                                 boxstyle="round,pad=0.02,rounding_size=0.1", facecolor=face, edgecolor=edge,
                                 linewidth=1.6 if up else 1.4, linestyle="-" if up else "--",
                                 gid=f"lab-host-{host['name']}", label=f"{host['name']} {'UP' if up else 'DOWN'}")
            ax.add_patch(box)
            ax.text(x, centre_y + 0.24, host["name"], ha="center", va="center", fontsize=10, fontweight="bold",
                    color="#222222" if up else "#777777")
            ax.text(x, centre_y - 0.04, host["address"], ha="center", va="center", fontsize=9,
                    color="#222222" if up else "#777777", family="monospace")
            ax.text(x, centre_y - 0.31, "DOWN (unplugged)" if not up else role, ha="center", va="center",
                    fontsize=7.5, color=DOWN_TEXT if not up else "#444444", fontweight="bold" if not up else "normal")
            note = holders.get(host["name"])
            if note:
                ax.text(x, centre_y + side * (box_h / 2 + 0.2), note, ha="center", va="center", fontsize=8,
                        style="italic", color="#8a4b00",
                        bbox={"boxstyle": "round,pad=0.2", "facecolor": "#fff4e0", "edgecolor": "#e0b070",
                              "linewidth": 0.8})
    if not hosts:
        ax.text(width / 2, -1.0, "no hosts yet: lab.host('web1', '10.0.0.11') adds one", ha="center", fontsize=9,
                color="#555555")
    top = 1.55 + box_h / 2 + 0.5 if two else 0.45
    bottom = -(1.55 + box_h / 2 + 0.5)
    ax.set_xlim(0, width)
    ax.set_ylim(bottom, top)
    ax.set_aspect("auto")
    ax.axis("off")
    if roles_seen:
        from matplotlib.patches import Patch

        handles = [Patch(facecolor=f, edgecolor=e, label=role) for role, (f, e) in roles_seen.items()]
        if down:
            handles.append(Patch(facecolor=DOWN_FACE, edgecolor=DOWN_EDGE, linestyle="--", label="cut off (DOWN)"))
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    return fig
