"""``haproxy -c -f FILE`` for the course engine: messages rendered exactly as haproxy prints them.

``check(path_or_text)`` returns (exit code, stdout, stderr) like the real command:
exit 0 "Configuration file is valid" (after "Warnings were found." when there were warnings),
exit 1 with haproxy's trailer lines when a fatal error was found, exit 2 when nothing listens.
``format_haproxy`` renders a list of ``Message``s the way haproxy writes them on stderr.

The two opening NOTICE lines keep haproxy's format but say who is speaking: the course engine, its
version and how it was run -- never a haproxy binary that did not run. Tests that compare with real
haproxy normalise those two lines on both sides (tests/support/config_corpus.py ``normalise``).
"""
from __future__ import annotations

import functools
import os
import sys
from importlib import metadata

from ...errors import Message
from .parser import Analysis, analyse

PROGRAM = "labsupport.balancer"
BEHAVES_LIKE = "HAProxy 2.6"


@functools.lru_cache(maxsize=1)
def engine_version() -> str:
    """The installed labsupport version (pyproject.toml), or 'source tree' when run uninstalled."""
    try:
        return metadata.version("labsupport")
    except metadata.PackageNotFoundError:
        return "source tree"


ENGINE_MARK = "course engine"
TRAILERS = {
    "parse": ("Error(s) found in configuration file : {path}", "Fatal errors found in configuration."),
    "abort": ("Error(s) found in configuration file : {path}",),
    "check": ("Fatal errors found in configuration.",),
    "addr": ("Failed to initialize server(s) addr.",),
    "open": (),
}


def is_engine_note(message: Message) -> bool:
    """True for the course engine's own warnings (real haproxy does not print them)."""
    return ENGINE_MARK in message.text


def haproxy_line(level: str, text: str, pid: int | str, config: bool = True) -> str:
    """One stderr line: the tag left-justified in 10 columns, then '(PID) : config : TEXT'."""
    return f"{'[' + level + ']':<10} ({pid}) : {'config : ' if config else ''}{text}"


def format_haproxy(messages: list[Message] | tuple[Message, ...], path: str | None = None,
                   pid: int | str | None = None, stage: str | None = None,
                   engine_notes: bool = True) -> str:
    """Render ``messages`` as ``haproxy -c`` writes them on stderr ('' when there is nothing).

    ``stage`` (from ``ConfigError.stage`` or ``Analysis.stage``) picks the trailer lines;
    ``engine_notes=False`` drops the course engine's own warnings, leaving haproxy's output.
    """
    pid = os.getpid() if pid is None else pid
    shown = [m for m in messages if engine_notes or not is_engine_note(m)]
    trailer = [t.format(path=path or "haproxy.cfg") for t in TRAILERS.get(stage or "", ())]
    if not shown and not trailer:
        return ""
    out = [haproxy_line("NOTICE", f"{PROGRAM} version is {engine_version()} (the course engine, "
                        f"behaving like {BEHAVES_LIKE})", pid, config=False),
           haproxy_line("NOTICE", f"path to executable is {sys.executable} (Python, running {PROGRAM})", pid,
                        config=False)]
    out += [haproxy_line(m.level, m.text, pid) for m in shown]
    out += [haproxy_line("ALERT", t, pid) for t in trailer]
    return "\n".join(out) + "\n"


def read_sources(path: str, shown: str) -> list[tuple[str, str]]:
    """(name, text) of the file ``path``, or of each ``*.cfg`` in the directory ``path`` in
    lexical order, as ``haproxy -f DIR`` reads them; raises OSError."""
    if not os.path.isdir(path):
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            return [(shown, f.read())]
    out = []
    for entry in sorted(os.listdir(path)):
        full = os.path.join(path, entry)
        if entry.endswith(".cfg") and os.path.isfile(full):
            with open(full, encoding="utf-8", errors="replace", newline="") as f:
                out.append((os.path.join(shown, entry), f.read()))
    return out


def analyse_path(path: str, shown: str | None = None, localpeer: str | None = None) -> Analysis:
    """Analyse the file or directory ``path`` (messages name it ``shown``); never raises."""
    shown = shown or path
    try:
        sources = read_sources(path, shown)
    except OSError as e:
        msg = Message("ALERT", f"Cannot open configuration file/directory {shown} : {e.strerror}", shown)
        return Analysis(None, (msg,), "open")
    text = "".join(t for _, t in sources)
    first = sources[0][0] if sources else shown
    return analyse(text, first, from_file=True, sources=sources, localpeer=localpeer)


def run_check(path_or_text: str, name: str | None = None) -> tuple[Analysis, str]:
    """Analyse a file or directory (when ``path_or_text`` names one) or a configuration text.

    Returns the analysis and the file name used in messages.
    """
    is_text = "\n" in path_or_text or not path_or_text.strip()
    if not is_text:
        shown = name or path_or_text
        result = analyse_path(path_or_text, shown)
        if result.messages:  # the trailer names the file where the first error was found
            shown = next((m.file for m in result.messages if m.level == "ALERT" and m.file), shown)
        return result, shown
    shown = name or "haproxy.cfg"
    return analyse(path_or_text, shown), shown


def check(path_or_text: str, pid: int | str | None = None, name: str | None = None,
          engine_notes: bool = True) -> tuple[int, str, str]:
    """Like ``haproxy -c -f FILE``: (exit code, stdout, stderr).

    ``path_or_text`` is a file path, or the configuration itself (any text with a newline);
    ``name`` overrides the file name shown in messages.
    """
    result, shown = run_check(path_or_text, name)
    stderr = format_haproxy(result.messages, shown, pid, result.stage, engine_notes)
    if result.config is None:
        return 1, "", stderr
    warned = any(m.level == "WARNING" and (engine_notes or not is_engine_note(m)) for m in result.messages)
    stdout = "Warnings were found.\n" if warned else ""
    if not result.config.has_listener:
        return 2, stdout + "Configuration file has no error but will not start (no listener) => exit(2).\n", stderr
    return 0, stdout + "Configuration file is valid\n", stderr


__all__ = ["analyse", "analyse_path", "check", "format_haproxy", "haproxy_line", "is_engine_note",
           "read_sources", "run_check"]
