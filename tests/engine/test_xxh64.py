"""XXH64 (labsupport/engine/xxh64.py) and the dynamic cookies derived with it: the values are what haproxy
2.6.12 showed in its stats for 'cookie SRV insert dynamic' servers (the 'cookie' column)."""
from __future__ import annotations

import pytest

from labsupport.engine.config.cookie import dynamic_cookie
from labsupport.engine.xxh64 import xxh64


@pytest.mark.parametrize("key,ip,port,cookie", [
    ("mysecret", "127.0.0.1", 8080, "3d653f9e5223887f"),  # 16 bytes hashed
    ("mysecret", "192.168.1.20", 80, "b0dd710bd3a7e775"),
    ("mysecret", "127.0.0.1", 0, "a09d4c41f4f4849a"),  # a server without a port
    ("other", "127.0.0.1", 8080, "a090f2761c0d9096"),  # 13 bytes: the 4-byte and 1-byte tails
    ("a-rather-long-secret-key-of-more-than-32-bytes", "127.0.0.1", 8080, "4c25e8a191a7e9d6"),  # 32-byte stripes
])
def test_dynamic_cookies_are_haproxys(key, ip, port, cookie):
    assert dynamic_cookie(key, ip, port) == cookie


def test_reference_vectors():
    """xxHash's published values for short inputs (seed 0)."""
    assert (xxh64(b""), xxh64(b"a"), xxh64(b"abc")) == (0xEF46DB3751D8E999, 0xD24EC4F1A98C6E5B, 0x44BC2CF5AD770999)
