"""``default-server`` against real HAProxy 2.6: the ``-c`` messages of its lines, word for word, and the
settings servers take from it (in a defaults section or in the backend, a server's own words and the
``no-*`` keywords overriding), compared through both balancers' stats CSV."""
from __future__ import annotations

import time

import pytest

from labsupport.course.fleet import Fleet, free_ports
from labsupport.lessons.health.recorder import stat_rows

from .test_config import run_engine, run_haproxy
from .test_health import HEAD, INTER, Pair

pytestmark = pytest.mark.haproxy

# (section lines, backend lines): every case ends with a backend b holding 'server s 127.0.0.1:1'
CASES = [
    # refused, with haproxy's messages
    ("", "default-server 127.0.0.1:80"), ("", "default-server wieght 3"), ("", "default-server foo"),
    ("", "default-server check 1"), ("", "default-server weight 300"), ("", "default-server inter"),
    ("", "default-server inter 0"), ("", "default-server slowstart 1x"), ("", "default-server agent-inter 1x"),
    ("", "default-server on-error foo"), ("", "default-server observe layer9"), ("", "default-server fall 0"),
    ("", "default-server ca-file /nonexistent/ca.pem"), ("", "default-server verify maybe"),
    ("default-server rise 0", ""), ("default-server check inter 2x", ""),
    # keywords server.c keeps out of default-server: a non-fatal alert
    ("", "default-server id 3"), ("", "default-server no-sslv3 check"), ("", "default-server id 3 weight 300"),
    ("", "default-server no-tlsv12"),
    # accepted
    ("", "default-server"), ("", "default-server check inter 2s fall 2 rise 1 weight 20 maxconn 30"),
    ("default-server check weight 5", "default-server no-check backup"), ("", "default-server cookie x"),
    ("", "default-server disabled"), ("", "default-server observe layer4"),
    ("default-server inter 1s", "default-server fastinter 500 downinter 2s"),
]


def _config(section: str, backend: str) -> str:
    return ("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
            + (f"    {section}\n" if section else "") + "frontend f\n    bind 127.0.0.1:9\n    default_backend b\n"
            + "backend b\n" + (f"    {backend}\n" if backend else "") + "    server s 127.0.0.1:1\n")


@pytest.mark.parametrize("section,backend", CASES)
def test_default_server_lines_agree_with_haproxy(haproxy_bin, tmp_path, section, backend):
    path = tmp_path / "ds.cfg"
    path.write_text(_config(section, backend))
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


def test_default_server_in_a_frontend_is_refused_like_haproxy(haproxy_bin, tmp_path):
    path = tmp_path / "ds.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                    "frontend f\n    bind 127.0.0.1:9\n    default-server check\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


# ----------------------------------------------------------------------------- behaviour
COLUMNS = ("svname", "status", "check_status", "weight", "slim", "qlimit", "act", "bck", "check_rise",
           "check_fall")
DEFAULTS = f"inter {INTER} fall 2 rise 1 check weight 20 maxconn 30 maxqueue 4"


@pytest.fixture(scope="module")
def fleet():
    with Fleet() as f:
        f.start(free_ports(2))
        yield f


def _stats(target) -> list[tuple]:
    return [tuple(row.get(c) for c in COLUMNS) for row in stat_rows(target, "b")]


@pytest.mark.parametrize("where", ["defaults", "backend"])
def test_servers_take_default_server_settings_like_haproxy(haproxy_bin, fleet, where):
    """s1 and s3 alive, s2 dead (nothing listens): s2 goes DOWN after two failed checks on both
    balancers; s3's 'no-check weight 7' overrides the defaults; s4's 'no-backup' cancels the backend's
    'backup' (a second default-server line adds to the first)."""
    dead = free_ports(1)[0]
    alive = fleet.ports
    body = HEAD.split("defaults\n", 1)[1]
    servers = (f"    server s1 127.0.0.1:{alive[0]}\n    server s2 127.0.0.1:{dead}\n"
               f"    server s3 127.0.0.1:{alive[1]} no-check weight 7\n"
               f"    default-server backup\n    server s4 127.0.0.1:{alive[1]} no-backup maxconn 9\n"
               f"    server s5 127.0.0.1:{alive[0]}\n")
    if where == "defaults":
        backends = f"defaults\n{body}    default-server {DEFAULTS}\nbackend b\n{servers}"
    else:
        backends = f"backend b\n    default-server {DEFAULTS}\n{servers}"
    with Pair(haproxy_bin, backends) as pair:
        pair.wait("b/s2", "DOWN")
        pair.wait("b/s1", "UP")
        pair.wait("b/s4", "UP")
        pair.wait("b/s5", "UP")
        deadline = time.monotonic() + 5  # a poll may land while a check runs ("* L4CON"): ask again
        while ((rows := {"engine": _stats(pair.engine), "haproxy": _stats(pair.haproxy)})["engine"]
               != rows["haproxy"] and time.monotonic() < deadline):
            time.sleep(0.05)
    assert rows["engine"] == rows["haproxy"]
    by_name = {r[0]: dict(zip(COLUMNS, r)) for r in rows["engine"]}
    assert by_name["s2"]["status"] == "DOWN" and by_name["s2"]["check_status"] == "L4CON"
    assert (by_name["s2"]["check_rise"], by_name["s2"]["check_fall"]) == (1, 2)
    assert by_name["s1"]["weight"] == 20 and by_name["s1"]["slim"] == 30 and by_name["s1"]["qlimit"] == 4
    assert by_name["s3"]["status"] == "no check" and by_name["s3"]["weight"] == 7
    assert by_name["s4"]["bck"] == 0 and by_name["s4"]["slim"] == 9
    assert by_name["s5"]["bck"] == 1


def test_disabled_and_cookie_from_default_server_like_haproxy(haproxy_bin, fleet):
    """'disabled' starts the servers in maintenance ('enabled' on a server line cancels it); the cookie
    value is shared by every server that does not name its own."""
    backends = ("backend b\n    cookie SRV insert\n    default-server disabled cookie zz\n"
                f"    server s1 127.0.0.1:{fleet.ports[0]}\n    server s2 127.0.0.1:{fleet.ports[1]} enabled\n"
                f"    server s3 127.0.0.1:{fleet.ports[1]} enabled cookie c3\n")
    with Pair(haproxy_bin, backends) as pair:
        pair.wait("b/s1", "MAINT")
        pair.wait("b/s2", "no check")
        rows = {who: [(r["svname"], r["status"], r["cookie"]) for r in stat_rows(target, "b")]
                for who, target in (("engine", pair.engine), ("haproxy", pair.haproxy))}
    assert rows["engine"] == rows["haproxy"]
    assert rows["engine"] == [("s1", "MAINT", "zz"), ("s2", "no check", "zz"), ("s3", "no check", "c3")]
