"""The stats page's admin actions (``stats admin if TRUE`` behind ``stats auth``) of the engine against
real HAProxy 2.6: the same form POSTs give the same 303 answers (byte for byte) and the same server
states; the page shows the same admin form and messages; without credentials, the same 401.
"""
from __future__ import annotations

import base64
import socket
import time

import pytest
from support.procs import start_together
from support.rawclient import read_response, request, server_of

from labsupport.balancer import Balancer
from labsupport.course.fleet import free_ports
from labsupport.course.haproxy import HAProxy, parse_stat_csv

CONFIG = """global
    maxconn 500
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be
backend be
    server s1 127.0.0.1:{s1} check inter 60s
    server s2 127.0.0.1:{s2}
listen stats
    bind 127.0.0.1:{admin}
    stats enable
    stats uri /
    stats refresh 5s
    stats auth admin:secret
    stats admin if TRUE
listen readonly
    bind 127.0.0.1:{ro}
    stats enable
    stats uri /
    stats auth admin:secret
"""
# (form body, as the page's form posts it: servers first, then action and backend)
POSTS = ["s=s2&action=drain&b=%233", "s=s2&s=s1&action=maint&b=%233", "s=s1&s=s2&action=ready&b=%233",
         "s=zz&action=drain&b=%233", "action=drain&b=%233", "s=s2&action=bogus&b=%233", "s=s2&action=drain&b=%239",
         "s=s2&action=drain&b=be", "s=s2&action=hdown&b=%233", "s=s2&action=hrunn&b=%233",
         "s=s1&action=dhlth&b=%233", "s=s1&action=ehlth&b=%233", "s=s2&action=ehlth&b=%233",
         "s=s2&s=zz&action=ready&b=%233", "s=s2&action=shutdown&b=%233", "s=s2&action=arunn&b=%233",
         "s=s1&s=s2&action=ready&b=%233"]
COLUMNS = ("svname", "status", "weight", "act", "bck", "check_status", "check_health")
AUTH = "Basic " + base64.b64encode(b"admin:secret").decode()


def http(port: int, method: str = "GET", path: str = "/", body: str = "", auth: str | None = AUTH) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        head = f"{method} {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n"
        if auth:
            head += f"Authorization: {auth}\r\n"
        if method == "POST":
            head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        s.sendall((head + "\r\n" + body).encode())
        return read_response(s, until_eof=True)


@pytest.fixture()
def pages(haproxy_bin, tmp_path):
    be_ports = free_ports(2)
    backend = ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
               + "".join(f"listen s{i}\n    bind 127.0.0.1:{p}\n    http-request return status 200 "
                         f"content-type text/plain string s{i}\n" for i, p in enumerate(be_ports, 1)))
    ports = free_ports(6)
    texts = [CONFIG.format(sock=tmp_path / f"{n}.sock", fe=ports[3 * i], admin=ports[3 * i + 1], ro=ports[3 * i + 2],
                           s1=be_ports[0], s2=be_ports[1]) for i, n in enumerate(("haproxy", "engine"))]
    procs = start_together((HAProxy.from_text(backend, "b.cfg", binary=haproxy_bin),
                            HAProxy.from_text(texts[0], "admin.cfg", binary=haproxy_bin, keep_sockets=True), Balancer.from_text(texts[1])))
    try:
        _, hx, lb = procs
        for read in (hx.stats_csv, lb.stats_csv):  # s1's first check done
            deadline = time.monotonic() + 10
            while [r for r in parse_stat_csv(read()) if r["svname"] == "s1"][0]["check_status"] != "L4OK":
                assert time.monotonic() < deadline, "s1 never checked"
                time.sleep(0.05)
        yield hx, lb, ports
    finally:
        for p in reversed(procs):
            p.stop()


def states(read) -> list[list]:
    return [[r[c] for c in COLUMNS] for r in parse_stat_csv(read()) if r["pxname"] == "be"]


def test_admin_posts_answer_and_act_as_haproxy(pages):
    hx, lb, ports = pages
    for body in POSTS:
        answers = [http(port, "POST", "/", body) for port in (ports[1], ports[4])]
        assert answers[1] == answers[0], body
        assert states(lb.stats_csv) == states(hx.stats_csv), body
        seqs = [[server_of(request(p)) for _ in range(4)] for p in (ports[0], ports[3])]
        assert seqs[1] == seqs[0], body


def test_without_admin_rights_a_post_is_denied(pages):
    hx, lb, ports = pages
    answers = [http(port, "POST", "/", "s=s2&action=maint&b=%233") for port in (ports[2], ports[5])]
    assert answers[1] == answers[0] and b"location: /;st=DENY\r\n" in answers[0]
    assert states(lb.stats_csv) == states(hx.stats_csv)


@pytest.mark.parametrize("auth", [None, "Basic " + base64.b64encode(b"admin:wrong").decode()])
def test_without_the_right_credentials_401_as_haproxy(pages, auth):
    hx, lb, ports = pages
    for method in ("GET", "POST"):
        answers = [http(port, method, "/", "s=s2&action=maint&b=%233", auth) for port in (ports[1], ports[4])]
        assert answers[1] == answers[0] and answers[0].startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert states(lb.stats_csv) == states(hx.stats_csv)


@pytest.mark.parametrize("status", ["DONE", "NONE", "PART", "ERRP", "DENY"])
def test_the_page_shows_haproxys_form_and_messages(pages, status):
    hx, lb, ports = pages
    pages_ = [http(port, "GET", f"/;st={status}").decode("latin-1") for port in (ports[1], ports[4])]
    start = pages_[0].index("<p><div class=")
    banner = pages_[0][start:pages_[0].index("</div>", start) + 6]
    assert banner in pages_[1]
    start = pages_[0].index("Choose the action")
    form_end = pages_[0][start:pages_[0].index("</form>", start) + 7]
    assert form_end in pages_[1]
    for server in ("s1", "s2"):
        assert f"type=\"checkbox\" name=\"s\" value=\"{server}\"" in pages_[1]
