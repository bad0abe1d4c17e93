"""The engine's Prometheus exporter against real HAProxy 2.6's (Debian's build has it): the same config
(``http-request use-service prometheus-exporter if { path /metrics }``) and the same traffic give the
same metric families, HELP texts, types and label sets for frontends, backends and servers, and the same
values for the counters the course reads. Parsed with prometheus_client's text parser, never by hand.
"""
from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.procs import start_together
from support.rawclient import read_response, request

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv

CONFIG = """global
    maxconn 500
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    default_backend be
backend be
    server s1 127.0.0.1:{s1} check inter 60s
    server s2 127.0.0.1:{s2}
    server s3 127.0.0.1:{dead}
    retries 0
"""
COUNTERS = ("haproxy_server_sessions_total", "haproxy_server_http_responses_total", "haproxy_server_weight",
            "haproxy_server_status", "haproxy_backend_http_responses_total", "haproxy_backend_active_servers",
            "haproxy_frontend_http_responses_total", "haproxy_server_check_status",
            "haproxy_backend_agg_server_status", "haproxy_server_connection_errors_total")


def metrics(port: int) -> tuple[bytes, dict]:
    import socket

    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
        raw = read_response(s, until_eof=True)
    head, _, body = raw.partition(b"\r\n\r\n")
    text = b""
    while body:  # de-chunk
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        text, body = text + rest[:n], rest[n + 2:]
    return head, {f.name: f for f in text_string_to_metric_families(text.decode())}


@pytest.fixture(scope="module")
def both(haproxy_bin):
    be_ports = free_ports(3)
    backend = ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
               + "".join(f"listen s{i}\n    bind 127.0.0.1:{p}\n    http-request return status 200 "
                         f"content-type text/plain string s{i}\n" for i, p in enumerate(be_ports[:2], 1)))
    ports = free_ports(2)
    texts = [CONFIG.format(port=p, s1=be_ports[0], s2=be_ports[1], dead=be_ports[2]) for p in ports]
    procs = start_together((HAProxy.from_text(backend, "b.cfg", binary=haproxy_bin),
                            HAProxy.from_text(texts[0], "prom.cfg", binary=haproxy_bin), Balancer.from_text(texts[1])))
    try:
        _, hx, lb = procs
        for read in (hx.stats_csv, lb.stats_csv):
            deadline = time.monotonic() + 10
            while [r for r in parse_stat_csv(read()) if r["svname"] == "s1"][0]["check_status"] != "L4OK":
                assert time.monotonic() < deadline
                time.sleep(0.05)
        for port in ports:
            for _ in range(6):  # s3 is dead (nothing listens there): a 503 at once with retries 0
                request(port)
        yield metrics(ports[0]), metrics(ports[1])
    finally:
        for p in reversed(procs):
            p.stop()


def test_the_answer_head_is_haproxys(both):
    (hx_head, _), (en_head, _) = both
    assert en_head == hx_head


def test_same_families_help_type_and_labels_for_proxies_and_servers(both):
    (_, hx), (_, en) = both
    objects = lambda fams: {n: f for n, f in fams.items() if not n.startswith("haproxy_process_")}  # noqa: E731
    want, got = objects(hx), objects(en)
    assert sorted(got) == sorted(want)
    assert len(want) > 100
    for name, fam in want.items():
        assert (got[name].type, got[name].documentation) == (fam.type, fam.documentation), name
        assert sorted(str(sorted(s.labels.items())) for s in got[name].samples) == \
            sorted(str(sorted(s.labels.items())) for s in fam.samples), name


def test_process_families_are_a_subset_of_haproxys(both):
    (_, hx), (_, en) = both
    mine = {n for n in en if n.startswith("haproxy_process_")}
    assert mine and mine <= set(hx)


def test_the_counters_the_course_reads_have_haproxys_values(both):
    (_, hx), (_, en) = both
    for name in COUNTERS:
        name = name.removesuffix("_total")  # the parser names a counter family without it
        values = [sorted((str(sorted(s.labels.items())), s.value) for s in fams[name].samples) for fams in (hx, en)]
        assert values[1] == values[0], name
