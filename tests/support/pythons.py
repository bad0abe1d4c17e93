"""Does requirements.txt install on every Python this machine has that the course supports (3.10 and newer)?

For each interpreter found (``/usr/bin/python3``, ``python3.10`` ... ``python3.13`` on PATH, and pyenv's
versions), makes a throw-away venv and asks pip to resolve the requirements (``pip install --dry-run``:
nothing is installed). Prints one line per interpreter and exits 1 naming those that fail, with pip's last
error line. ``make pythons`` runs it; so does CI (.ci/run), before the tests.

    python tests/support/pythons.py            # every interpreter found
    python tests/support/pythons.py /usr/bin/python3
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OLDEST = (3, 10)
NAMES = ("python3", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")


def candidates() -> list[str]:
    found = ["/usr/bin/python3"] if os.access("/usr/bin/python3", os.X_OK) else []
    found += [p for p in (shutil.which(n) for n in NAMES) if p]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        found += [str(p / "bin" / "python3") for p in sorted(pyenv.iterdir()) if (p / "bin" / "python3").exists()]
    return found


def version_of(python: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:3])"], capture_output=True,
                             text=True, timeout=30).stdout.split()
        return tuple(int(x) for x in out)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def resolve(python: str) -> str | None:
    """None when pip resolves requirements.txt with ``python``; otherwise pip's last error line."""
    with tempfile.TemporaryDirectory(prefix="lab-pythons-") as tmp:
        made = subprocess.run([python, "-m", "venv", tmp], capture_output=True, text=True)
        if made.returncode:
            return "cannot make a venv (on Debian: sudo apt-get install python3-venv): " + made.stderr.strip()[-200:]
        run = subprocess.run([f"{tmp}/bin/python", "-m", "pip", "install", "--dry-run", "--quiet",
                              "--disable-pip-version-check", "-r", "requirements.txt"],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
        if run.returncode == 0:
            return None
        errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
        return (errors or run.stderr.strip().splitlines() or ["pip failed"])[-1]


def main(argv: list[str]) -> int:
    seen: dict[tuple[int, ...], str] = {}
    for python in argv or candidates():
        version = version_of(python)
        if version and version[:2] >= OLDEST and version not in seen:
            seen[version] = python
    if not seen:
        print("no Python 3.10 or newer found")
        return 1
    failed = []
    for version, python in sorted(seen.items()):
        problem = resolve(python)
        name = ".".join(map(str, version))
        print(f"{name:8} {python}: {'ok' if problem is None else 'FAILS: ' + problem}", flush=True)
        if problem is not None:
            failed.append(name)
    if failed:
        print(f"requirements.txt does not install on Python {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
