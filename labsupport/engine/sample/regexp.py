"""Regular expressions of ACLs and maps (``-m reg``, ``*_reg``, ``map_reg``), checked as HAProxy 2.6 checks them.

HAProxy 2.6 (Debian's build) compiles them with PCRE2; src/regex.c regex_comp refuses a pattern with
"regex '%s' is invalid (error=%s, erroffset=%d)". The engine asks the same library, through ctypes,
whether it compiles a pattern, so a refused one gets HAProxy's exact message; it then matches with
Python's ``re``, which reads the common PCRE syntax the same way. Where libpcre2-8 cannot be loaded
(macOS without Homebrew's pcre2, for instance) Python's ``re`` decides alone and the message after
``error=`` is Python's wording (``HAS_PCRE2`` tells which).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import re

PCRE2_CASELESS = 0x00000008


def _library():
    """libpcre2-8 with the three calls the check needs, or None when it cannot be loaded."""
    name = ctypes.util.find_library("pcre2-8") or "libpcre2-8.so.0"
    try:
        lib = ctypes.CDLL(name)
        lib.pcre2_compile_8.restype = ctypes.c_void_p
        lib.pcre2_compile_8.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
                                        ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_size_t),
                                        ctypes.c_void_p]
        lib.pcre2_code_free_8.argtypes = [ctypes.c_void_p]
        lib.pcre2_get_error_message_8.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        return lib
    except (OSError, AttributeError):
        return None


_LIB = _library()
HAS_PCRE2 = _LIB is not None


def regex_error(pattern: str, icase: bool) -> str | None:
    """HAProxy's complaint about ``pattern`` (without a final dot), or None when it compiles."""
    if _LIB is None:
        try:
            re.compile(pattern, re.IGNORECASE if icase else 0)
        except re.error as e:
            return f"regex '{pattern}' is invalid (error={e.msg}, erroffset={e.pos or 0})"
        return None
    data = pattern.encode("latin-1", "replace")
    code, offset = ctypes.c_int(0), ctypes.c_size_t(0)
    compiled = _LIB.pcre2_compile_8(data, len(data), PCRE2_CASELESS if icase else 0,
                                    ctypes.byref(code), ctypes.byref(offset), None)
    if compiled:
        _LIB.pcre2_code_free_8(compiled)
        return None
    buf = ctypes.create_string_buffer(256)
    _LIB.pcre2_get_error_message_8(code.value, buf, len(buf))
    return f"regex '{pattern}' is invalid (error={buf.value.decode('latin-1')}, erroffset={offset.value})"


def compile_regex(pattern: str, icase: bool) -> re.Pattern | None:
    """Python's compiled form of a pattern HAProxy accepts; None when ``re`` cannot read it (a PCRE-only
    construct: the caller warns that the engine cannot evaluate it)."""
    try:
        return re.compile(pattern, re.IGNORECASE if icase else 0)
    except re.error:
        return None
