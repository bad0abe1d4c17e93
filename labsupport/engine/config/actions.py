"""``http-request`` and ``http-response`` rules: their arguments, checked as HAProxy 2.6 checks them.

How it works: ``parse_http_rule`` reads one rule line into a ``model.HttpRule`` (proxy/actions.py
runs it). The action word is looked up first (an unknown one gets HAProxy's list of every action),
then the action's own parser takes its arguments, then only ``if``/``unless`` and a condition may
follow. A refused rule stops haproxy's parsing of the file (ERR_ABORT), so it stops ours too.
Rules the engine cannot carry out (an action it does not implement, a condition it cannot
evaluate, a value that needs a sample fetch) are skipped with a located warning; when the rule
would have answered the request itself (deny, return, redirect ...), the warning says loudly that
the engine forwards what HAProxy would stop.

Values are log-format strings, read by values.py's ``parse_fmt``; conditions are engine/sample
Conditions (``conditions.parse_condition``), an ACL whose fetch the rule cannot use marked as never
matching, with HAProxy's warning; proxy/actions.py evaluates them on the request.

Follows HAProxy 2.6's src/http_act.c (the action parsers), src/http_rules.c
(http_parse_redirect_rule), src/http_htx.c (http_parse_http_reply), src/action.c and
src/cfgparse-listen.c (the rule line, the "final action" warning), src/acl.c (the
"will never match" warnings); HAProxy is Copyright Willy Tarreau and contributors, GPL-2.0-or-later.
"""
from __future__ import annotations

import re
from dataclasses import replace

from ..sample import SampleError
from .conditions import engine_gaps, map_where, maps_of, parse_condition
from .context import Context, Draft
from .model import HttpRule
from .stick import parse_inc_gpc, parse_track
from .values import Refused, check_regex, parse_fmt

REQ_ACTIONS = (
    "wait-for-handshake ot-group set-log-level set-nice use-service sc-inc-gpc(*) sc-inc-gpc0(*) sc-inc-gpc1(*) "
    "sc-set-gpt(*) sc-set-gpt0(*) send-spoe-group do-resolve(*) cache-use add-acl(*) add-header allow auth "
    "capture del-acl(*) del-header del-map(*) deny disable-l7-retry early-hint normalize-uri redirect reject "
    "replace-header replace-path replace-pathq replace-uri replace-value return set-header set-map(*) "
    "set-method set-path set-pathq set-query set-uri strict-mode tarpit track-sc(*) set-timeout wait-for-body "
    "set-var-fmt(*) set-var(*) unset-var(*) set-dst set-dst-port set-mark set-src set-src-port set-tos "
    "silent-drop set-priority-class set-priority-offset").split()
RES_ACTIONS = (
    "ot-group set-log-level set-nice sc-inc-gpc(*) sc-inc-gpc0(*) sc-inc-gpc1(*) sc-set-gpt(*) sc-set-gpt0(*) "
    "send-spoe-group cache-store add-acl(*) add-header allow capture del-acl(*) del-header del-map(*) deny "
    "redirect replace-header replace-value return set-header set-map(*) set-status strict-mode track-sc(*) "
    "wait-for-body set-var-fmt(*) set-var(*) unset-var(*) set-mark set-tos silent-drop").split()
IMPLEMENTED = {
    "request": {"redirect", "set-header", "add-header", "del-header", "replace-header", "replace-value",
                "set-path", "set-pathq", "replace-path", "replace-pathq", "set-query", "set-uri", "replace-uri",
                "set-method", "return", "deny", "tarpit", "allow"},
    "response": {"set-header", "add-header", "del-header", "replace-header", "replace-value", "set-status",
                 "deny", "return", "allow"},
}
# ACT_FLAG_FINAL: the rule ends the list when it applies
FINAL = {"allow", "deny", "tarpit", "redirect", "return", "auth", "reject", "silent-drop", "use-service"}
# the ones that keep a request (or answer) from going on: skipping them forwards what HAProxy stops
STOPS = FINAL - {"allow"}
ERROR_PAGES = (200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504)


def _known(word: str, names: list[str]) -> bool:
    for name in names:
        if name.endswith("(*)"):
            if word.startswith(name[:-3]):
                return True
        elif word == name:
            return True
    return False


# --------------------------------------------------------------------------- action parsers
# each takes (args after the action word) and returns (fields, words used, values) where values
# are the log-format strings to read (name -> text)
def _header_set(a: list[str]) -> tuple[dict, int, dict]:
    if len(a) < 2 or not a[0] or not a[1]:
        raise Refused("expects exactly 2 arguments")
    return {"name": a[0].lower().encode("utf-8")}, 2, {"value": a[1]}


def _del_header(a: list[str]) -> tuple[dict, int, dict]:
    if not a or not a[0]:
        raise Refused("expects at least 1 argument")
    fields = {"name": a[0].lower().encode("utf-8")}
    if a[1:2] == ["-m"]:
        if len(a) < 3 or not a[2]:
            raise Refused("-m flag expects exactly 1 argument")
        if a[2] not in ("str", "beg", "end", "sub", "reg"):
            raise Refused(f"-m with unsupported matching method '{a[2]}'")
        fields["match"] = a[2]
        if a[2] == "reg":
            fields["regex"] = check_regex(a[0])
            fields["name"] = a[0].encode("utf-8")
        return fields, 3, {}
    return fields, 1, {}


def _replace_header(a: list[str]) -> tuple[dict, int, dict]:
    if len(a) < 3 or not all(a[:3]):
        raise Refused("expects exactly 3 arguments")
    return {"name": a[0].lower().encode("utf-8"), "regex": check_regex(a[1])}, 3, {"value": a[2]}


def _extra(a: list[str], n: int) -> bool:
    """A word after the ``n`` arguments that is not a condition (these parsers refuse it themselves)."""
    return len(a) > n and bool(a[n]) and a[n] not in ("if", "unless")


def _set_line(a: list[str]) -> tuple[dict, int, dict]:
    if not a or not a[0] or _extra(a, 1):
        raise Refused("expects exactly 1 argument <format>")
    return {}, 1, {"value": a[0]}


def _replace_line(a: list[str]) -> tuple[dict, int, dict]:
    if len(a) < 2 or not a[0] or not a[1] or _extra(a, 2):
        raise Refused("expects exactly 2 arguments <match-regex> and <replace-format>")
    return {"regex": check_regex(a[0], "failed to parse the regex : ")}, 2, {"value": a[1]}


def _set_status(a: list[str]) -> tuple[dict, int, dict]:
    if not a or not a[0]:
        raise Refused("expects 1 argument: <status>; or 3 arguments: <status> reason <fmt>")
    if not a[0].isdigit() or not 100 <= int(a[0]) <= 999:
        raise Refused("expects an integer status code between 100 and 999")
    fields: dict = {"status": int(a[0])}
    if a[1:2] == ["reason"] and len(a) > 2 and a[2] and a[2] not in ("if", "unless"):
        fields["reason"] = (a[2].encode("utf-8"),)
        return fields, 3, {}
    return fields, 1, {}


def _redirect(a: list[str], side: str) -> tuple[dict, int, dict]:
    kind, code, dest, cookie, cookie_set, flags = "", 302, "", None, False, []
    i = 0
    while i < len(a) and a[i]:
        w = a[i]
        if w in ("location", "prefix", "scheme", "set-cookie", "clear-cookie", "code"):
            if i + 1 >= len(a) or not a[i + 1]:
                raise Refused(f"missing argument for '{w}'")
            i += 1
            if w == "code":
                code = _atol(a[i])
                if code < 301 or code > 308 or 303 < code < 307:
                    raise Refused(f"'code': unsupported HTTP code '{a[i]}' (must be one of 301, 302, 303, 307 or 308)")
            elif w in ("set-cookie", "clear-cookie"):
                cookie, cookie_set = a[i], w == "set-cookie"
            else:
                kind, dest = w, a[i]
        elif w in ("drop-query", "append-slash", "ignore-empty"):
            flags.append(w)
        elif w in ("if", "unless"):
            break
        else:
            raise Refused("expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', "
                          f"'drop-query', 'ignore-empty' or 'append-slash' (was '{w}')")
        i += 1
    if not kind:
        raise Refused("redirection type expected ('prefix', 'location', or 'scheme')")
    if side == "response" and kind != "location":
        raise Refused("response only supports redirect type 'location'")
    fields: dict = {"match": kind, "status": code, "flags": tuple(flags)}
    if cookie is not None:
        tail = "; path=/;" if cookie_set else "; path=/; Max-Age=0;"
        fields["cookie"] = (cookie + tail).encode("utf-8")
    values = {} if kind == "prefix" and dest == "/" else {"value": dest}  # prefix "/": nothing added
    return fields, i, values


def _atol(text: str) -> int:
    m = re.match(r"\s*[+-]?\d+", text)
    return int(m.group()) if m else 0


def _reply(p: Context, a: list[str], status: int, errorfile: bool = False) -> tuple[dict, int, dict]:
    """http_parse_http_reply: status, content-type, one payload, hdr NAME FMT ..."""
    fields: dict = {"status": status}
    values: dict = {}
    hdrs: list = []
    payload, what, ctype, objlen = "", "", None, 0
    i = 0
    while i < len(a):
        w = a[i]
        if w in ("status", "content-type", "errorfiles", "errorfile", "file", "string", "lf-file", "lf-string"):
            if w not in ("status", "content-type") and payload:
                raise Refused(f"unexpected '{w}' argument, '{what}' already defined")
            if i + 1 >= len(a) or not a[i + 1]:
                expect = {"status": "<status_code>", "content-type": "<ctype>", "errorfiles": "<name>",
                          "errorfile": "<fmt>", "file": "<file>", "string": "<str>", "lf-file": "<file>",
                          "lf-string": "<fmt>"}[w]
                raise Refused(f"'{w}' expects {expect} as argument")
            arg = a[i + 1]
            if w == "status":
                fields["status"] = _atol(arg)
                if not 200 <= fields["status"] <= 599:
                    raise Refused(f"Unexpected status code '{fields['status']}'")
            elif w == "content-type":
                ctype = arg
            else:
                payload, what = w, w
                if w in ("file", "lf-file", "errorfile"):
                    try:
                        with open(arg, "rb") as f:
                            data = f.read()
                    except OSError:
                        raise Refused(f"error opening file '{arg}'") from None
                    objlen = len(data)
                    values["body"] = data.decode("latin-1")
                elif w in ("string", "lf-string"):
                    objlen = len(arg)
                    values["body"] = arg
                else:
                    values["errorfiles"] = arg
            i += 2
        elif w == "default-errorfiles":
            if payload:
                raise Refused(f"unexpected '{w}' argument, '{what}' already defined")
            payload = what = w
            i += 1
        elif w == "hdr":
            if i + 2 >= len(a) or not a[i + 1] or not a[i + 2]:
                raise Refused("'hdr' expects <name> and <value> as arguments")
            if a[i + 1].lower() in ("content-length", "transfer-encoding", "content-type"):
                p.warn(f"parsing [{p.file}:{p.line}] : header '{a[i + 1]}' always ignored by the http reply.")
            else:
                hdrs.append((a[i + 1].lower(), a[i + 2]))
            i += 3
        else:
            break
    st = fields["status"]
    if errorfile or payload in ("default-errorfiles", "errorfiles", "errorfile"):
        if payload != "errorfile" and st not in ERROR_PAGES:
            raise Refused(f"status code '{st}' not handled by default with '{what or 'default-errorfiles'}' argument.")
        fields["match"] = "unsupported" if payload == "errorfile" else "errorpage"  # a file: a whole raw answer
        values.pop("body", None)
    elif payload in ("file", "string"):
        if st in (204, 304) and objlen:
            raise Refused(f"No body expected for {st} responses")
        if not ctype and objlen:
            raise Refused("a content type must be defined when non-empty payload is configured")
        if ctype and not objlen:
            p.warn(f"parsing [{p.file}:{p.line}] : content-type '{ctype}' ignored by the http reply when used "
                   "with an empty payload.")
            ctype = None
        values["body"] = values["body"].replace("%", "%%")  # raw payloads are not log-format
    elif payload in ("lf-file", "lf-string"):
        if st in (204, 304):
            raise Refused(f"No body expected for {st} responses")
        if not ctype:
            raise Refused("a content type must be defined with a log-format payload")
    elif ctype:
        p.warn(f"parsing [{p.file}:{p.line}] : content-type '{ctype}' ignored by the http reply because "
               "neither errorfile nor payload defined.")
        ctype = None
    if "errorfiles" in values:
        values.pop("errorfiles")
        fields["match"] = "unsupported"  # an http-errors section: the engine keeps no such pages
    if ctype:
        fields["ctype"] = ctype.encode("utf-8")
    for k, (name, text) in enumerate(hdrs):
        values[f"hdr{k}"] = (name, text)
    return fields, i, values


def _deny(p: Context, a: list[str], side: str, tarpit: bool = False) -> tuple[dict, int, dict]:
    """deny and tarpit (parse_http_deny): a tarpit answers 500 unless told, a request deny 403."""
    default = 500 if tarpit else 403 if side == "request" else 502
    if not a or a[0] in ("if", "unless"):
        return _reply(p, ["default-errorfiles"], default)[0], 0, {}
    if a[0] == "deny_status" and (len(a) < 3 or a[2] in ("if", "unless", "")):
        fields, _, values = _reply(p, ["status", a[1] if len(a) > 1 else "", "default-errorfiles"], default)
        return fields, 2, values
    b = list(a)
    if b[0] == "deny_status":
        b[0] = "status"
    return _reply(p, b, default)


# --------------------------------------------------------------------------- the rule line
def parse_http_rule(p: Context, d: Draft, args: list[str]) -> None:
    """One ``http-request`` / ``http-response`` line of a proxy section."""
    keyword = args[0]
    side = "request" if keyword == "http-request" else "response"
    names = REQ_ACTIONS if side == "request" else RES_ACTIONS
    if d.final_rule.get(side):
        p.warn(f"parsing [{p.file}:{p.line}]: previous '{keyword}' action is final and has no condition "
               "attached, further entries are NOOP.", "Rules after it never run: move them above it.")
    action = args[1] if len(args) > 1 else ""
    if not _known(action, names):
        p.alert(f"parsing [{p.file}:{p.line}]: '{keyword}' expects "
                + "".join(f"'{n}', " for n in names) + f"but got '{action}'.",
                f"Check the spelling of '{action}'." if action else f"Write an action after '{keyword}'.")
        _abort(p)
        return
    rest = args[2:]
    try:
        fields, used, texts = _parse_action(p, action, rest, side)
        maps, where = maps_of(p), map_where(p)
        # the place the values' fetches must suit (http_act.c: a frontend's request, a backend's response)
        col = _COLUMNS[(side, ("fe" if d.cap_fe else "be") if side == "request" else ("be" if d.cap_be else "fe"))][0]
        values = {k: parse_fmt(v, maps, where, col) if isinstance(v, str)
                  else (v[0].encode("utf-8"), parse_fmt(v[1], maps, where, col)) for k, v in texts.items()}
    except Refused as e:
        text = str(e)
        p.alert(f"{p.where}error detected in {d.type_name} '{d.name}' while parsing '{keyword} {action}' rule : "
                + text + ".")  # (some of HAProxy's messages end with '.' already: it prints '..')
        _abort(p)
        return
    tail = rest[used:]
    if tail and tail[0] not in ("if", "unless"):
        p.alert(f"parsing [{p.file}:{p.line}]: '{keyword} {action}' expects either 'if' or 'unless' followed by a "
                f"condition but found '{tail[0]}'.", "Only a condition may follow the action's arguments.")
        _abort(p)
        return
    cond = None
    if tail:
        start = len(p.messages)
        cond = parse_condition(p, d, tail[1:], f"an '{keyword} {action}' condition", negate=tail[0] == "unless",
                               column=None)
        if cond is None:  # refused (alerted)
            if action == "redirect":
                _reword_redirect(p, start, d, keyword)
            _abort(p)
            return
        cond = _usable_only(p, d, cond, side)
    d.rule_keywords.add(keyword)
    if action in FINAL and not tail:
        d.final_rule[side] = True
    what = " ".join(args)
    loud = action in STOPS
    if (action not in IMPLEMENTED[side] and not fields.get("stick")) or fields.get("match") == "unsupported":
        _skipped(p, what, loud, "the engine does not implement this action", "The course engine carries out "
                 f"these {keyword} actions: {', '.join(sorted(IMPLEMENTED[side]))}.")
        return
    gaps = engine_gaps(cond) if cond is not None else ""
    if gaps:
        _skipped(p, what, loud, f"the engine cannot evaluate this condition: it lacks {gaps}", "The course "
                 "engine evaluates the fetches, match methods and converters listed in the README.")
        return
    if any(v is None or (isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], bytes) and v[1] is None)
           for v in values.values()):
        _skipped(p, what, loud, "a value needs a fetch, a converter or a log variable the engine does not have",
                 "The course engine renders literal text, %ci, %cp, %fi, %fp and the sample expressions "
                 "(%[...]) of the fetches and converters it implements.")
        return
    hdrs = tuple(v for k, v in sorted(values.items()) if k.startswith("hdr"))
    rule = HttpRule(side=side, action=action, line=p.line, cond=cond, negate=tail[:1] == ["unless"],  # (in cond)
                    value=values.get("value", ()), body=values.get("body"), hdrs=hdrs, **fields)
    d.http_rules[side].append(rule)


def _parse_action(p: Context, action: str, a: list[str], side: str) -> tuple[dict, int, dict]:
    if action in ("set-header", "add-header"):
        return _header_set(a)
    if action == "del-header":
        return _del_header(a)
    if action in ("replace-header", "replace-value"):
        return _replace_header(a)
    if action in ("set-path", "set-pathq", "set-query", "set-uri", "set-method"):
        return _set_line(a)
    if action in ("replace-path", "replace-pathq", "replace-uri"):
        return _replace_line(a)
    if action == "set-status":
        return _set_status(a)
    if action == "redirect":
        return _redirect(a, side)
    if action == "return":
        return _reply(p, a, 200)
    if action in ("deny", "tarpit"):
        return _deny(p, a, side, action == "tarpit")
    if action == "allow":
        return {}, 0, {}
    if side == "request" and (action[:-1] == "track-sc" or action.startswith(("sc-inc-gpc0", "sc-inc-gpc1"))):
        try:  # stick tables (stick.py)
            if action.startswith("sc-inc-gpc"):
                fields, used = parse_inc_gpc(action, a)
            else:
                fields, used = parse_track(action, a, maps_of(p), map_where(p))
        except SampleError as e:
            raise Refused(str(e)) from None
        return fields, used, {}
    if action == "use-service" and a and a[0] and a[0] != "prometheus-exporter":
        raise Refused(f"'{a[0]}' unknown service name.")
    # a valid action the engine does not implement: its arguments run up to the condition
    used = next((i for i, w in enumerate(a) if w in ("if", "unless")), len(a))
    return {}, used, {}


def _reword_redirect(p: Context, start: int, d: Draft, keyword: str) -> None:
    """The redirect parser reads its own condition: its errors read 'error in condition: ...'."""
    for k in range(start, len(p.messages)):
        m = p.messages[k]
        head, sep, msg = m.text.partition(" condition : ")
        if sep and m.level == "ALERT":
            text = (f"{p.where}error detected in {d.type_name} '{d.name}' while parsing '{keyword} redirect' rule : "
                    f"error in condition: {msg}")
            p.messages[k] = type(m)(m.level, text, m.file, m.line, m.hint)


# keywords.FETCHES' "where" columns: frontend / backend http-request header rule, http-response header rule
_COLUMNS = {("request", "fe"): (3, "frontend http-request header rule"),
            ("request", "be"): (7, "backend http-request header rule"),
            ("response", "fe"): (16, "frontend http-response header rule"),
            ("response", "be"): (12, "backend http-response header rule")}


def _usable_only(p: Context, d: Draft, cond, side: str):
    """An ACL whose fetch this kind of rule cannot use never matches, and HAProxy warns (src/acl.c,
    e.g. path_beg in an http-response rule): the same here, the ACL marked ``never``."""
    places = [_COLUMNS[(side, cap)] for cap, has in (("fe", d.cap_fe), ("be", d.cap_be)) if has]
    groups = []
    for group in cond.groups:
        terms = []
        for term in group:
            bad = [a for a in term.acls if not any(a.usable_at(col) for col, _ in places)]
            if bad:
                place = places[0][1]
                if term.name and len(bad) == len(term.acls):
                    p.warn(f"{p.where}acl '{term.name}' will never match because it only involves keywords that "
                           f"are incompatible with '{place}'")
                elif not term.name:
                    p.warn(f"{p.where}anonymous acl will never match because it uses keyword "
                           f"'{bad[0].keyword.split('(', 1)[0]}' which is incompatible with '{place}'")
                term = replace(term, acls=tuple(replace(a, never=True) if a in bad else a for a in term.acls))
            terms.append(term)
        groups.append(tuple(terms))
    return replace(cond, groups=tuple(groups))


def _skipped(p: Context, what: str, loud: bool, why: str, hint: str) -> None:
    """A located warning: HAProxy carries this rule out, the engine skips it (and says loudly when
    that lets through what HAProxy would have answered itself)."""
    if loud:
        text = (f"'{what}' is accepted by HAProxy but skipped by the course engine ({why}): HAProxy would "
                "answer these requests itself, THE ENGINE FORWARDS THEM to the backend instead.")
    else:
        text = f"'{what}' is accepted by HAProxy but skipped by the course engine ({why})."
    p.warn(p.where + text, hint + " Run this file on real HAProxy to see the rule act.")


def _abort(p: Context) -> None:
    if hasattr(p, "aborted"):
        p.aborted = True


def defaults_rule(p: Context, d: Draft, args: list[str]) -> None:
    """A named defaults section's rules apply to the proxies that use it: not carried out."""
    p.ignored(" ".join(args[:2]), "The course engine does not carry out http-request/http-response rules "
              "written in a defaults section; write them in the frontend or backend.")


__all__ = ["parse_http_rule", "defaults_rule", "REQ_ACTIONS", "RES_ACTIONS", "ERROR_PAGES"]
