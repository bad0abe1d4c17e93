"""Hash functions and the consistent-hashing ring, exactly as HAProxy 2.6 computes them.

How it works: ``balance source`` and ``balance uri`` turn the request into a 32-bit key
(``source_key`` / ``uri_key``). With ``hash-type map-based`` the key picks ``table[key % T]``;
with ``hash-type consistent`` (and for ``balance random``) it is looked up on a ``Ring`` where
each server owns weight x 16 points placed at ``full_hash(id * 4096 + j)``. A bare
``hash-type consistent`` means sdbm + avalanche (the key goes through ``full_hash`` first);
when a function is named, avalanche applies only if it is written out.
All arithmetic is modulo 2**32, like the C ``unsigned int`` it mirrors.

Follows HAProxy 2.6's sources, Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence):
the hash functions (sdbm, djb2, wt6, crc32) src/hash.c, ``full_hash`` include/haproxy/tools.h,
the source and uri keys src/backend.c, the ring's points src/lb_chash.c.
"""
from __future__ import annotations

import bisect
import ipaddress
import itertools
import zlib
from functools import lru_cache

from ..errors import UsageError

M32 = 0xFFFFFFFF
SRV_EWGHT_RANGE = 4096  # points are keyed full_hash(id * 4096 + j)
HASH_FUNCTIONS = ("sdbm", "djb2", "wt6", "crc32")


def full_hash(a: int) -> int:
    """Bob Jenkins' 32-bit integer mix (HAProxy's ``full_hash``), used for avalanche and the ring."""
    a &= M32
    a = (a + 0x7ED55D16 + (a << 12)) & M32
    a = (a ^ 0xC761C23C ^ (a >> 19)) & M32
    a = (a + 0x165667B1 + (a << 5)) & M32
    a = ((a + 0xD3A2646C) ^ (a << 9)) & M32
    a = (a + 0xFD7046C5 + (a << 3)) & M32
    a = (a ^ 0xB55A4F09 ^ (a >> 16)) & M32
    return (a * 3221225473) & M32


def hash_sdbm(data: bytes) -> int:
    h = 0
    for c in data:
        h = (c + (h << 6) + (h << 16) - h) & M32
    return h


def hash_djb2(data: bytes) -> int:
    h = 5381
    for c in data:
        h = ((h << 5) + h + c) & M32
    return h


def hash_wt6(data: bytes) -> int:
    """Willy Tarreau's wt6: two rotating 32-bit halves whose rotations depend on the data."""
    h0, h1, step0, step1 = 0xA53C965A, 0x5CA6953A, 6, 18
    for c in data:
        h0 = ~(h0 ^ c) & M32
        h1 = ~(h1 + c) & M32
        t = ((h1 << step0) | (h1 >> (32 - step0))) & M32
        h1 = ((h0 << step1) | (h0 >> (32 - step1))) & M32
        h0 = t
        t = ((h0 >> 16) ^ h1) & 0xFFFF
        step0, step1 = t & 0x1F, t >> 11
    return h0 ^ h1


def hash_crc32(data: bytes) -> int:
    return zlib.crc32(data) & M32  # the same reflected 0xEDB88320 polynomial HAProxy uses


_FUNCS = {"sdbm": hash_sdbm, "djb2": hash_djb2, "wt6": hash_wt6, "crc32": hash_crc32}


def gen_hash(data: bytes, function: str | None = None) -> int:
    """HAProxy's gen_hash(): the configured function, sdbm when none is named."""
    try:
        return _FUNCS[function or "sdbm"](data)
    except KeyError:
        raise UsageError(
            f"unknown hash function '{function}' (expected one of: {', '.join(HASH_FUNCTIONS)})"
        ) from None


def uses_avalanche(hash_type: str, hash_function: str | None, hash_avalanche: bool) -> bool:
    """A bare ``hash-type consistent`` implies avalanche; a named function needs it written out."""
    return hash_avalanche or (hash_type == "consistent" and hash_function is None)


def source_key(src: str) -> int:
    """The source key before any avalanche: IPv4 as a big-endian number, IPv6 as the XOR of its words."""
    addr = ipaddress.ip_address(src.strip("[]"))
    packed = addr.packed
    h = 0
    for i in range(0, len(packed), 4):
        h ^= int.from_bytes(packed[i : i + 4], "big")
    return h


def parse_uri_options(args: tuple[str, ...] | list[str]) -> tuple[bool, int, int, bool]:
    """``balance uri`` arguments -> (whole, len, depth, path_only); 0 means "not set"."""
    whole, length, depth, path_only = False, 0, 0, False
    it = iter(args)
    for word in it:
        if word == "whole":
            whole = True
        elif word == "path-only":
            path_only = True
        elif word in ("len", "depth"):
            value = next(it, None)
            if value is None or not value.isascii() or not value.isdigit():
                raise UsageError(f"'balance uri {word}' expects a positive integer (got {value!r}); "
                                 f"write e.g. 'balance uri {word} 3'")
            if word == "len":
                length = int(value)
            else:
                depth = int(value)
        else:
            raise UsageError(
                f"'balance uri' only accepts parameters 'whole', 'len', 'depth' and 'path-only' (got '{word}')"
            )
    return whole, length, depth, path_only


def without_authority(target: bytes) -> bytes:
    """An absolute-form target "http://host/path?q" from its path on ("/path?q"; b"" without one), as
    src/http.c http_parse_path skips scheme://authority; any other target as it is."""
    if target.startswith(b"/"):
        return target
    scheme_end = target.find(b"://")
    if scheme_end < 0:
        return target
    slash = target.find(b"/", scheme_end + 3)
    return target[slash:] if slash >= 0 else b""


def uri_hash_input(uri: str, whole: bool = False, length: int = 0, depth: int = 0, path_only: bool = False) -> bytes:
    """The bytes HAProxy hashes for ``balance uri``: up to '?' (unless whole), ``len`` and ``depth`` cut."""
    data = uri.encode("latin-1", "replace") if not isinstance(uri, bytes) else uri
    if path_only:
        data = without_authority(data)
    if length:
        data = data[:length]
    slashes, end = 0, 0
    for c in data:
        if c == 0x2F:  # '/': depth N stops at the (N+1)-th slash
            slashes += 1
            if depth and slashes == depth + 1:
                break
        elif c == 0x3F and not whole:  # '?'
            break
        end += 1
    return data[:end]


def uri_key(uri: str, function: str | None = None, **options) -> int:
    return gen_hash(uri_hash_input(uri, **options), function)


@lru_cache(maxsize=64)
def _server_points(server_id: int, count: int) -> tuple[int, ...]:
    base = server_id * SRV_EWGHT_RANGE
    return tuple(full_hash(base + j) for j in range(count))


class Ring:
    """The consistent-hashing tree of one server group: points sorted by key, ties in insertion order."""

    def __init__(self) -> None:
        self._points: list[tuple[int, int, str]] = []  # (key, insertion seq, server name)
        self._count: dict[str, int] = {}
        self._seq = itertools.count()
        self._cursor = -1  # for the round-robin walk used when a hash key is missing

    def set(self, name: str, server_id: int, points: int) -> None:
        """Give ``name`` exactly ``points`` points (j = 0..points-1), adding or removing at the top."""
        have = self._count.get(name, 0)
        keys = _server_points(server_id, max(points, have))
        if points > have:
            for j in range(have, points):
                bisect.insort(self._points, (keys[j], next(self._seq), name))
        elif points < have:
            drop = set(keys[points:have])
            self._points = [p for p in self._points if not (p[2] == name and p[0] in drop)]
        if points:
            self._count[name] = points
        else:
            self._count.pop(name, None)

    def __len__(self) -> int:
        return len(self._points)

    def lookup(self, h: int) -> str | None:
        """The server whose point is nearest to ``h``; on equal distance the previous point wins."""
        pts = self._points
        if not pts:
            return None
        i = bisect.bisect_left(pts, (h, -1, ""))
        nxt = pts[i if i < len(pts) else 0]
        prv = pts[i - 1]  # i == 0 wraps to the last point
        dp = (h - prv[0]) & M32
        dn = (nxt[0] - h) & M32
        return prv[2] if dp <= dn else nxt[2]

    def index(self, h: int) -> int:
        """The position of the point nearest to ``h`` (as ``lookup``); the ring must not be empty."""
        pts = self._points
        i = bisect.bisect_left(pts, (h, -1, ""))
        n = len(pts)
        dp = (h - pts[i - 1][0]) & M32
        dn = (pts[i % n][0] - h) & M32
        return (i - 1) % n if dp <= dn else i % n

    def name_at(self, i: int) -> str:
        """The server of point ``i`` (any integer: the ring wraps)."""
        return self._points[i % len(self._points)][2]

    def walk(self, accept) -> str | None:
        """Walk the ring clockwise from the last answer to the next point whose server ``accept``s."""
        pts = self._points
        for step in range(1, len(pts) + 1):
            i = (self._cursor + step) % len(pts)
            if accept(pts[i][2]):
                self._cursor = i
                return pts[i][2]
        return None
