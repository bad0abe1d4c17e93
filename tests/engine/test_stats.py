"""Stats CSV in HAProxy's format: the header, the columns each row fills, the snapshot and the stats page
(the same values as real haproxy's for the same traffic: tests/differential/test_stats.py)."""
from __future__ import annotations

import csv

import pytest
from support.httpbackend import Backend, exchange, free_port, get
from support.statscsv import config, rows

from labsupport.balancer import Balancer
from labsupport.engine.stats import COLUMNS, HEADER, to_csv

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


def test_header_is_haproxys():
    assert HEADER == REAL_HEADER
    assert len(COLUMNS) == 128  # + the empty field after the trailing comma = 129 fields


def test_every_line_ends_with_a_comma_and_has_all_columns():
    text = to_csv([{"pxname": "fe", "svname": "FRONTEND", "status": "OPEN", "check_desc": "a, b"}])
    header, line = text.splitlines()
    assert header.endswith(",") and line.endswith(",")
    assert next(csv.reader([line])) == ["fe", "FRONTEND"] + [""] * 15 + ["OPEN"] + [""] * 47 + ["a, b"] + [""] * 63


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
