"""XXH64 (xxHash, 64-bit): the hash HAProxy 2.6 derives dynamic server cookies with; and XXH32, the
key HAProxy 2.6 files DNS answers under (src/resolvers.c: the order in which servers pick addresses).

For ``cookie ... dynamic``: src/server.c srv_set_dyncookie hashes the backend's dynamic-cookie-key, the
server's address and its port (config/cookie.py). Python's standard library has no xxHash, so this is a
plain port of the reference algorithm (Yann Collet's xxHash, BSD-2-Clause, bundled by HAProxy as
include/import/xxhash.h); tests/engine/test_xxh64.py holds vectors taken from haproxy 2.6.12.
"""
from __future__ import annotations

import struct

P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                      0x27D4EB2F165667C5)
M64 = (1 << 64) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * P2) & M64, 31) * P1) & M64


def _merge(acc: int, val: int) -> int:
    return ((acc ^ _round(0, val)) * P1 + P4) & M64


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64(data, seed) as an unsigned 64-bit number."""
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed & M64, (seed - P1) & M64]
        while i + 32 <= n:
            lanes = struct.unpack_from("<4Q", data, i)
            v = [_round(a, lane) for a, lane in zip(v, lanes)]
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for a in v:
            h = _merge(h, a)
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", data, i)[0]), 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (struct.unpack_from("<I", data, i)[0] * P1 & M64), 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h = (_rotl(h ^ (data[i] * P5 & M64), 11) * P1) & M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    return h ^ (h >> 32)


# ----------------------------------------------------------------------------- XXH32
Q1, Q2, Q3, Q4, Q5 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1
M32 = 0xFFFFFFFF


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & M32


def xxh32(data: bytes, seed: int = 0) -> int:
    """The 32-bit xxHash of ``data`` (the reference algorithm; xxh32(b"") == 0x02CC5D05)."""
    n, i = len(data), 0
    if n >= 16:
        v = [(seed + Q1 + Q2) & M32, (seed + Q2) & M32, seed & M32, (seed - Q1) & M32]
        while i + 16 <= n:
            for k in range(4):
                v[k] = (_rotl32((v[k] + struct.unpack_from("<I", data, i + 4 * k)[0] * Q2) & M32, 13) * Q1) & M32
            i += 16
        acc = (_rotl32(v[0], 1) + _rotl32(v[1], 7) + _rotl32(v[2], 12) + _rotl32(v[3], 18)) & M32
    else:
        acc = (seed + Q5) & M32
    acc = (acc + n) & M32
    while i + 4 <= n:
        acc = (_rotl32((acc + struct.unpack_from("<I", data, i)[0] * Q3) & M32, 17) * Q4) & M32
        i += 4
    while i < n:
        acc = (_rotl32((acc + data[i] * Q5) & M32, 11) * Q1) & M32
        i += 1
    acc ^= acc >> 15
    acc = (acc * Q2) & M32
    acc ^= acc >> 13
    acc = (acc * Q3) & M32
    return acc ^ (acc >> 16)
