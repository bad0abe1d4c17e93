"""A worker of master-worker mode (master.py): the engine on the listening sockets its master opened.

``python -m labsupport.balancer --worker -f FILE --fds HOST:PORT=FD,... --ctl PATH --ready-fd FD``:
runs the engine on the main thread's event loop, serves the master a private runtime socket (``--ctl``,
for ``@1 cmd`` on the master CLI), writes ``R`` on ``--ready-fd`` once it serves, prints its events and
logs as the standalone command does. SIGUSR1: soft stop (Engine.soft_stop, bounded by hard-stop-after);
SIGTERM/SIGINT: hard stop. It dies with its master (parent-death signal, and a check of its parent).
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

from .. import config as _config
from ..logs import texts
from ..proxy import Engine


def new_loop() -> asyncio.AbstractEventLoop:
    """The engine's event loop: uvloop when installed (about twice the throughput), else asyncio's.
    LAB_ENGINE_LOOP=asyncio forces asyncio's own loop."""
    if os.environ.get("LAB_ENGINE_LOOP", "") != "asyncio":
        try:
            import uvloop

            return uvloop.new_event_loop()
        except ImportError:
            pass
    return asyncio.new_event_loop()


def die_with_parent(master: int) -> None:
    """SIGTERM when the master dies, even by SIGKILL (Linux), as HAProxy's workers do."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if os.getppid() != master:  # it died before prctl
        os._exit(1)


def parse_fds(text: str) -> dict[tuple[str, int], socket.socket]:
    out = {}
    for item in filter(None, text.split(",")):
        addr, _, fd = item.rpartition("=")
        host, _, port = addr.rpartition(":")
        out[(host, int(port))] = socket.socket(fileno=int(fd))
    return out


async def serve(engine: Engine, ctl: str, ready_fd: int, quiet: bool) -> int:
    loop = asyncio.get_running_loop()
    await engine.start()
    await engine.runtime.serve(ctl, "admin")
    os.write(ready_fd, b"R")
    os.close(ready_fd)
    ending: asyncio.Future = loop.create_future()

    def soft() -> None:
        if not ending.done():
            ending.set_result("soft")

    def hard() -> None:
        if not ending.done():
            ending.set_result("hard")
        else:  # a hard stop during a soft one
            asyncio.ensure_future(engine.stop()).add_done_callback(lambda _: os._exit(143))

    loop.add_signal_handler(signal.SIGUSR1, soft)
    loop.add_signal_handler(signal.SIGTERM, hard)
    loop.add_signal_handler(signal.SIGINT, hard)
    seen = [0, 0]
    printer = asyncio.ensure_future(print_events(engine, quiet, seen))
    how = await ending
    if how == "soft":
        for p in engine.config.proxies:  # as HAProxy's old worker says when its proxies stop listening
            fe, be = engine.frontends.get(p.name), engine.backends.get(p.name)
            engine.event("WARNING", f"Proxy {p.name} stopped (cumulated conns: FE: {fe.stot if fe else 0}, "
                                    f"BE: {be.stot if be else 0}).")
        await engine.soft_stop(engine.config.hard_stop_after)
        code = 0
    else:
        await engine.stop()
        code = 143  # as a process ended by SIGTERM, which HAProxy's worker is
    printer.cancel()
    flush(engine, quiet, seen)  # the last events reach the output
    return code


def flush(engine: Engine, quiet: bool, seen: list[int]) -> None:
    """Print the events (stderr) and log lines (stdout) from ``seen`` on, as the standalone command does."""
    lines, seen[0] = engine.events.since(seen[0])
    if not quiet:
        for _, _, line in lines:
            print(line, file=sys.stderr, flush=True)
    entries, seen[1] = engine.logs.entries(seen[1])
    if entries:
        sys.stdout.write("".join(line + "\n" for line in texts(entries)))
        sys.stdout.flush()


async def print_events(engine: Engine, quiet: bool, seen: list[int]) -> None:
    while True:
        flush(engine, quiet, seen)
        await asyncio.sleep(0.2)


def run(path: str, host: str, fds: str, ctl: str, ready_fd: int, master: int, quiet: bool) -> int:
    die_with_parent(master)
    config = _config.load(path)
    loop = new_loop()
    asyncio.set_event_loop(loop)
    engine = Engine(config, loop, host)
    engine.inherited = parse_fds(fds)
    code = loop.run_until_complete(serve(engine, ctl, ready_fd, quiet))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # at once: the master sees a finished worker leave without the interpreter's slow exit
