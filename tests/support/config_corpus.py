"""The corpus of configurations under tests/configs and their expected engine output.

Each ``*.cfg`` has a sidecar ``*.cfg.expected``: the exit code, stdout and stderr that
``python -m labsupport.balancer -c -f FILE`` prints (pid written as PID, the two opening NOTICE lines
-- who is speaking, which version, which executable -- normalised by ``normalise``). Regenerate the
sidecars after a deliberate wording change with ``python -m tests.support.config_corpus`` and review
the diff; tests/differential/test_config.py proves they agree with real haproxy.
"""
from __future__ import annotations

import re
from pathlib import Path

from labsupport.engine.config import check

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BROKEN = sorted((CONFIGS / "broken").glob("*.cfg"))
VALID = sorted((CONFIGS / "valid").glob("*.cfg"))
ALL = BROKEN + VALID


# haproxy's and the engine's opening lines differ by design (program, version, path): compare the rest
_VERSION = re.compile(r"^(\[NOTICE\] +\([^)]*\) : )\S+ version is .*$", re.M)
_EXECUTABLE = re.compile(r"^(\[NOTICE\] +\([^)]*\) : )path to executable is .*$", re.M)


def normalise(stderr: str) -> str:
    """``stderr`` of ``-c`` with the program/version and executable NOTICE lines made neutral."""
    stderr = _VERSION.sub(r"\1<program> version is <version>", stderr)
    return _EXECUTABLE.sub(r"\1path to executable is <path>", stderr)


def engine_output(path: Path) -> str:
    """The engine's ``-c`` result for ``path`` in the sidecar's format."""
    code, out, err = check(str(path), pid="PID", name=path.name)
    return f"exit {code}\n--- stdout\n{out}--- stderr\n{normalise(err)}"


def expected_output(path: Path) -> str:
    return (path.parent / (path.name + ".expected")).read_text(encoding="utf-8")


if __name__ == "__main__":
    for cfg in ALL:
        (cfg.parent / (cfg.name + ".expected")).write_text(engine_output(cfg), encoding="utf-8")
        print("wrote", cfg.name + ".expected")
