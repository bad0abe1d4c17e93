"""The load generator's child process, kept apart from ``loadgen`` so that it starts fast (no numpy).

``python -m labsupport.lessons.load.loadchild ARGS_JSON`` sends one run's open-loop arrivals and prints one JSON line
per request: [scheduled s, latency ms or null, status, server, error]; first ``T0 <time.time()>``.
``python -m labsupport.lessons.load.loadchild --serve`` does the same for each ARGS_JSON line read from its standard
input, ending each run with a line ``END``, until its input closes: ``loadgen`` keeps such a child
for the next run, which then starts without a new interpreter.
"""
from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from urllib.parse import urlsplit

from ...course.traffic.results import server_of

MAX_OPEN = 2000  # sockets open at once; beyond that an arrival is recorded as dropped


def schedule(rate: float, seconds: float, arrivals: str, n: int, seed: int | None) -> list[float]:
    """Arrival times in [0, seconds): exponential gaps (poisson) or even ones (constant)."""
    rng = random.Random(seed)
    times, t = [], 0.0
    while len(times) < n:
        # constant: i / rate, not a running sum (0.05 x 10 summed falls short of 0.5)
        t = t + rng.expovariate(rate) if arrivals == "poisson" else len(times) / rate
        if t >= seconds - 1e-9:
            break
        times.append(t)
    return times


async def _one(host: str, port: int, req: bytes, t0: float, sched: float, timeout: float,
               loop: asyncio.AbstractEventLoop, source: str | None) -> list:
    status, body, err = 0, b"", ""
    writer = None
    try:
        async def exchange() -> tuple[int, bytes]:
            nonlocal writer
            reader, writer = await asyncio.open_connection(host, port,
                                                           local_addr=(source, 0) if source else None)
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            code = int(lines[0].split(b" ", 2)[1])
            length = next((int(h.split(b":", 1)[1]) for h in lines[1:] if h.lower().startswith(b"content-length:")),
                          None)
            data = await (reader.readexactly(length) if length is not None else reader.read())
            return code, data

        status, body = await asyncio.wait_for(exchange(), timeout)
    except asyncio.TimeoutError:
        err = "timed out"
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
        err = type(e).__name__
    finally:
        if writer is not None:
            writer.close()
    done = loop.time() - t0
    lat = None if not status else round((done - sched) * 1000, 3)
    who = server_of(body.decode("latin-1", "replace"), (), status) if status else None
    return [round(sched, 6), lat, status, who or "", err]


async def _child(args: dict) -> None:
    u = urlsplit(args["url"])
    paths = args["paths"] or [(u.path or "/") + (f"?{u.query}" if u.query else "")]
    reqs = [f"GET {p} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode() for p in paths]
    nsrc = args["sources"]
    sources = [None] if nsrc == 1 else [f"127.0.0.{1 + i}" for i in range(nsrc)]
    times = schedule(args["rate"], args["seconds"], args["arrivals"], args["max"], args["seed"])
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05
    sys.stdout.write(f"T0 {time.time() + 0.05}\n")
    sys.stdout.flush()  # at once: a parent may pace other things on this second 0 (``experiments.herd``)
    pending: set[asyncio.Task] = set()
    out = sys.stdout

    def emit(task: asyncio.Task) -> None:
        pending.discard(task)
        out.write(json.dumps(task.result()) + "\n")

    for i, sched in enumerate(times):
        delay = t0 + sched - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(pending) >= MAX_OPEN:
            out.write(json.dumps([round(sched, 6), None, 0, "", "dropped: too many open"]) + "\n")
            continue
        task = loop.create_task(_one(u.hostname, u.port, reqs[i % len(reqs)], t0, sched, args["timeout"], loop,
                                     sources[i % len(sources)]))
        task.add_done_callback(emit)
        pending.add(task)
    if pending:
        await asyncio.wait(pending, timeout=args["timeout"] + 1)
    out.flush()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["--serve"]:
        asyncio.run(_child(json.loads(argv[0])))
        return 0
    for line in sys.stdin:  # ends when the parent closes the pipe (or dies)
        asyncio.run(_child(json.loads(line)))
        sys.stdout.write("END\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
