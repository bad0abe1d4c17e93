"""ACL conditions of ``use_backend ... if|unless`` and ``stats admin if``: the fetches the engine routes on.

Reads the fetches the course uses (``path_beg``, ``path``, ``hdr(host)``, the ``-i`` flag), named ACLs
(a name declared on several lines ORs them), ``TRUE`` and ``FALSE``, combined as HAProxy combines them:
terms side by side must all be true, ``||`` or ``or`` separates alternatives, ``!`` negates a term.
Anything else is reported by the caller as a located warning.
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
    """The words after if/unless -> a condition: a tuple of OR-ed groups, each a tuple of AND-ed
    terms ``(negated, criteria)``, where a term is true when any of its criteria matches (a named ACL
    declared on several lines ORs them). None when the engine can't evaluate it; False after an alert
    (HAProxy refuses it). Follows src/acl.c parse_acl_cond: ``||``/``or`` between groups, ``!``
    (alone or glued, repeated) negating the next term, ``{ ... }`` an anonymous ACL."""
    groups: list[tuple] = []
    group: list = []
    usable, neg, i = True, False, 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in ("||", "or"):
            groups.append(tuple(group))
            group = []
            continue
        while word.startswith("!"):
            neg, word = not neg, word[1:]
        if not word:
            continue
        if word == "{":
            if "}" not in words[i:]:
                p.alert(f"{p.where}error detected while parsing {what} : missing closing '}}' in condition.")
                return False
            end = words.index("}", i)
            criteria = (parse_criterion(words[i:end]),)
            i = end + 1
        elif word in d.acls:
            criteria = d.acls[word]
        elif word in kw.PREDEFINED_ACLS:
            criteria = {"TRUE": (("always", (), False),), "FALSE": ()}.get(word)
        else:
            p.alert(f"{p.where}error detected while parsing {what} : no such ACL : '{word}'.",
                    "Declare it first with 'acl NAME CRITERION' in this section, or use TRUE.")
            return False
        if criteria is None or None in criteria:
            usable = False  # keep reading: a later unknown ACL is still HAProxy's error
        group.append((neg, criteria))
        neg = False
    groups.append(tuple(group))
    # only groups holding a term exist: 'if' alone, or '|| a', never adds an always-true group
    return tuple(g for g in groups if g) if usable else None
