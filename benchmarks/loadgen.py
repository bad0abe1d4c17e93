"""A small HTTP load generator, the fallback of benchmarks/proxy.py when wrk is not installed.

    python benchmarks/loadgen.py URL SECONDS CONNECTIONS   ->  one JSON line on stdout:
    {"requests": n, "rps": r, "p50": ms, "p90": ms, "p99": ms, "errors": e, "non2xx": k}

Run it in its own process, so that it never shares a GIL with what it measures. Each connection
sends GET requests one after another, keep-alive; when the server closes (or says
``connection: close``) the next request opens a new connection, as wrk does.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep_alive) of one response; the body is read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:  # no length: the body ends with the connection
        await reader.read()
        keep = False
    return int(status), keep


async def _worker(host: str, port: int, request: bytes, deadline: float, lat: list[float],
                  counts: dict[str, int]) -> None:
    reader = writer = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            t0 = time.perf_counter()
            writer.write(request)
            status, keep = await _read_response(reader)
            lat.append(time.perf_counter() - t0)
            if not 200 <= status < 400:
                counts["non2xx"] += 1
            if not keep:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError):
            counts["errors"] += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.001)
    if writer is not None:
        writer.close()


async def run(url: str, seconds: float, connections: int) -> dict:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    request = f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode()
    lat: list[float] = []
    counts = {"errors": 0, "non2xx": 0}
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_worker(host, port, request, deadline, lat, counts) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    lat.sort()

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3) if lat else float("nan")

    return {"requests": len(lat), "rps": round(len(lat) / elapsed, 1), "p50": pct(0.50), "p90": pct(0.90),
            "p99": pct(0.99), **counts}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))))
