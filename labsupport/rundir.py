"""This user's own folder for the course's run-time files: server logs, UNIX sockets, scratch files.

Never a fixed ``/tmp/lab-...`` name: on a machine several people share, the first user to run a lesson would
own it and every other user's lesson would fail on it. The folder is, in this order:

1. ``$LAB_RUN`` when it is set (an instructor's choice; also how a kernel's children inherit the folder);
2. ``$XDG_RUNTIME_DIR/lab-course``: the per-user folder a desktop session gives (``/run/user/UID``);
3. ``<temporary folder>/lab-course-<user>``, made private (mode 0700) and used only while it is this user's
   own folder and not a link;
4. otherwise a new private temporary folder.

``run_dir()`` then sets ``LAB_RUN`` in this process's environment, so configuration files can name their
sockets ``"${LAB_RUN-/tmp}/lab-haproxy-admin.sock"`` (HAProxy and the course's engine both expand it, with
``/tmp`` for someone running the file by hand), and a shell a notebook starts (``!socat ...``) finds them.
"""
from __future__ import annotations

import getpass
import os
import stat
import tempfile
from pathlib import Path

ENV = "LAB_RUN"
_chosen: Path | None = None


def _usable(folder: Path, make: bool) -> bool:
    """``folder`` is (or, with ``make``, now is) a directory of this user's, not a link, private."""
    try:
        if make:
            folder.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            return False
        if st.st_mode & 0o077:
            os.chmod(folder, 0o700)
        return os.access(folder, os.W_OK | os.X_OK)
    except OSError:
        return False


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container's odd user): the number still tells users apart
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


def run_dir() -> Path:
    """This user's run-time folder (made on first use, private); also exported as ``$LAB_RUN``."""
    global _chosen
    if _chosen is not None and _usable(_chosen, make=True):
        return _chosen
    candidates = []
    if os.environ.get(ENV):
        candidates.append(Path(os.environ[ENV]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        candidates.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "lab-course")
    candidates.append(Path(tempfile.gettempdir()) / f"lab-course-{_user()}")
    folder = next((c for c in candidates if _usable(c, make=True)), None)
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix=f"lab-course-{_user()}-"))
    os.environ[ENV] = str(folder)
    _chosen = folder
    return folder
