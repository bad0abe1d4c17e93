"""The engine's own work per request, in-process: CPU microseconds, steady to a few per cent on a busy machine.

    .venv/bin/python benchmarks/hotpath.py [--close] [--httplog] [--requests 100000] [--profile 25] [--tree DIR]

One mode http request after another through ``HttpClient`` and ``ServerConn`` (labsupport.engine.proxy)
with fake transports: the client's bytes go to ``data_received``, the request the engine writes to
its server connection is answered at once. No socket, no event loop turn: what is measured is the
engine's Python (and httptools') per request, which ``benchmarks/proxy.py`` sees only through the noise
of the kernel, the load generator and the other programs on the machine (its CPU per request varies
by several microseconds from run to run; this figure by a few tenths). Roundrobin over 4 servers.

  --close     every request on a new client connection (``Connection: close``; its connection
              made and lost), the server connections kept alive
  --httplog   ``log global`` + ``option httplog`` (the engine records each request; the line is
              written only when read, which this harness never does)
  --profile N cProfile's N most expensive functions by own time instead of the timing
  --tree DIR  measure the engine of another checkout (``git worktree add /tmp/old REV``)

Prints the median and the best of 7 runs, in microseconds of process CPU per request. Compare two
commits by alternating runs with ``--tree``: the figures are per machine.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 22\r\n\r\nHi!! from server 12345"


class FakeTransport:
    """Just enough of asyncio.Transport: what is written is dropped."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer, self.closing = peer, False

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close

    def get_extra_info(self, name: str, default=None):
        return {"peername": self.peer, "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def config_text(httplog: bool) -> str:
    log = ("global\n    log stdout format raw local0\n", "    log global\n    option httplog\n") if httplog else ("", "")
    return (log[0] + "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n"
            + log[1] + "frontend fe\n    bind 127.0.0.1:8080\n    default_backend be\nbackend be\n    balance roundrobin\n"
            + "".join(f"    server s{i} 127.0.0.1:{9001 + i}\n" for i in range(4)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--close", action="store_true")
    ap.add_argument("--httplog", action="store_true")
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--profile", type=int, metavar="N")
    ap.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="the checkout whose engine to measure (default: this one)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.tree))
    from labsupport.engine import config as _config
    from labsupport.engine.balancer import new_loop
    from labsupport.engine.proxy import Engine
    from labsupport.engine.proxy.httpclient import HttpClient
    from labsupport.engine.proxy.upstream import ServerConn

    eng = Engine(_config.parse(config_text(args.httplog)), new_loop())
    fe = eng.frontends["fe"]
    for srv in eng.backends["be"].servers.values():  # one kept-alive connection per server
        conn = ServerConn(srv)
        conn.connection_made(FakeTransport(srv.addr))
        srv.idle.append(conn)
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" + (b"Connection: close\r\n" if args.close else b"") + b"\r\n"
    client = None

    def connect():
        c = HttpClient(eng, fe)
        c.connection_made(FakeTransport(("127.0.0.1", 40000)))
        return c

    def one() -> None:
        nonlocal client
        if client is None or args.close:
            client = connect()
        client.data_received(request)
        client.conn.data_received(ANSWER)  # the server connection the engine chose answers
        if args.close:
            client.connection_lost(None)

    for _ in range(2000):  # warm up (and check that every request was answered)
        one()
    assert eng.backends["be"].hrsp[1] == 2000, "the requests were not answered"
    n = args.requests
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(lambda: [one() for _ in range(n)])
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)
        return
    runs = []
    for _ in range(7):
        gc.collect()
        t0 = time.process_time()
        for _ in range(n // 7):
            one()
        runs.append((time.process_time() - t0) / (n // 7) * 1e6)
    mode = f"{'new connection per request' if args.close else 'keep-alive'}, {'httplog' if args.httplog else 'no log'}"
    print(f"engine CPU per request, in-process ({mode}): median {statistics.median(runs):.2f} us, "
          f"best {min(runs):.2f} us")


if __name__ == "__main__":
    main()
