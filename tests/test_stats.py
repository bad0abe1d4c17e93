"""Stats CSV in HAProxy's format: the header, the columns each row fills, and, next to the real
haproxy running the same configuration, the same values for the same traffic."""
from __future__ import annotations

import csv
import io

import pytest

from labsupport.balancer import Balancer
from labsupport.engine.stats import COLUMNS, HEADER, to_csv
from test_proxy import Backend, exchange, free_port, get, wait_for

# 'show stat' header line of haproxy 2.6.12 (captured from /usr/sbin/haproxy)
REAL_HEADER = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,"
    "act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,"
    "check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,"
    "req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,"
    "qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,"
    "check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,"
    "intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,"
    "rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,"
    "agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,"
    "h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,"
    "h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,"
    "h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,"
    "h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,"
)


def config(port: int, b1: int, b2: int, dead: int) -> str:
    return f"""
global
    maxconn 500
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:{b1} check inter 200ms
    server s2 127.0.0.1:{b2} weight 2
    server s3 127.0.0.1:{dead} check inter 200ms
"""


def rows(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line]
    header = lines[0][2:].split(",")[:-1]
    return [dict(zip(header, r)) for r in csv.reader(io.StringIO("\n".join(lines[1:])))]


def test_header_is_haproxys():
    assert HEADER == REAL_HEADER
    assert len(COLUMNS) == 128  # + the empty field after the trailing comma = 129 fields


def test_every_line_ends_with_a_comma_and_has_all_columns():
    text = to_csv([{"pxname": "fe", "svname": "FRONTEND", "status": "OPEN", "check_desc": "a, b"}])
    header, line = text.splitlines()
    assert header.endswith(",") and line.endswith(",")
    assert next(csv.reader([line])) == ["fe", "FRONTEND"] + [""] * 15 + ["OPEN"] + [""] * 47 + ["a, b"] + [""] * 63


def test_engine_csv_matches_real_haproxy(haproxy_bin):
    from labsupport.haproxy import HAProxy

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


def test_snapshot_is_the_same_shape_as_haproxy_snapshot():
    port = free_port()
    b1 = Backend("s1")
    try:
        with Balancer.from_text(config(port, b1.port, b1.port, free_port()).replace(" check inter 200ms", "")) as lb:
            assert get(port) == (200, "s1")
            snap = lb.snapshot()
    finally:
        b1.stop()
    assert set(snap) >= {"time", "rows", "frontends", "backends", "servers", "log", "requests"}
    assert [r["svname"] for r in snap["servers"]] == ["s1", "s2", "s3"]
    # s2 (weight 2) is picked first, as HAProxy's fwrr does; b1 answers for both addresses
    assert snap.server("be", "s2")["stot"] == 1 and snap.frontend("fe")["status"] == "OPEN"
    assert snap["requests"][-1]["server"] == "s2" and snap["requests"][-1]["status"] == 200
    assert '"svname": "BACKEND"' in snap.json()
    with pytest.raises(KeyError, match="no stats row be/s9"):
        snap.server("be", "s9")


def test_stats_page_csv_html_and_auth():
    port, page, guarded = free_port(), free_port(), free_port()
    text = f"""
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{free_port()} disabled
listen stats_page
    bind 127.0.0.1:{page}
    stats enable
    stats uri /
    stats refresh 5s
listen stats_auth
    bind 127.0.0.1:{guarded}
    stats enable
    stats auth admin:secret
"""
    with Balancer.from_text(text):
        out = exchange(page, b"GET /;csv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = out.partition(b"\r\n\r\n")
        assert head == (b"HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\nrefresh: 5\r\n"
                        b"connection: close\r\ntransfer-encoding: chunked")
        csv_text = body.split(b"\r\n", 1)[1].rsplit(b"\r\n0\r\n", 1)[0].decode()
        assert csv_text.startswith(REAL_HEADER + "\n")
        assert [r["svname"] for r in rows(csv_text)] == ["FRONTEND", "s1", "BACKEND", "FRONTEND", "BACKEND",
                                                          "FRONTEND", "BACKEND"]
        status, body = get(page, "/anything")  # the uri is a prefix: '/' matches every path
        assert status == 200 and "<title>Statistics Report for HAProxy</title>" in body
        assert 'class="maintain"' in body  # s1 is disabled
        out = exchange(guarded, b"GET /haproxy?stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\n")
        assert b'www-authenticate: Basic realm="HAProxy Statistics"' in out
        status, _ = get(guarded, "/haproxy?stats;csv", {"Authorization": "Basic YWRtaW46c2VjcmV0"})
        assert status == 200
        assert get(guarded, "/other")[0] == 503
