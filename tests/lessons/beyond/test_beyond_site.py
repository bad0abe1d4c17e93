"""Lesson 10's site (labsupport/lessons/beyond/labsite.py): a client host and web servers on port 80 of their own
addresses, reached from other hosts and never from this process; wrong arguments refused plainly."""
from __future__ import annotations

import json
import socket

import pytest
from support.netns import require_netns

from labsupport.course.hosts import Lab
from labsupport.errors import LabError, UsageError
from labsupport.lessons.beyond import labsite as site_module
from labsupport.lessons.beyond.labsite import Site, build_site, fetch


@pytest.fixture(scope="module")
def netns() -> None:
    require_netns()


@pytest.fixture(scope="module")
def built(netns):
    lab = Lab()
    made = build_site(lab, servers=3)
    yield made
    lab.stop()


def test_the_site_has_a_client_and_servers_on_their_own_addresses(built):
    assert built.servers == {"web1": "10.0.0.11", "web2": "10.0.0.12", "web3": "10.0.0.13"}
    assert (built.client.name, built.client.address) == ("client", "10.0.0.2")
    assert [(h["name"], h["address"], h["state"]) for h in built.lab.topology()["hosts"]] == [
        ("client", "10.0.0.2", "UP"), ("web1", "10.0.0.11", "UP"), ("web2", "10.0.0.12", "UP"),
        ("web3", "10.0.0.13", "UP")]
    assert repr(built) == "<Site client 10.0.0.2; servers :80 web1 10.0.0.11, web2 10.0.0.12, web3 10.0.0.13>"
    assert built.url("web2") == "http://10.0.0.12/" and built.url("web2", "/info") == "http://10.0.0.12/info"


def test_each_server_answers_the_client_on_port_80_and_says_who_it_is(built):
    for name, address in built.servers.items():
        assert built.curl("client", f"http://{address}/") == "Hi!! from server 80"
        info = json.loads(built.curl(built.client, f"http://{address}/info"))
        assert (info["host"], info["port"]) == (address, 80)
        assert built.who("client", address) == address
        assert built.name_of(address) == name
    assert built.name_of("10.0.0.99") == ""


def test_any_host_reaches_any_other(built):
    assert built.who("web1", "10.0.0.13") == "10.0.0.13"
    assert built.curl("web3", "http://10.0.0.11/") == "Hi!! from server 80"


def test_this_process_cannot_reach_the_lab(built):
    """The kernel stays outside: no route leads from here to 10.0.0.0/24."""
    with pytest.raises(OSError):
        socket.create_connection(("10.0.0.11", 80), timeout=1).close()


def test_without_curl_a_python_one_liner_fetches_the_same(built, monkeypatch):
    monkeypatch.setattr(site_module, "find_tool", lambda name: None)
    assert built.curl("client", "http://10.0.0.12/") == "Hi!! from server 80"
    with pytest.raises(LabError, match=r"host client got no answer from http://10.0.0.12:81/: .*(refused|Errno)"):
        built.curl("client", "http://10.0.0.12:81/")


def test_no_answer_is_an_error_that_names_host_and_url(built):
    with pytest.raises(LabError) as caught:
        built.curl("client", "http://10.0.0.12:81/")
    assert str(caught.value).startswith("host client got no answer from http://10.0.0.12:81/: curl: (7)")


def test_the_table_lists_every_host(built):
    table = built.table()
    assert table.title == "the site: 3 servers and a client on 10.0.0.0/24"
    assert [(r["host"], r["role"], r["url"], r["server"]) for r in table] == [
        ("client", "client", "", ""), ("web1", "web server", "http://10.0.0.11/", "running"),
        ("web2", "web server", "http://10.0.0.12/", "running"), ("web3", "web server", "http://10.0.0.13/", "running")]


def test_stop_ends_the_servers_and_hosts_stay(netns):
    with Lab() as lab:
        small = build_site(lab, servers=1, first=21)
        assert small.servers == {"web1": "10.0.0.21"}
        assert small.curl("client", "http://10.0.0.21/") == "Hi!! from server 80"
        small.stop()
        assert small.table()[1]["server"] == "stopped"
        with pytest.raises(LabError, match="host client got no answer from http://10.0.0.21/"):
            small.curl("client", "http://10.0.0.21/")
        assert "web1" in lab.hosts
        small.stop()  # a second stop does nothing


def test_bad_arguments_are_refused_plainly(built):
    lab = built.lab
    cases = [
        (lambda: build_site(lab, servers=0), "servers=0: a site has 1 to 9 servers"),
        (lambda: build_site(lab, servers=10), "servers=10: a site has 1 to 9 servers"),
        (lambda: build_site(lab, servers=2), "this lab already has hosts client, web1, web2: build the site in "
                                             "a new Lab() (run the cell that makes the lab again)"),
        (lambda: build_site(lab, servers=3, first=253), "first=253: web3 would be outside the lab's network "
                                                        "10.0.0.0/24"),
        (lambda: build_site("lab"), "build_site(lab) needs the Lab first, not str (lab = Lab.if_possible())"),
        (lambda: build_site(lab, port=0), "port=0: a TCP port is 1-65535"),
        (lambda: built.url("web9"), "no server 'web9' in this site (servers: web1, web2, web3)"),
        (lambda: fetch(built.client, "http://10.0.0.11/", timeout=0), "timeout=0: give seconds in (0, 60]"),
    ]
    for call, message in cases:
        with pytest.raises(UsageError) as caught:
            call()
        assert str(caught.value) == message
    with pytest.raises(KeyError, match="no host 'nobody' in this lab"):
        built.curl("nobody", "http://10.0.0.11/")


def test_a_server_that_dies_at_start_says_so_with_its_log(netns, monkeypatch, tmp_path):
    broken = tmp_path / "app.py"
    broken.write_text("import sys\nprint('cannot start: demo', flush=True)\nsys.exit(3)\n")
    monkeypatch.setattr(site_module, "APP", broken)
    with Lab() as lab:
        with pytest.raises(LabError) as caught:
            build_site(lab, servers=1)
    assert str(caught.value).startswith("the server in host web1 ended during start-up (exit 3)")
    assert "cannot start: demo" in str(caught.value)


def test_a_site_is_a_plain_record(netns):
    with Lab() as lab:
        client = lab.host("client", "10.0.0.2")
        record = Site(lab, client, {"web1": "10.0.0.11"})
        assert record.url("web1") == "http://10.0.0.11/" and record.processes == {}
