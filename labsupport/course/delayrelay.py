"""Distance in the lab: a TCP relay that delivers every byte a fixed time after it arrived.

    python labsupport/course/delayrelay.py 10.0.0.50:8080 10.0.0.11:8080 --delay-ms 40
    python labsupport/course/delayrelay.py unix:/run/user/1000/lab-course/portal.sock 10.0.0.11:8080 --delay-ms 0

Why a relay: the usual tool, ``tc qdisc add dev eth0 root netem delay 40ms``, needs the kernel's sch_netem,
and many kernels (this course's CI machine among them: CONFIG_NET_SCH_NETEM is not set, and there are no
modules to load) do not have it; an ordinary user could not load it anyway. The relay needs nothing but
Python, so it runs in any host of a ``Lab`` (labsupport/course/hosts.py) as the address that is "far away".

What it models: a one-way delay ``D`` on each direction. A connection made to the relay reaches the target
``D`` later; every chunk read from either side is written to the other ``D`` after it was read, in order;
an end of stream (FIN) travels the same way. So a request and its answer take at least ``2 D`` more than
directly (a round trip), plus ``D`` for the connection. Bandwidth is not limited and nothing is lost.

Runs as a file (it imports nothing from labsupport), so a host needs only the interpreter.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time


def _address(text: str) -> tuple[str, int | str]:
    """ADDRESS:PORT, or unix:PATH (a UNIX socket: how a process outside the lab's namespaces gets in)."""
    if text.startswith("unix:") and len(text) > 5:
        return "unix", text[5:]
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected ADDRESS:PORT, e.g. 10.0.0.50:8080")
    return host, int(port)


async def _carry(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy one direction: each chunk leaves ``delay`` seconds after it came; then the end of stream."""
    queue: asyncio.Queue = asyncio.Queue()

    async def read() -> None:
        while True:
            try:
                chunk = await reader.read(65536)
            except (ConnectionError, OSError):
                chunk = b""
            await queue.put((time.monotonic() + delay, chunk))
            if not chunk:
                return

    reading = asyncio.ensure_future(read())
    try:
        while True:
            due, chunk = await queue.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not chunk:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        return
    finally:
        reading.cancel()


async def _relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, target: tuple[str, int | str],
                 delay: float) -> None:
    try:
        await asyncio.sleep(delay)  # the connection's first packet travels too
        try:
            server_r, server_w = await (asyncio.open_unix_connection(target[1]) if target[0] == "unix"
                                        else asyncio.open_connection(*target))
        except OSError:
            return
        try:
            await asyncio.gather(_carry(client_r, server_w, delay), _carry(server_r, client_w, delay))
        finally:
            server_w.close()
    finally:
        client_w.close()
        with contextlib.suppress(Exception):
            await client_w.wait_closed()


async def serve(listen: tuple[str, int | str], target: tuple[str, int | str], delay: float) -> None:
    def relay(r: asyncio.StreamReader, w: asyncio.StreamWriter):
        return _relay(r, w, target, delay)

    server = await (asyncio.start_unix_server(relay, listen[1]) if listen[0] == "unix"
                    else asyncio.start_server(relay, *listen))
    print(f"relaying {listen[0]}:{listen[1]} -> {target[0]}:{target[1]} with {delay * 1000:g} ms each way",
          flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="delayrelay.py", description="TCP relay with a one-way delay each way.")
    p.add_argument("listen", type=_address, help="where to listen, ADDRESS:PORT or unix:PATH")
    p.add_argument("target", type=_address, help="where to connect, ADDRESS:PORT or unix:PATH")
    p.add_argument("--delay-ms", type=float, default=40.0, help="one-way delay in ms (default 40)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.delay_ms < 0:
        p.error(f"--delay-ms {args.delay_ms:g}: a delay cannot be negative")
    try:
        asyncio.run(serve(args.listen, args.target, args.delay_ms / 1000))
    except OSError as e:
        sys.exit(f"delayrelay.py: cannot listen on {args.listen[0]}:{args.listen[1]}: {e.strerror}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
