"""A cell run again in a real kernel, as JupyterLab runs it (its cell id in the request): what the earlier
run started stops, one line says so, and the lesson goes on working. The first run prints nothing new."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.kernel import course_kernel, errors, text

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def cell(lesson: str, *needles: str) -> tuple[str, str]:
    """(id, source) of the one code cell of ``lesson`` that contains every needle."""
    cells = json.loads((NOTEBOOKS / f"{lesson}.ipynb").read_text())["cells"]
    found = [c for c in cells if c["cell_type"] == "code" and all(n in "".join(c["source"]) for n in needles)]
    assert len(found) == 1, f"{lesson}: {len(found)} cells contain {needles}"
    return found[0]["id"], "".join(found[0]["source"])


def run_ok(kernel, lesson: str, *needles: str) -> str:
    cell_id, source = cell(lesson, *needles)
    status, outputs = kernel.run(source, cell_id)
    assert status == "ok" and not errors(outputs), text(outputs)
    return text(outputs)


def test_rerunning_lesson_01s_server_cell_restarts_its_servers_and_leaves_the_dns_server_alone():
    lesson = "01-dns-load-balancing"
    with course_kernel(NOTEBOOKS / f"{lesson}.ipynb", cwd=NOTEBOOKS) as k:
        run_ok(k, lesson, "from labsupport import", "stop_all()")
        run_ok(k, lesson, "lab_dns = DNSServer(")
        first = run_ok(k, lesson, "fleet = Fleet()", "start_lab_servers")
        assert "restarted" not in first  # the first run prints what it always did, nothing more
        k.run("old_fleet, dns_port, old_pids = fleet, lab_dns.port, [s.pid for s in fleet.servers]")
        again = run_ok(k, lesson, "fleet = Fleet()", "start_lab_servers")
        notes = [line for line in again.splitlines() if line.startswith("restarted")]
        assert notes == ["restarted the servers on 127.0.0.2:8080, 127.0.0.3:8080 and 127.0.0.4:8080: "
                         "an earlier run of this cell had started them"], again
        # the lesson goes on: a visit through DNS, the servers' table, the DNS server as it was
        visit = run_ok(k, lesson, "resolver = LabResolver(lab_dns)", "v = visit(")
        assert "Hi!! from server 8080" in visit
        _, out = k.run("fleet.status()", "a-cell-below")
        assert text(out).count("running") == 3, text(out)
        _, out = k.run("from labsupport import lifecycle\n"
                       "print(lab_dns.running, lab_dns.port == dns_port, len(lifecycle.running('server')),"
                       " len(lifecycle.running('dns')))\n"
                       "print(repr(old_fleet))\n"
                       "import os\nprint([os.path.exists(f'/proc/{p}') for p in old_pids])")
        lines = text(out).splitlines()
        assert lines[0] == "True True 3 1", lines  # one DNS server, three servers: nothing twice
        assert lines[1] == "<Fleet 3 servers: 8080 replaced, 8080 replaced, 8080 replaced>"
        assert lines[2] == "[False, False, False]"  # the earlier run's processes are gone (and reaped)
        # the old fleet object never acts on a ghost: one line, no traceback
        _, out = k.run("old_fleet.capacity('127.0.0.2:8080')")
        (tb,) = errors(out)
        assert tb == ["NotRunningError: server 127.0.0.2:8080 of this fleet was replaced when the cell that "
                      "started it ran again: use the new fleet that cell made"]
        # a crash and restart (cells 37, 42) keep the server tied to this cell: a re-run still replaces it
        run_ok(k, lesson, "victim = ", "fleet.kill(victim)")
        run_ok(k, lesson, "fleet.restart(victim)")
        again = run_ok(k, lesson, "fleet = Fleet()", "start_lab_servers")
        assert re.search(r"^restarted the servers on 127\.0\.0\.2:8080, 127\.0\.0\.3:8080 and 127\.0\.0\.4:8080",
                         again, re.M), again
        k.run("from labsupport import stop_all; stop_all()")


def test_rerunning_lesson_05s_dashboard_cell_keeps_one_traffic_generator():
    lesson = "05-monitoring"
    with course_kernel(NOTEBOOKS / f"{lesson}.ipynb", cwd=NOTEBOOKS) as k:
        run_ok(k, lesson, "from labsupport import", "stop_all()")
        first = run_ok(k, lesson, "traffic = TrafficGenerator(", "MonitorDashboard(")
        assert "restarted" not in first
        k.run("first_traffic, first_dash = traffic, dash")
        again = run_ok(k, lesson, "traffic = TrafficGenerator(", "MonitorDashboard(")
        notes = [line for line in again.splitlines() if line.startswith("restarted")]
        assert notes == ["restarted the traffic to http://127.0.0.1:3000/, the monitoring dashboard: "
                         "an earlier run of this cell had started them"], again
        _, out = k.run("from labsupport import lifecycle\n"
                       "print(len(lifecycle.running('traffic')), first_traffic.running, traffic.running,"
                       " first_dash.running, dash.running)")
        assert text(out).split() == ["1", "False", "True", "False", "True"]
        # a cell that is not a re-run (a fresh cell) starting more traffic replaces nothing
        _, out = k.run("extra = TrafficGenerator('http://127.0.0.1:3000/', rate=1, duration=5).start()\n"
                       "print(len(lifecycle.running('traffic')))", cell_id="a-new-cell")
        assert text(out).split() == ["2"]
        k.run("from labsupport import stop_all; stop_all()")


@pytest.mark.parametrize("code, note", [
    ("from labsupport import DNSServer\nd = DNSServer().start()", r"restarted the DNS server on 127\.0\.0\.1:\d+: "),
    ("from labsupport import Balancer\nlb = Balancer.from_text(CFG).start()",
     r"restarted the balancer on http://127\.0\.0\.1:\d+/: "),
    ("from labsupport import Fleet\nf = Fleet()\nf.start(count=2)", r"restarted the servers on 127\.0\.0\.1:\d+ and "
                                                                    r"127\.0\.0\.1:\d+: "),
])
def test_each_kind_a_cell_starts_is_replaced_once_by_its_rerun(code, note):
    with course_kernel() as k:
        k.run("from labsupport.ports import free_ports\n(P,) = free_ports(1)\n"
              "CFG = f'frontend f\\n    bind 127.0.0.1:{P}\\n    default_backend b\\nbackend b\\n"
              "    server s1 127.0.0.1:1'")
        status, out = k.run(code, "the-cell")
        assert status == "ok" and "restarted" not in text(out)  # a first run: no note
        status, out = k.run(code, "the-cell")
        assert status == "ok" and not errors(out), text(out)
        lines = [ln for ln in text(out).splitlines() if ln.startswith("restarted")]
        assert len(lines) == 1 and re.match(note + "an earlier run of this cell had started (it|them)$", lines[0]), \
            text(out)
        k.run("from labsupport import stop_all; stop_all()")
