"""A portal (labsupport/course/portal.py): the kernel's own namespace reaches a server in the lab by a local URL."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from labsupport import lifecycle
from labsupport.course.hosts import Lab
from labsupport.course.portal import Portal

APP = Path(__file__).resolve().parents[2] / "backends" / "app.py"


@pytest.fixture()
def lab():
    if not Lab.available():
        reason = f"no network namespaces for this account: {Lab.why_not()}"
        if os.environ.get("LAB_REQUIRE_NETNS") == "1":
            pytest.fail(f"LAB_REQUIRE_NETNS=1 but {reason}")
        pytest.skip(reason)
    made = Lab()
    yield made
    made.stop()


def _get(url: str) -> str:
    try:
        return urllib.request.urlopen(url, timeout=10).read().decode()
    except (OSError, urllib.error.URLError):
        return ""


def test_a_local_url_reaches_a_server_in_the_lab(lab):
    web, client = lab.host("web1", "10.0.0.11"), lab.host("client", "10.0.0.2")
    web.popen([sys.executable, str(APP), "8080", "--host", "10.0.0.11"], stdout=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL)
    portal = Portal(client, "10.0.0.11", 8080)
    assert repr(portal) == f"<Portal http://127.0.0.1:{portal.port}/ -> 10.0.0.11:8080 via host client>"
    deadline = time.monotonic() + 60
    while (body := _get(portal.url)) == "":
        assert time.monotonic() < deadline, "the server in web1 never answered through the portal"
        time.sleep(0.1)
    assert body == "Hi!! from server 8080"
    assert [_get(portal.url) for _ in range(5)] == ["Hi!! from server 8080"] * 5
    assert '"host":"10.0.0.11"' in _get(portal.url + "info").replace(" ", "")
    assert portal in lifecycle.running("child")
    path = portal.path
    assert path.exists()
    lifecycle.stop_all()
    assert not portal.running and not lab.running and not path.exists()
    assert _get(portal.url) == "" and repr(portal).startswith("<Portal stopped")


def test_a_portal_to_nothing_or_into_a_stopped_lab_closes_at_once(lab):
    lab.host("web1", "10.0.0.11")
    portal = Portal(lab["web1"], "10.0.0.11", 9)  # nothing listens there: connections close at once
    assert _get(portal.url) == ""
    lab.stop()
    assert _get(portal.url) == ""  # the relay went with the lab; the door still answers, and closes
    portal.stop()
    assert not portal.path.exists()
