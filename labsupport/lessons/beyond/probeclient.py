"""The client that runs inside a lab host: a bounded stream of HTTP GETs, one JSON line per request.

    python probeclient.py http://10.0.0.100/ --count 200 --interval 0.05 --timeout 1
    python probeclient.py http://www.lab/ --dns 10.0.0.53 --count 200     # the name resolved by that server

Why a script of its own: the notebook's kernel stays outside the lab's namespaces (labsupport/course/hosts.py),
so a client *in* the lab has to be a process started in a host. It imports nothing from labsupport (only the
standard library, and dnspython with ``--dns``), prints ``{"ready": ...}``, then one line per request:

    {"i": 0, "t": 0.000, "ms": 1.9, "ok": true, "status": 200, "address": "10.0.0.100", "body": "Hi!! ..."}

``t`` is when the request was sent, in seconds after the first; request ``i`` is sent at ``i * interval``
whatever the earlier ones are doing (up to 64 in flight; lines come in the order requests end), so a stretch
of failures has a duration and a count; ``--interval 0`` sends them one after the other instead. Each request is a
new connection (``Connection: close``), as a browser's first visit is, so a moved address is seen at once.

With ``--dns`` the client does what a browser does with a name: it asks the DNS server for the name's A
records (caching them for their TTL, as a stub resolver would) and tries the addresses in the order given,
the next one after a failed connection. That is DNS failover as clients do it: it only works if the client
retries across answers, and only as fast as the TTL lets a changed answer in.
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

MAX_IN_FLIGHT = 64  # requests waiting for an answer at once, at most (each for --timeout s at most)


def _resolver(server: str, name: str, port: int):
    """A function returning (addresses, ttl): asks ``server`` (dnspython) for ``name``'s A records."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rdatatype

    def ask() -> tuple[list[str], float]:
        query = dns.message.make_query(name, dns.rdatatype.A)
        try:
            answer = dns.query.udp(query, server, port=port, timeout=1.0)
        except (dns.exception.DNSException, OSError) as e:
            raise OSError(f"DNS {server}: {type(e).__name__}") from None
        addresses, ttl = [], 0
        for rrset in answer.answer:
            if rrset.rdtype == dns.rdatatype.A:
                addresses += [r.address for r in rrset]
                ttl = rrset.ttl
        return addresses, float(ttl)

    return ask


def _get(address: str, port: int, host: str, path: str, timeout: float) -> tuple[int, str]:
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, "Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read(2048).decode("utf-8", "replace").strip()
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per attempt (connect and answer)")
    parser.add_argument("--dns", help="resolve the URL's name with this DNS server (ADDRESS or ADDRESS:PORT)")
    parser.add_argument("--no-retry", action="store_true", help="with --dns: use the first address only, never the next")
    parser.add_argument("--max-seconds", type=float, default=300, help="stop after this long, whatever is left")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 100_000 or args.interval < 0 or not 0 < args.timeout <= 60:
        parser.error("--count 1..100000, --interval >= 0, --timeout in (0, 60]")
    url = urlsplit(args.url)
    if url.scheme != "http" or not url.hostname:
        parser.error(f"{args.url!r}: expected http://ADDRESS[:PORT]/PATH")
    port, path = url.port or 80, (url.path or "/") + (f"?{url.query}" if url.query else "")
    resolve = None
    if args.dns:
        server, _, dns_port = args.dns.partition(":")
        resolve = _resolver(server, url.hostname, int(dns_port or 53))
    cache = {"addresses": [], "until": 0.0}
    lock = threading.Lock()  # the DNS cache and the output, shared by the senders

    def one(i: int, sent: float) -> None:
        shot = {"i": i, "t": round(sent - start, 4), "ok": False, "status": 0, "address": "", "body": "",
                "error": ""}
        try:
            if resolve is None:
                addresses = [url.hostname]
            else:
                with lock:
                    if sent >= cache["until"] or not cache["addresses"]:
                        found, ttl = resolve()
                        cache.update(addresses=found, until=time.monotonic() + ttl)
                    addresses = cache["addresses"][:1] if args.no_retry else list(cache["addresses"])
                if not addresses:
                    raise OSError("no address in the answer")
            errors = []
            for address in addresses:
                try:
                    shot["status"], shot["body"] = _get(address, port, url.netloc, path, args.timeout)
                    shot["address"] = address
                    break
                except (OSError, http.client.HTTPException) as e:
                    errors.append(f"{address}: {type(e).__name__}")
            else:
                raise OSError("; ".join(errors))
            shot["ok"] = 200 <= shot["status"] < 400
            if not shot["ok"]:
                shot["error"] = f"HTTP {shot['status']}"
            elif len(errors):
                shot["error"] = "retried after " + "; ".join(errors)
        except OSError as e:
            shot["error"] = str(e) or type(e).__name__
        shot["ms"] = round((time.monotonic() - sent) * 1000, 2)
        with lock:
            print(json.dumps(shot), flush=True)

    print(json.dumps({"ready": args.url}), flush=True)
    start = time.monotonic()
    # interval 0: one request after the other (a page's requests in turn). Otherwise each request leaves at its
    # time, whatever the ones before it are doing (an open loop, as many users are): a request stuck in a
    # timeout delays no other, so an outage of 3 s at 20 requests/s shows as about 60 failed requests.
    senders = ThreadPoolExecutor(max_workers=1 if args.interval == 0 else MAX_IN_FLIGHT)
    for i in range(args.count):
        due = start + i * args.interval
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        sent = time.monotonic()
        if sent - start > args.max_seconds:
            break
        if args.interval == 0:
            one(i, sent)
        else:
            senders.submit(one, i, sent)
    senders.shutdown(wait=True)
    print(json.dumps({"done": True}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
    except BrokenPipeError:
        sys.exit(0)
