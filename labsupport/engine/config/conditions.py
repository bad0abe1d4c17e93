"""ACL conditions of ``use_backend ... if|unless`` and ``stats admin if``: the fetches the engine routes on.

Reads the subset of HAProxy's ACL language the course uses (``path_beg``, ``path``, ``hdr(host)``,
the ``-i`` flag, named ACLs and ``TRUE``); anything else is reported by the caller as a located
warning.
"""
from __future__ import annotations

from . import keywords as kw
from .context import Context, Draft

FETCH_KINDS = {"path_beg": "path_beg", "path": "path", "hdr(host)": "hdr_host", "req.hdr(host)": "hdr_host"}


def parse_criterion(words: list[str]) -> tuple[str, tuple[str, ...], bool] | None:
    """One ACL criterion ('path_beg /a /b', 'hdr(host) -i x') -> (kind, values, -i) or None."""
    if not words:
        return None
    fetch = words[0].lower() if words[0].lower().startswith(("hdr(", "req.hdr(")) else words[0]
    kind = FETCH_KINDS.get(fetch)
    if kind is None:
        return None
    icase, values = False, []
    rest = list(words[1:])
    while rest and rest[0].startswith("-") and rest[0] != "--":
        flag = rest.pop(0)
        if flag == "-i":
            icase = True
        else:
            return None
    if rest and rest[0] == "--":
        rest.pop(0)
    values = rest
    return kind, tuple(values), icase


def parse_condition(p: Context, d: Draft, words: list[str], what: str):
    """The words after if/unless -> (kind, values, icase); None when the engine can't use it;
    False after an alert (haproxy refuses it)."""
    if not words:
        return "always", (), False
    if words[0] == "{":
        if "}" not in words:
            p.alert(f"{p.where}error detected while parsing {what} : missing closing '}}' in condition.")
            return False
        end = words.index("}")
        return parse_criterion(words[1:end]) if end == len(words) - 1 else None
    terms = [w for w in words if w not in ("||", "or", "!")]
    for name in terms:
        if name not in d.acls and name not in kw.PREDEFINED_ACLS and not name.startswith("{"):
            p.alert(f"{p.where}error detected while parsing {what} : no such ACL : '{name}'.",
                    "Declare it first with 'acl NAME CRITERION' in this section, or use TRUE.")
            return False
    if len(words) != 1:
        return None
    if words[0] == "TRUE":
        return "always", (), False
    return d.acls.get(words[0])
