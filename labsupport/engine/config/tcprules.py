"""``tcp-request`` lines of a proxy section: ``inspect-delay`` and the ``content accept|reject`` rules the
engine runs in mode tcp (proxy/tcp.py), with HAProxy 2.6's messages for what it refuses.

Follows HAProxy 2.6's src/tcp_rules.c (tcp_parse_tcp_req, tcp_parse_request_rule) and the
``warnif_misplaced_tcp_cont`` check of src/cfgparse-listen.c, Copyright Willy Tarreau <w@1wt.eu>,
GPL-2.0-or-later (this project's licence). The other ``tcp-request content`` actions (capture, track-sc,
set-var ...) and the ``connection``/``session`` rules are accepted with a located "ignored by the course
engine" warning; their arguments are not checked.
"""
from __future__ import annotations

from . import keywords as kw
from .conditions import engine_gaps, parse_condition, uses_l6, warn_conflicts
from .context import IGNORED_HINT, Context, Draft
from .model import TcpRule
from .words import TimeFormatError, parse_time

# the actions HAProxy 2.6.12 registers for each kind of rule, as its message lists them ('(*)': a prefix)
_L4_ACTIONS = ("sc-inc-gpc(*)", "sc-inc-gpc0(*)", "sc-inc-gpc1(*)", "sc-set-gpt(*)", "sc-set-gpt0(*)",
               "set-var-fmt(*)", "set-var(*)", "unset-var(*)", "set-dst", "set-dst-port", "set-mark", "set-src",
               "set-src-port", "set-tos", "silent-drop")
ACTIONS = {
    "content": ("ot-group", "set-log-level", "set-nice", "switch-mode", "use-service", "sc-inc-gpc(*)",
                "sc-inc-gpc0(*)", "sc-inc-gpc1(*)", "sc-set-gpt(*)", "sc-set-gpt0(*)", "send-spoe-group",
                "do-resolve(*)", "set-var-fmt(*)", "set-var(*)", "unset-var(*)", "set-src", "set-src-port",
                "set-dst", "set-dst-port", "set-mark", "set-tos", "silent-drop", "set-priority-class",
                "set-priority-offset"),
    "connection": _L4_ACTIONS, "session": _L4_ACTIONS}
EXTRA = ("accept", "reject", "capture", "track-sc", "expect-proxy", "expect-netscaler-cip")
# keywords.FETCHES' "where" columns: tcp-request connection, session, content (frontend), content (backend)
COLUMNS = {"connection": (0, None), "session": (1, None), "content": (2, 6)}


def _who(d: Draft) -> str:
    return f"{d.type_name} '{d.name}'"


def parse_tcp_request(p: Context, d: Draft, args: list[str]) -> None:
    """One ``tcp-request ...`` line (tcp_parse_tcp_req)."""
    sub = args[1] if len(args) > 1 else ""
    anonymous = d.kind == "defaults" and not d.name
    if not sub:
        p.alert(f"{p.where}missing argument for 'tcp-request' in "
                + ("defaults section" if d.kind == "defaults" else _who(d)))
    elif sub == "inspect-delay":
        _inspect_delay(p, d, args, anonymous)
    elif sub in ("connection", "session") and not d.cap_fe:
        p.alert(f"{p.where}tcp-request {sub} is not allowed because {d.type_name} {d.name} is not a frontend")
    elif sub in COLUMNS:
        if anonymous:
            p.alert(f"{p.where}tcp-request {sub} is not allowed in anonymous 'defaults' sections")
        else:
            _rule(p, d, args, sub)
    else:
        p.alert(f"{p.where}'tcp-request' expects 'inspect-delay', 'connection', or 'content' in "
                + ("defaults section" if d.kind == "defaults" else _who(d)) + f" (got '{sub}')")


def _inspect_delay(p: Context, d: Draft, args: list[str], anonymous: bool) -> None:
    if anonymous:
        p.alert(f"{p.where}tcp-request inspect-delay is not allowed in anonymous 'defaults' sections")
        return
    value = args[2] if len(args) > 2 else ""
    head = f"{p.where}'tcp-request inspect-delay' expects a positive delay in milliseconds, in {_who(d)}"
    if not value:
        p.alert(head, "Write how long to wait for the client's first bytes, e.g. 'tcp-request inspect-delay 5s'.")
        return
    try:
        ms = parse_time(value)
    except TimeFormatError as e:
        tail = {"over": f" (timer overflow in '{value}', maximum value is 2147483647 ms or ~24.8 days)",
                "under": f" (timer underflow in '{value}', minimum non-null value is 1 ms)"}
        p.alert(head + tail.get(e.kind, f" (unexpected character '{e.char}')"))
        return
    if d.values["inspect_delay"]:  # (one inherited from a defaults section counts: HAProxy copies it first)
        p.warn(f"{p.where}ignoring tcp-request inspect-delay (was already defined) in {_who(d)}")
        return
    d.values["inspect_delay"] = ms


def _known_action(word: str, sub: str) -> bool:
    if word in ("capture", "expect-proxy", "expect-netscaler-cip") or word.startswith("track-sc"):
        return True
    return any(word.startswith(a[:-3]) if a.endswith("(*)") else word == a for a in ACTIONS[sub])


def _suggest(word: str, sub: str) -> str | None:
    """action_suggest: the closest action name; a prefix keyword is allowed a wider distance."""
    sig = kw.word_fingerprint(word)
    best, best_dist, prefix = None, None, False
    for name in (*ACTIONS[sub], *EXTRA):
        is_prefix = name.endswith("(*)")
        name = name[:-3] if is_prefix else name
        dist = kw.fingerprint_distance(sig, kw.word_fingerprint(name))
        if best_dist is None or dist < best_dist:
            best, best_dist, prefix = name, dist, is_prefix
    factor = 3 if prefix else 2
    if best is None or best_dist > factor * len(word) or best_dist > factor * len(best):
        return None
    return best


def _rule(p: Context, d: Draft, args: list[str], sub: str) -> None:
    """``tcp-request content|connection|session ACTION [if|unless COND]``; the engine keeps content
    accept|reject rules, and checks the others' accept|reject as HAProxy does before ignoring them."""
    action = args[2] if len(args) > 2 else ""
    hint = "The course engine runs 'tcp-request content accept' and 'tcp-request content reject' only."
    if action not in ("accept", "reject"):
        if _known_action(action, sub):
            d.tcp_other.append(sub)
            p.ignored(f"tcp-request {sub} {action}", hint)
            return
        best = _suggest(action, sub)
        p.alert(f"{p.where}'tcp-request {sub}' expects 'accept', 'reject', 'capture', 'expect-proxy', "
                "'expect-netscaler-cip', 'track-sc0' ... 'track-sc2', "
                + ", ".join(f"'{a}'" for a in ACTIONS[sub]) + f" in {_who(d)} (got '{action}')."
                + (f" Did you mean '{best}' maybe ?" if best else "") + "\n",
                f"Write 'tcp-request {sub} accept' or 'tcp-request {sub} reject', optionally with "
                "'if' or 'unless' and a condition.")
        return
    rest = args[3:]
    cond = None
    if rest and rest[0] in ("if", "unless"):
        refused = (f"'tcp-request {sub} {action}' : error detected in {_who(d)} while parsing '{rest[0]}' "
                   "condition : ")
        cond = parse_condition(p, d, rest[1:], "", negate=rest[0] == "unless", column=None, refused=refused)
        if cond is None:
            return
    elif rest and rest[0]:
        p.alert(f"{p.where}'tcp-request {sub} {action}' only accepts 'if' or 'unless', in {_who(d)} "
                f"(got '{rest[0]}')")
        return
    _misplaced(p, d, sub)
    if cond is not None:
        _conflicts(p, d, cond, sub)
    if sub != "content":
        d.tcp_other.append(sub)
        p.ignored(f"tcp-request {sub} {action}", hint)
        return
    if d.kind == "defaults":
        d.tcp_other.append(sub)
        p.ignored(f"tcp-request content {action}", "The course engine runs tcp-request rules written in a "
                  "frontend, backend or listen section; move it there.")
        return
    gaps = engine_gaps(cond) if cond is not None else ""
    if gaps:
        d.tcp_other.append(sub)
        p.warn(f"{p.where}the course engine cannot evaluate {gaps}: it skips the rule 'tcp-request "
               f"{' '.join(args[1:])}', which real HAProxy applies.", IGNORED_HINT)
        return
    if cond is not None and uses_l6(cond):
        d.tcp_l6.append(p.line)
    d.tcp_rules.append(TcpRule(action, p.line, cond))


def _misplaced(p: Context, d: Draft, sub: str) -> None:
    """warnif_misplaced_tcp_conn/_sess/_cont: a rule written after rules that run later (of those the
    engine notes: tcp-request session and content rules, http-request, use_backend)."""
    later = {"connection": ("tcp-request session", "tcp-request content"), "session": ("tcp-request content",),
             "content": ()}[sub]
    present = {"tcp-request session": "session" in d.tcp_other,
               "tcp-request content": bool(d.tcp_rules) or "content" in d.tcp_other,
               "http-request": "http-request" in d.rule_keywords, "use_backend": bool(d.use_backend_targets)}
    for after in (*later, "http-request", "use_backend"):
        if present[after]:
            article = "an" if after[0] in "aeiouh" and after != "use_backend" else "a"
            p.warn(f"{p.where}a 'tcp-request' rule placed after {article} '{after}' rule will still be processed "
                   "before.")
            return


def _conflicts(p: Context, d: Draft, cond, sub: str) -> None:
    """The fetches a tcp-request rule of this kind cannot use; HAProxy names the frontend's place when
    the section is both (listen)."""
    fe_col, be_col = COLUMNS[sub]
    columns = ([fe_col] if d.cap_fe else []) + ([be_col] if d.cap_be and be_col is not None else [])
    place = f"frontend tcp-request {sub} rule" if d.cap_fe else f"backend tcp-request {sub} rule"
    warn_conflicts(p, cond, tuple(columns), place, f"tcp-request {sub}")


def check_tcp_rules(p: Context, d: Draft) -> None:
    """The check stage: HAProxy ignores layer-6 fetches in an HTTP proxy; the engine runs content rules in
    mode tcp only, and notes switching rules that read bytes no content rule waits for."""
    if d.values["mode"] != "http":
        if not d.values["inspect_delay"]:
            for line in d.tcp_l6:
                p.warn(f"parsing [{p.file}:{line}] : without 'tcp-request inspect-delay' this rule reads only the "
                       "bytes already there: the course engine decides before reading any (the sample is absent); "
                       "HAProxy decides on whatever has arrived by then (sometimes the whole ClientHello, often nothing).",
                       "Add 'tcp-request inspect-delay 5s' to this section.", line=line)
        if d.tcp_rules or "content" in d.tcp_other:
            return
        for _, line, l6 in d.use_backend_targets:
            if l6:
                p.warn(f"parsing [{p.file}:{line}] : this 'use_backend' rule reads the client's first bytes, but no "
                       "'tcp-request content' rule waits for them: the course engine decides before reading any "
                       "(the sample is absent); HAProxy decides on whatever has arrived by then (sometimes the "
                       "whole ClientHello, sometimes nothing).", "Add 'tcp-request inspect-delay 5s' and "
                       "'tcp-request content accept if { req.ssl_hello_type 1 }' to this section.", line=line)
        return
    for line in d.tcp_l6:
        p.warn(f"Proxy '{d.name}': L6 sample fetches ignored on HTTP proxies (declared at {p.file}:{line}).",
               line=line)
    for rule in d.tcp_rules:
        p.warn(f"parsing [{p.file}:{rule.line}] : 'tcp-request content {rule.action}' is accepted by HAProxy but "
               "ignored by the course engine in mode http.", "The course engine runs tcp-request content rules "
               "in mode tcp only.", line=rule.line)
