"""The 32-bit key a request hashes to for ``balance source`` and ``balance uri``.

Follows HAProxy 2.6's src/backend.c (get_server_sh, get_server_uh and the avalanche choice),
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

from typing import Callable

from .. import hashing
from ..config import Proxy


def key_function(proxy: Proxy, algo: str) -> Callable[[str | None, str | None], int | None]:
    """The 32-bit key of a request for ``source`` / ``uri`` (None when the request has none)."""
    aval = hashing.uses_avalanche(proxy.hash_type, proxy.hash_function, proxy.hash_avalanche)
    if algo == "source":

        def key(src: str | None, uri: str | None) -> int | None:
            if src is None:
                return None
            h = hashing.source_key(src)  # the hash function is not used for source (as HAProxy)
            return hashing.full_hash(h) if aval else h

        return key
    whole, length, depth, path_only = hashing.parse_uri_options(proxy.balance_args)
    function = proxy.hash_function

    def ukey(src: str | None, uri: str | None) -> int | None:
        if uri is None:
            return None
        h = hashing.uri_key(uri, function, whole=whole, length=length, depth=depth, path_only=path_only)
        return hashing.full_hash(h) if aval else h

    return ukey

