"""Stats CSV next to real haproxy running the same configuration: the same values for the same traffic."""
from __future__ import annotations

from support.httpbackend import Backend, free_port, get, wait_for
from support.statscsv import config, rows

from labsupport.balancer import Balancer
from labsupport.engine.stats import COLUMNS


def test_engine_csv_matches_real_haproxy(haproxy_bin):
    from labsupport.course.haproxy import HAProxy

    b1, b2 = Backend("s1"), Backend("s2")
    dead = free_port()
    port, real_port = free_port(), free_port()
    text = config(port, b1.port, b2.port, dead)
    try:
        with Balancer.from_text(text) as lb, HAProxy.from_text(text, port_map={port: real_port}) as hx:
            for p, ask in ((port, lb), (real_port, hx)):
                wait_for(lambda: "DOWN" in ask.stats_csv().split("be,s3,")[1].split(",")[15])
                for _ in range(6):
                    assert get(p)[0] == 200
            ours, theirs = rows(lb.stats_csv()), rows(hx.stats_csv())
    finally:
        b1.stop()
        b2.stop()
    assert [(r["pxname"], r["svname"]) for r in ours] == [(r["pxname"], r["svname"]) for r in theirs]
    same = ("pxname", "svname", "status", "weight", "act", "bck", "stot", "lbtot", "hrsp_2xx", "hrsp_5xx", "type",
            "sid", "mode", "algo", "check_status", "check_rise", "check_fall", "check_health", "chkdown", "req_tot",
            "econ", "wretr", "slim", "last_chk", "check_desc", "addr", "uweight", "pid", "qcur", "scur")
    for o, t in zip(ours, theirs):
        assert {c: o[c] for c in same} == {c: t[c] for c in same}, o["svname"]
        filled_o = {c for c in COLUMNS if o[c] != ""}
        filled_t = {c for c in COLUMNS if t[c] != ""}
        assert filled_o == filled_t, (o["svname"], filled_o ^ filled_t)
