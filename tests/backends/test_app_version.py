"""backends/app.py --version V (lesson 09): every answer says which version served it."""
from __future__ import annotations

import json
import urllib.request

from labsupport.course.fleet import Fleet

from .test_app import run_app


def get(url: str) -> tuple[str, str | None]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode(), r.headers.get("X-Version")


def test_without_version_the_page_is_the_articles_and_the_header_says_1():
    with Fleet() as fleet:
        (port,) = fleet.start(count=1)
        base = f"http://127.0.0.1:{port}"
        assert get(base + "/") == (f"Hi!! from server {port}", "1")
        assert get(base + "/version") == ("1\n", "1")
        assert get(base + "/health")[1] == "1"
        assert json.loads(get(base + "/info")[0])["version"] == "1"


def test_version_2_in_header_body_version_page_and_service_json():
    with Fleet() as fleet:
        (port,) = fleet.start(count=1, version=2)
        base = f"http://127.0.0.1:{port}"
        assert get(base + "/") == (f"Hi!! from server {port} (version 2)", "2")
        assert get(base + "/version") == ("2\n", "2")
        (named,) = fleet.start(count=1, name="api", version="3.1")
        body, header = get(f"http://127.0.0.1:{named}/anything")
        assert header == "3.1" and json.loads(body)["version"] == "3.1"


def test_a_bad_version_is_one_line():
    r = run_app("8080", "--version", "a b")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "app.py: error: --version 'a b': give a short name like 2 or 1.4.0 (letters, digits, '.', '-', '_') "
        "(usage: python3 backends/app.py PORT [--host ADDR])"]
