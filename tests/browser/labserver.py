"""A real JupyterLab server for the browser tests, started the way students start theirs: the course's
launcher (``python -m labsupport.course.launch lab``, what ``make lab`` runs) on a temporary copy of the
course, a free port and a token. The copy has its own ``notebooks/`` (the lessons as tracked, in a git
repository of their own so a test can ask ``git status``), the repository's other top-level folders linked
beside it, and the launcher fills ``my-notebooks/`` from it, so the lessons' relative paths (../haproxy,
../backends) hold and every save lands where a student's does.

``headless=True`` gives its kernels ``LAB_HEADLESS=1`` (the short versions of the lessons, as ``make test``
runs them), for Run All; without it the live panels run as long as a student's do.
``stop()`` shuts it down and makes sure no kernel, server or balancer it started is left behind.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from labsupport.ports import free_ports, port_holder

from . import (
    selectors as sel,  # (a package: this never shadows the standard library's selectors)
)

REPO = Path(__file__).resolve().parents[2]
# The fixed ports the lessons use (the balancer, real HAProxy beside it, the four application servers).
# Everything else on this machine that runs the lessons (nbval, a student's lab) wants them too.
COURSE_PORTS = (3000, 3100, 8080, 8081, 8082, 8083)
NOT_LINKED = {"notebooks", "my-notebooks", ".git", ".venv", "test-artifacts", ".pytest_cache"}
GIT_IDENTITY = ["-c", "user.name=browser tests", "-c", "user.email=tests@localhost", "-c", "commit.gpgsign=false"]


class LabServer:
    """``course``: an existing course folder to serve (tests/course/test_launch.py's git repository of the
    working tree); by default a temporary one is made under ``workdir``."""

    def __init__(self, workdir: Path, headless: bool = False, course: Path | None = None):
        self.workdir, self.headless, self._given = workdir, headless, course is not None
        self.root = course or workdir / "course"
        self.folder = self.root / "my-notebooks"  # where JupyterLab runs and saves: the student's copies
        self.port = free_ports(1)[0]
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "jupyter.log"
        self._workspaces = 0

    # ----- start
    def prepare(self) -> None:
        """The temporary course: notebooks/ copied and committed, everything else linked."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self._given:
            self.root.mkdir(parents=True)
            for entry in REPO.iterdir():
                if entry.name not in NOT_LINKED:
                    (self.root / entry.name).symlink_to(entry)
            shutil.copytree(REPO / "notebooks", self.root / "notebooks",
                            ignore=shutil.ignore_patterns(".*", "__pycache__"))
            self.git("init", "-q")
            self.git("add", "notebooks")
            self.git(*GIT_IDENTITY, "commit", "-q", "-m", "the course's lessons")
        settings = self.workdir / "settings"
        for name, text in sel.LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(text)

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True, text=True).stdout

    def tracked_changes(self) -> str:
        """``git status --porcelain`` of the course's notebooks/: empty while no lesson file was touched."""
        return self.git("status", "--porcelain", "--", "notebooks")

    def start(self, timeout: float = 120) -> LabServer:
        self.prepare()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "LAB_HEADLESS"))}
        env.update(JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"), JUPYTER_CONFIG_DIR=str(self.workdir / "config"),
                   JUPYTERLAB_SETTINGS_DIR=str(self.workdir / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.workdir / "workspaces"),
                   PATH=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/local/sbin")  # the students' haproxy
        if self.headless:  # kernels inherit it: the lessons' short runs (06 takes minutes by hand)
            env["LAB_HEADLESS"] = "1"
        # the students' launcher: it fills my-notebooks/, adds rescue.kernel_env() and becomes JupyterLab
        cmd = [sys.executable, "-m", "labsupport.course.launch", "--root", str(self.root), "lab", "--no-browser",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "api/status")
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def launch_lines(self) -> list[str]:
        """What the launcher printed (what ``make lab`` shows a student) before JupyterLab's log ("[I ...")."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return lines[:next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))]

    # ----- talking to it
    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def notebook_url(self, name: str) -> str:
        """The notebook in a new, empty workspace: no tab of an earlier test comes back. (``?reset`` would
        do that by reloading the page, and a kernel connection of the first load can then drop the queued
        cells of the first Run All.)"""
        self._workspaces += 1
        return self.url(f"lab/workspaces/test{self._workspaces}/tree/{name}")

    def api(self, method: str, path: str, body: dict | None = None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    # ----- processes
    def kernel_processes(self) -> list[psutil.Process]:
        """The kernels this server runs (each in its own session, so found by parentage)."""
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []
        return [p for p in children if _is_kernel(p)]

    def shutdown_kernels(self, timeout: float = 15) -> list[str]:
        """Shut every kernel down through the REST API (what Kernel > Shut Down does); return what
        was still running afterwards (and had to be killed), described, so a test can report it."""
        procs = [q for p in self.kernel_processes() for q in [p, *_descendants(p)]]
        for k in self.api("GET", "api/kernels"):
            try:
                self.api("DELETE", f"api/kernels/{k['id']}")
            except urllib.error.HTTPError:
                pass  # gone meanwhile
        return _reap(procs, timeout)

    def stop(self, timeout: float = 15) -> list[str]:
        """Stop the server; return the processes that survived it (killed now), described."""
        if self.proc is None:
            return []
        procs = _descendants(psutil.Process(self.proc.pid)) if self.proc.poll() is None else []
        try:
            self.api("POST", "api/shutdown")  # shuts the kernels down, then the server
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        survivors = _reap(procs, 5)
        self.proc = None
        return survivors


def _is_kernel(p: psutil.Process) -> bool:
    try:
        return any("ipykernel" in a for a in p.cmdline())
    except psutil.Error:
        return False


def _descendants(p: psutil.Process) -> list[psutil.Process]:
    try:
        return p.children(recursive=True)
    except psutil.Error:
        return []


def _reap(procs: list[psutil.Process], timeout: float) -> list[str]:
    """Wait for ``procs`` to exit; SIGKILL and describe those that did not."""
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    survivors = []
    for p in alive:
        try:
            survivors.append(f"pid {p.pid}: {' '.join(p.cmdline())[:120]}")
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    return survivors


def wait_ports_free(ports=COURSE_PORTS, timeout: float = 60) -> None:
    """Wait until nothing listens on the lessons' fixed ports (another run of the lessons may hold them
    for a while); fail naming the holder if one keeps them."""
    deadline = time.monotonic() + timeout
    while True:
        held = [p for p in ports if listening(p)]
        if not held:
            return
        if time.monotonic() > deadline:
            who = ", ".join(f"{p} ({port_holder(p) or 'unknown process'})" for p in held)
            raise AssertionError(f"the lessons' ports are still taken after {timeout:.0f} s: {who}")
        time.sleep(0.5)


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
