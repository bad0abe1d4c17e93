"""Hosts as network namespaces (labsupport/course/hosts.py): made and removed with nothing left over, a server
in one host reached from another, the whole lab gone after its owner is SIGKILLed, VRRP between two hosts.

They need namespaces (unprivileged user namespaces, or root): without them they skip with the reason, and
fail under LAB_REQUIRE_NETNS=1. The VRRP test needs keepalived (LAB_REQUIRE_KEEPALIVED=1 makes it a failure).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.netns import require_netns, wait_until

from labsupport import lifecycle
from labsupport.course import hosts
from labsupport.course.hosts import Lab, NamespacesUnavailableError
from labsupport.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "backends" / "app.py"
FETCH = ("import sys, urllib.request; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())")


@pytest.fixture(scope="module")
def netns() -> None:
    require_netns()


@pytest.fixture()
def lab(netns):
    made = Lab()
    yield made
    made.stop()


def _links() -> list[str]:
    """The machine's own interfaces (this test's namespace), names and states."""
    out = subprocess.run([hosts._tool("ip"), "-o", "link"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split(":")[1].strip() for line in out.splitlines())


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _fetch(client: hosts.Host, url: str) -> str:
    done = client.run([sys.executable, "-c", FETCH, url], timeout=30)
    return done.stdout.strip() if done.returncode == 0 else ""


def test_hosts_come_and_go_with_nothing_left_over(netns):
    before = _links()
    lab = Lab()
    web, client = lab.host("web1", "10.0.0.11"), lab.host("client")
    assert (web.address, client.address) == ("10.0.0.11", "10.0.0.10")
    inside = web.run("ip -o -4 addr show dev eth0").stdout
    assert "10.0.0.11/24" in inside, inside
    assert "10.0.0.10/24" in client.run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout
    assert _links() == before  # the switch and its ports live in the lab, never in the machine's namespace
    pids = [lab._proc.pid, lab.init, web.holder, client.holder]
    assert all(_alive(p) for p in pids)
    lab.stop()
    wait_until("every process of the lab gone", lambda: not any(_alive(p) for p in pids))
    assert _links() == before
    assert not lab.running and "stopped" in repr(lab)
    lab.stop()  # a second stop does nothing


def test_a_server_in_one_host_answers_another(lab):
    web, client = lab.host("web1", "10.0.0.11"), lab.host("client", "10.0.0.2")
    server = web.popen([sys.executable, str(APP), "8080", "--host", "10.0.0.11"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    body = wait_until("the server in web1 answering the client",
                       lambda: _fetch(client, "http://10.0.0.11:8080/"), timeout=60)
    assert body == "Hi!! from server 8080"
    info = json.loads(_fetch(client, "http://10.0.0.11:8080/info"))
    assert info["port"] == 8080 and info["host"] == "10.0.0.11"
    target = server.target()
    assert target in web.processes()
    server.terminate()  # reaches the server itself, not only nsenter
    server.wait(30)  # the app ends cleanly on SIGTERM
    wait_until("the server process gone", lambda: not _alive(target))
    assert _fetch(client, "http://10.0.0.11:8080/") == ""


def test_unplugged_host_is_cut_off_and_plugged_back(lab):
    a, b = lab.host("a", "10.0.0.21"), lab.host("b", "10.0.0.22")
    ping = [sys.executable, "-c", "import socket, sys; s = socket.create_connection((sys.argv[1], 9), 2)", "10.0.0.22"]
    b.popen([sys.executable, "-c", "import socket, time; s = socket.create_server(('10.0.0.22', 9)); time.sleep(60)"])
    wait_until("b listening", lambda: a.run(ping).returncode == 0)
    b.unplug()
    assert a.run(ping).returncode != 0
    assert [h["state"] for h in lab.topology()["hosts"]] == ["UP", "DOWN"]
    b.plug()
    wait_until("b reachable again", lambda: a.run(ping).returncode == 0)


def test_topology_reads_back_what_was_made(lab):
    lab.host("lb1", "10.0.0.2")
    lab.host("web1", "10.0.0.11")
    topo = lab.topology()
    assert topo["subnet"] == "10.0.0.0/24" and topo["switch"] == "br0"
    assert [(h["name"], h["address"], h["switch_port"], h["state"]) for h in topo["hosts"]] == [
        ("lb1", "10.0.0.2", "h-lb1", "UP"), ("web1", "10.0.0.11", "h-web1", "UP")]
    assert sorted(link["switch_port"] for link in topo["links"]) == ["h-lb1", "h-web1"]
    assert repr(lab) == "<Lab 10.0.0.0/24 running: lb1 10.0.0.2, web1 10.0.0.11>"
    assert repr(lab["web1"]) == "<Host web1 10.0.0.11>"


def test_bad_names_and_addresses_are_refused_plainly(lab):
    lab.host("web1", "10.0.0.11")
    cases = [(("Web 1",), "host name 'Web 1': use 1-13 lower-case letters, digits or '-', starting with a letter"),
             (("web1",), "there is already a host web1 (10.0.0.11)"),
             (("web2", "10.0.0.11"), "address 10.0.0.11 is taken by host web1"),
             (("web2", "192.168.1.5"), "address 192.168.1.5 is not a host address of the lab's network 10.0.0.0/24"),
             (("web2", "10.0.0.255"), "address 10.0.0.255 is not a host address of the lab's network 10.0.0.0/24"),
             (("web2", "ten"), "'ten' is not an IPv4 address (e.g. 10.0.0.11)")]
    for args, message in cases:
        with pytest.raises(UsageError) as caught:
            lab.host(*args)
        assert str(caught.value) == message
    with pytest.raises(KeyError, match="no host 'web9' in this lab \\(hosts: web1\\)"):
        lab["web9"]


def test_stop_all_removes_the_lab(netns):
    lab = Lab()
    web = lab.host("web1")
    assert lab in lifecycle.running("child")
    lifecycle.stop_all()
    assert not lab.running and lab not in lifecycle.running("child")
    wait_until("the host's process gone", lambda: not _alive(web.holder))
    with pytest.raises(Exception, match="host web1 is gone: its lab was stopped"):
        web.run("true")


def test_a_cell_run_again_replaces_its_lab(netns, monkeypatch, capsys):
    monkeypatch.setattr(lifecycle, "current_run", lambda: ("cell-1", "run-1"))
    first = Lab()
    holder = first.host("web1").holder
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(lifecycle, "current_run", lambda: ("cell-1", "run-2"))
    second = Lab()
    try:
        assert capsys.readouterr().out == "restarted the lab network: an earlier run of this cell had started it\n"
        assert not first.running and second.running
        wait_until("the first lab's host gone", lambda: not _alive(holder))
    finally:
        second.stop()

OWNER = textwrap.dedent("""\
    import json, subprocess, sys, time
    sys.path.insert(0, sys.argv[1])
    from labsupport.course.hosts import Lab
    lab = Lab()
    web = lab.host("web1")
    server = web.popen([sys.executable, "-c", "import time; time.sleep(120)"])
    pids = [lab._proc.pid, lab.init, web.holder, server.pid, server.target()]
    print(json.dumps(pids), flush=True)
    time.sleep(120)
    """)


def test_nothing_survives_a_sigkill_of_the_owner(netns, tmp_path):
    before = _links()
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    owner = subprocess.Popen([sys.executable, str(script), str(ROOT)], stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(owner.stdout.readline())
        assert len(pids) == 5 and all(isinstance(p, int) and _alive(p) for p in pids), pids
        owner.kill()
        owner.wait(30)
        wait_until(f"every process of the owner's lab gone ({pids})", lambda: not any(_alive(p) for p in pids))
        assert _links() == before
    finally:
        owner.kill()
        owner.wait(30)


def test_without_namespaces_the_message_says_why(monkeypatch):
    monkeypatch.setattr(hosts, "_probed", (None, "this account may not create namespaces here (demo)"))
    assert not Lab.available()
    assert Lab.why_not() == "this account may not create namespaces here (demo)"
    with pytest.raises(NamespacesUnavailableError) as caught:
        Lab()
    assert str(caught.value) == "no lab network on this machine: this account may not create namespaces here (demo)"


def test_root_works_without_a_user_namespace(netns, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("only root may make namespaces without a user namespace")
    monkeypatch.setattr(hosts, "_probed", (["--net", "--pid", "--mount", "--mount-proc", "--fork"], ""))
    with Lab() as lab:
        a, b = lab.host("a"), lab.host("b")
        assert lab.topology()["user_namespace"] is False
        assert b.run(["ip", "-o", "-4", "addr"]).stdout.count(b.address) == 1
        assert a.run(["id", "-u"]).stdout.strip() == "0"


KEEPALIVED = """\
global_defs {{
    router_id {name}
}}
vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        10.0.0.100/24 dev eth0
    }}
}}
"""


def test_vrrp_moves_the_shared_address_when_its_holder_is_cut_off(lab, tmp_path):
    """keepalived in two hosts: the address 10.0.0.100 answers from lb1; unplug lb1 and lb2 takes it over."""
    keepalived = hosts._tool("keepalived")
    if keepalived is None:
        reason = "'keepalived' is not installed (sudo apt-get install keepalived)"
        if os.environ.get("LAB_REQUIRE_KEEPALIVED") == "1":
            pytest.fail(f"LAB_REQUIRE_KEEPALIVED=1 but {reason}")
        pytest.skip(reason + "; set LAB_REQUIRE_KEEPALIVED=1 to make this a failure")
    client = lab.host("client", "10.0.0.5")
    balancers = [lab.host("lb1", "10.0.0.2"), lab.host("lb2", "10.0.0.3")]
    for host, state, priority in zip(balancers, ("MASTER", "BACKUP"), (150, 100)):
        site = tmp_path / host.name
        site.mkdir()
        (site / "index.html").write_text(host.name)
        (tmp_path / f"{host.name}.conf").write_text(KEEPALIVED.format(name=host.name, state=state, priority=priority))
        host.popen([sys.executable, "-m", "http.server", "8000", "--directory", str(site)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        host.popen([keepalived, "--dont-fork", "--log-console", "--no-syslog", "--vrrp",
                    "--use-file", str(tmp_path / f"{host.name}.conf"), "--pid", str(tmp_path / f"{host.name}.pid"),
                    "--vrrp_pid", str(tmp_path / f"{host.name}.vrrp.pid")],
                   stdout=(tmp_path / f"{host.name}.log").open("w"), stderr=subprocess.STDOUT)

    def holders() -> list[str]:
        return [h.name for h in balancers if " 10.0.0.100/24 " in h.run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout]

    wait_until("lb1 holding 10.0.0.100", lambda: holders() == ["lb1"], timeout=60)
    assert wait_until("lb1 answering on 10.0.0.100", lambda: _fetch(client, "http://10.0.0.100:8000/")) == "lb1"
    balancers[0].unplug()
    wait_until("lb2 holding 10.0.0.100", lambda: "lb2" in holders(), timeout=60)
    assert wait_until("lb2 answering on 10.0.0.100", lambda: _fetch(client, "http://10.0.0.100:8000/")) == "lb2"


def test_an_ordinary_users_path_is_enough(netns, monkeypatch):
    """Debian gives an ordinary user no /usr/sbin on PATH, where ip and keepalived live: hosts still find them."""
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    with Lab() as lab:
        host = lab.host("web1", "10.0.0.11")
        done = host.run("ip -o -4 addr show dev eth0")
        assert done.returncode == 0 and "10.0.0.11/24" in done.stdout, done.stderr


def test_commands_start_in_this_process_folder_or_the_one_given(netns, tmp_path, monkeypatch):
    """Relative paths (``backends/app.py``) mean what they mean in the notebook."""
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path)
    with Lab() as lab:
        host = lab.host("web1")
        assert host.run("pwd").stdout.strip() == str(tmp_path)
        assert host.run(["pwd"], cwd="here").stdout.strip() == str(tmp_path / "here")
        process = host.popen("pwd; ls", cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        assert process.communicate(timeout=30)[0].split() == [str(tmp_path), "here"]


def test_without_namespaces_a_lesson_carries_on_past_each_cell_that_needs_hosts(monkeypatch, capsys):
    """Lab.if_possible() gives a stand-in whose first use is one message; if_installed() carries on after it."""
    from labsupport import if_installed

    monkeypatch.setattr(hosts, "_probed", (None, "refused here (demo)"))
    lab = Lab.if_possible()
    assert not lab and not lab.running and repr(lab) == "<no lab here: refused here (demo)>"
    ran = []
    with if_installed():
        lab.host("web1")
        ran.append("past the host")  # never reached
    lab.stop()  # nothing to stop, and no error
    out = capsys.readouterr().out
    assert ran == []
    assert "No hosts on this machine: refused here (demo)." in out
    assert "no lab network on this machine: refused here (demo)\nCarrying on without hosts" in out


def test_lab_no_netns_shows_the_lesson_as_a_machine_without_namespaces(monkeypatch):
    monkeypatch.setattr(hosts, "_probed", None)
    monkeypatch.setenv("LAB_NO_NETNS", "1")
    assert not Lab.available() and "LAB_NO_NETNS=1" in Lab.why_not()


def test_a_name_a_skipped_cell_would_have_made_carries_on_too_and_only_then(monkeypatch, capsys):
    """Cells run as a notebook runs them: at module level of one namespace."""
    from labsupport.course import environment

    monkeypatch.setattr(environment, "_carried_on", [])
    cells = {"if_installed": environment.if_installed, "Lab": Lab}
    with pytest.raises(NameError):  # nothing was skipped: the student's own NameError shows
        exec("with if_installed():\n    site.url('web1')", cells)
    monkeypatch.setattr(hosts, "_probed", (None, "refused here (demo)"))
    exec("lab = Lab.if_possible()\nwith if_installed():\n    site = lab.host('client')", cells)
    exec("with if_installed():\n    print(site.url('web1'))", cells)
    assert capsys.readouterr().out.endswith(
        "site was never made: an earlier cell carried on without network namespaces. Carrying on.\n")
