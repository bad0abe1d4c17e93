"""Differential tests: the engine's ``-c`` check against real ``haproxy -c -f`` (the oracle).

Every corpus file, plus a few inline variations, goes through both. They must agree on the
exit code and stdout, and the engine's stderr without its own "course engine" notes must equal
haproxy's line for line (pids normalised, and the two opening lines, where each names its own program,
version and executable: ``config_corpus.normalise``).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from config_corpus import ALL, normalise
from labsupport.engine.config import check

pytestmark = pytest.mark.haproxy


def _norm(text: str) -> str:
    return normalise(re.sub(r"\((\d+)\) :", "(PID) :", text))


def run_haproxy(haproxy_bin: str, path: Path) -> tuple[int, str, str]:
    r = subprocess.run([haproxy_bin, "-c", "-f", path.name], cwd=path.parent, capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout, _norm(r.stderr)


def run_engine(path: Path) -> tuple[int, str, str]:
    code, out, err = check(str(path), pid="PID", name=path.name, engine_notes=False)
    return code, out, normalise(err)


def alerts(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("[ALERT]")]


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_agrees_with_haproxy(haproxy_bin, path):
    real = run_haproxy(haproxy_bin, path)
    ours = run_engine(path)
    assert ours[0] == real[0], f"exit codes differ:\nhaproxy:\n{real[2]}\nengine:\n{ours[2]}"
    assert alerts(ours[2]) == alerts(real[2])
    assert ours == real


TIMES = ["10", "10ms", "10s", "1m", "2h", "1d", "24d", "25d", "10us", "1.5s", "5S", "-1", "0", "2147483647",
         "2147483648", "10x", "5 s", "s5"]


@pytest.mark.parametrize("value", TIMES)
def test_time_values_agree_with_haproxy(haproxy_bin, tmp_path, value):
    path = tmp_path / "t.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 5s\n    timeout server 5s\n"
                    f"frontend fe\n    bind 127.0.0.1:13999\n    timeout client {value}\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


SERVER_LINES = ["weight 0", "weight 256", "weight 257", "weight -5", "weight abc", "weight",
                "rise 0", "fall -1", "inter 0", "inter 5z", "inter", "id 0", "maxconn x", "chek",
                "check backup disabled", "slowstart 5s", "port 80 check"]


@pytest.mark.parametrize("words", SERVER_LINES)
def test_server_keywords_agree_with_haproxy(haproxy_bin, tmp_path, words):
    path = tmp_path / "s.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n"
                    "    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:13999\n    default_backend be\n"
                    f"backend be\n    server s1 127.0.0.1:18080 {words}\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)


BACKEND_LINES = ["hash-balance-factor 150", "hash-balance-factor 100", "hash-balance-factor 0",
                 "hash-balance-factor 50", "hash-balance-factor", "hash-balance-factor abc",
                 "balance random(3)", "balance random(0)"]


@pytest.mark.parametrize("line", BACKEND_LINES)
def test_backend_keywords_agree_with_haproxy(haproxy_bin, tmp_path, line):
    path = tmp_path / "b.cfg"
    path.write_text("defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n"
                    "    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:13999\n    default_backend be\n"
                    f"backend be\n    {line}\n    server s1 127.0.0.1:18080\n")
    assert run_engine(path) == run_haproxy(haproxy_bin, path)
