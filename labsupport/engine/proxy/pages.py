"""HAProxy 2.6's built-in error pages, byte for byte (checked against haproxy 2.6.12).

Two families exist. Pages the stream layer produces (502, 503, 504) go through HTX, so their
header names are lower case and ``connection: close`` is added only when the client asked to
close. Pages the HTTP/1 connection layer sends before a stream exists (400, 408, 422) are
HAProxy's raw messages: capitalised names, and the connection always closes after them (the 422
page says so without a ``Connection`` header). 501 is the engine's own answer to a request it
cannot relay (CONNECT), written in the raw layout.
"""
from __future__ import annotations

_TEXT = {
    400: ("400 Bad request", "Your browser sent an invalid request."),
    408: ("408 Request Time-out", "Your browser didn't send a complete request in time."),
    422: ("422 Unprocessable Content", "The server cannot process the contained instructions."),
    501: ("501 Not Implemented", "The server does not support the functionality required to fulfill the request."),
    502: ("502 Bad Gateway", "The server returned an invalid or incomplete response."),
    503: ("503 Service Unavailable", "No server is available to handle this request."),
    504: ("504 Gateway Time-out", "The server didn't respond in time."),
}
RAW = (400, 408, 422, 501)  # sent by the connection layer: always close
_NO_CONN_HEADER = (422,)  # haproxy's raw 422 closes without saying so


def _body(code: int) -> bytes:
    title, text = _TEXT[code]
    return f"<html><body><h1>{title}</h1>\n{text}\n</body></html>\n".encode()


def _build(code: int, close: bool) -> bytes:
    title = _TEXT[code][0]
    body = _body(code)
    if code in RAW:
        head = (f"HTTP/1.1 {title}\r\nContent-length: {len(body)}\r\nCache-Control: no-cache\r\n"
                + ("" if code in _NO_CONN_HEADER else "Connection: close\r\n") + "Content-Type: text/html\r\n\r\n")
    else:
        head = (f"HTTP/1.1 {title}\r\ncontent-length: {len(body)}\r\ncache-control: no-cache\r\n"
                "content-type: text/html\r\n" + ("connection: close\r\n" if close else "") + "\r\n")
    return head.encode() + body


# built once: the proxy writes them as they are
_PAGES = {(code, close): _build(code, close) for code in _TEXT for close in (False, True)}


def page(code: int, close: bool = False) -> bytes:
    """The full response HAProxy sends for ``code`` (400, 408, 422, 501, 502, 503 or 504)."""
    return _PAGES[(code, close or code in RAW)]


def closes(code: int) -> bool:
    """True when HAProxy always closes the client connection after this page."""
    return code in RAW
