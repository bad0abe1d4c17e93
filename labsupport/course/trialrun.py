"""Run a script once as ``python3 SCRIPT PORT``, ask it for its page, stop it: lesson 02's experiments with
the article's original app.py and with a second server on a port that is already taken."""
from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TrialRun", "trial_run"]


@dataclass
class TrialRun:
    """What happened when a script was run once as ``python3 SCRIPT PORT`` (see ``trial_run``)."""

    exit_code: int | None  # None: still running when we stopped it
    output: str
    http_status: int | None  # the answer to GET / while it ran, if any
    body: str

    def __repr__(self) -> str:
        ran = "kept running (we stopped it)" if self.exit_code is None else f"exited with code {self.exit_code}"
        web = f"GET / -> {self.http_status} {self.body.strip()[:60]!r}" if self.http_status else "GET / -> no answer"
        out = "\n".join("    " + line for line in self.output.strip().splitlines()[-6:]) or "    (no output)"
        return f"the script {ran}\n{web}\noutput:\n{out}"


def trial_run(script: str | Path, port: int, seconds: float = 3.0, host: str = "127.0.0.1") -> TrialRun:
    """Run ``python3 SCRIPT PORT`` for at most ``seconds``, try ``GET /`` on it, then stop it.

    For experiments: the article's original app.py, or a second server on a port already taken.
    """
    proc = subprocess.Popen([sys.executable, "-u", str(script), str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.time() + seconds
    # Wait until the script says it is serving, exits, or runs out of time; only then ask it,
    # so an answer cannot come from another server that already holds the port.
    while time.time() < deadline and proc.poll() is None and not any(b"Running on" in x for x in lines):
        time.sleep(0.05)
    status, body = None, ""
    if proc.poll() is None:
        conn = http.client.HTTPConnection(host, port, timeout=1)
        try:
            conn.request("GET", "/")
            answer = conn.getresponse()
            status, body = answer.status, answer.read().decode(errors="replace")
        except OSError:
            pass
        finally:
            conn.close()
    code = proc.poll()
    if code is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    reader.join(timeout=2)
    output = b"".join(lines)
    text = re.sub(r"\x1b\[[0-9;]*m", "", output.decode(errors="replace"))  # drop terminal colours
    folders = {str(Path(script).resolve().parent), str(Path(script).absolute().parent)}
    for folder in sorted(folders, key=len, reverse=True):
        text = text.replace(folder + os.sep, "")
    return TrialRun(code, text, status, body)
