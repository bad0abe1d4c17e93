"""The fleet panel reflects the real processes, without a display."""
from __future__ import annotations

import os
import signal
import time

from labsupport.course.fleet import Fleet
from labsupport.lessons.servers.panel import FleetPanel


def test_panel_follows_processes_and_buttons_act():
    with Fleet() as fleet:
        ports = fleet.start(count=2)
        panel = FleetPanel(fleet, refresh=0.2, max_seconds=20)
        try:
            assert panel.lights() == {p: "running" for p in ports}
            assert "lab-kill-%d" % ports[0] in panel._rows[("127.0.0.1", ports[0])].kill._dom_classes

            os.kill(fleet.servers[1].pid, signal.SIGKILL)  # from "a terminal"
            end = time.time() + 1.0
            while panel.lights()[ports[1]] == "running" and time.time() < end:
                time.sleep(0.05)
            assert panel.lights()[ports[1]] == "killed (SIGKILL)"

            panel._rows[("127.0.0.1", ports[0])].kill.click()
            assert panel.lights()[ports[0]] == "killed"
            panel._rows[("127.0.0.1", ports[0])].restart.click()
            assert panel.lights()[ports[0]] == "running"

            panel.add.click()
            assert len(panel.lights()) == 3 and len(panel.rows_box.children) == 3
        finally:
            panel.close()
        assert not panel.loop.running


def test_button_errors_show_next_to_the_buttons():
    with Fleet() as fleet:
        fleet.start(count=1)
        panel = FleetPanel(fleet, max_seconds=5)
        panel._act(fleet.kill, 1)  # no such port
        assert "no server on port 1" in panel.message.value
        panel.close()


def test_panel_shows_what_stop_all_and_clean_up_did():
    from labsupport import stop_all

    fleet = Fleet()
    ports = fleet.start(count=2)
    panel = FleetPanel(fleet, refresh=0.2, max_seconds=20)
    other = FleetPanel(fleet, refresh=0.2, max_seconds=20)
    fleet.stop(ports[0])
    panel.close()  # a clean-up cell: the last look shows the stop
    assert panel.lights()[ports[0]] == "stopped" and "no longer live" in panel.note.value
    stop_all()  # the first cell of the next run
    assert not other.loop.running
    assert "running" not in other.lights().values(), other.lights()  # no green light for a stopped server


def test_the_request_count_agrees_in_number():
    with Fleet() as fleet:
        (port,) = fleet.start(count=1)
        panel = FleetPanel(fleet, refresh=0.2, max_seconds=5)
        try:
            row = panel._rows[("127.0.0.1", port)]
            for asked, words in ((1, "&middot; 1 request"), (2, "&middot; 2 requests")):
                fleet.ask(port)
                assert fleet.requests_served(fleet.servers[0]) == asked
                panel.refresh()
                assert row.label.value.endswith(words), row.label.value
        finally:
            panel.close()
