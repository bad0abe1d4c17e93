"""Session mode of the course's application server (lesson 08): a login and a cart kept in this server's memory.

    python3 backends/app.py 8080 --sessions

Like most applications before anyone thinks of load balancing, the server keeps each user's session in its
own memory, keyed by a random session id it gives the browser in a cookie (``SESSIONID``). Another server
does not know that id: behind a balancer that spreads requests, the cart "forgets".

    POST /login?user=NAME     a new session here; Set-Cookie: SESSIONID=<id>; Path=/; HttpOnly
    GET  /cart                this server's view of the session: who is logged in, the items
    POST /cart?item=X         add an item (401 when this server does not know the session)
    POST /logout              forget the session here

Every answer is JSON and says which server answered (``server``), whether it knows the session
(``logged_in``), and the ``Cookie`` header exactly as it arrived (to see what a balancer added or removed).
"""
from __future__ import annotations

import secrets
import threading
import time
from typing import Callable

from flask import Flask, jsonify, request

COOKIE = "SESSIONID"
MAX_SESSIONS = 10_000  # the oldest are forgotten beyond this: a student's loop cannot fill the memory
MAX_ITEMS = 100


class Sessions:
    """The sessions one server holds: id -> {"user", "items", "since"}."""

    def __init__(self) -> None:
        self._by_id: dict[str, dict] = {}
        self._lock = threading.Lock()

    def new(self, user: str) -> str:
        sid = secrets.token_hex(8)
        with self._lock:
            if len(self._by_id) >= MAX_SESSIONS:
                self._by_id.pop(next(iter(self._by_id)))
            self._by_id[sid] = {"user": user, "items": [], "since": time.time()}
        return sid

    def get(self, sid: str | None) -> dict | None:
        with self._lock:
            return self._by_id.get(sid or "")

    def add(self, sid: str | None, item: str) -> dict | None:
        with self._lock:
            s = self._by_id.get(sid or "")
            if s is not None and len(s["items"]) < MAX_ITEMS:
                s["items"].append(item)
            return s

    def drop(self, sid: str | None) -> bool:
        with self._lock:
            return self._by_id.pop(sid or "", None) is not None

    def __len__(self) -> int:
        return len(self._by_id)


def register(app: Flask, server: Callable[[], str], before: Callable[[], None] = lambda: None) -> Sessions:
    """Add the session routes to ``app``; ``server()`` names this server in every answer, ``before()`` runs
    first on each request (counting it as served)."""
    sessions = Sessions()

    def answer(status: int = 200, **extra):
        sid = request.cookies.get(COOKIE)
        s = sessions.get(extra.pop("sid", sid))
        body = {"server": server(), "logged_in": s is not None, "user": s["user"] if s else None,
                "items": list(s["items"]) if s else [], "cookie_seen": request.headers.get("Cookie"), **extra}
        return jsonify(body), status

    @app.route("/login", methods=["POST"])
    def login():
        before()
        user = (request.args.get("user") or request.form.get("user") or "").strip()
        if not user or len(user) > 64:
            return answer(400, error="give a user name: POST /login?user=NAME (up to 64 characters)")
        sid = sessions.new(user)
        resp, status = answer(sid=sid)
        resp.set_cookie(COOKIE, sid, path="/", httponly=True)
        return resp, status

    @app.route("/cart", methods=["GET", "POST"])
    def cart():
        before()
        sid = request.cookies.get(COOKIE)
        if request.method == "GET":
            return answer()
        item = (request.args.get("item") or request.form.get("item") or "").strip()
        if not item or len(item) > 64:
            return answer(400, error="give an item: POST /cart?item=NAME (up to 64 characters)")
        if sessions.add(sid, item) is None:
            return answer(401, error="this server does not know your session: log in again")
        return answer()

    @app.route("/logout", methods=["POST"])
    def logout():
        before()
        sessions.drop(request.cookies.get(COOKIE))
        resp, status = answer()
        resp.delete_cookie(COOKIE, path="/")
        return resp, status

    return sessions
