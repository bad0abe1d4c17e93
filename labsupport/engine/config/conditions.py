"""ACLs and conditions in a configuration: ``acl NAME ...``, ``use_backend ... if|unless ...`` and
``stats admin if ...``, read with the sample language (engine/sample) and reported as HAProxy reports.

``parse_acl_line`` adds a named ACL to the section being built (a name declared on several lines ORs
them); ``parse_condition`` reads the words after if/unless. Both turn HAProxy's refusals into located
alerts ("error detected while parsing ACL 'x' : unknown fetch method ..."), and return None after one.
``engine_gaps`` names what the engine cannot evaluate in a condition, for the caller's warning.
"""
from __future__ import annotations

from ..sample import AclError, Condition, MapStore, parse_acl
from ..sample import parse_condition as parse_words
from .context import Context, Draft

USE_BACKEND_RULE = "frontend use-backend rule"
USE_BACKEND_COLUMN = 5  # where keywords.FETCHES says a fetch may be used in a use_backend rule


def maps_of(p: Context) -> MapStore:
    """The configuration's map files (one store per pass)."""
    store = getattr(p, "maps", None)
    if store is None:
        store = p.maps = MapStore()
    return store


def map_where(p: Context) -> str:
    return f"file '{p.file}' line {p.line}"


def _warn_text(p: Context):
    return lambda text: p.warn(text)


def parse_acl_line(p: Context, d: Draft, args: list[str]) -> None:
    """``acl NAME CRITERION...``"""
    name = args[1]
    try:
        acl = parse_acl(args[2:], maps_of(p), map_where(p), _warn_text(p))
    except AclError as e:
        p.alert(f"{p.where}error detected while parsing ACL '{name}' : {e}")
        return
    maps_of(p).reserve()
    d.acls[name] = d.acls.get(name, ()) + (acl,)


def parse_condition(p: Context, d: Draft, words: list[str], what: str, negate: bool = False,
                    column: int | None = USE_BACKEND_COLUMN) -> Condition | None:
    """The words after if/unless -> a Condition, or None after HAProxy's alert. Fetches a rule of this
    kind cannot use get HAProxy's warning ('... will never match because it uses keyword ...')."""
    try:
        cond = parse_words(words, d.acls, maps_of(p), map_where(p), negate, _warn_text(p))
    except AclError as e:
        p.alert(f"{p.where}error detected while parsing {what} : {e}")
        return None
    for group in cond.groups:
        for term in group:
            if not term.name:
                maps_of(p).reserve()
            for acl in term.acls:
                if column is not None and not acl.usable_at(column):
                    who = f"acl '{term.name}'" if term.name else "anonymous acl"
                    p.warn(f"{p.where}{who} will never match because it uses keyword '{acl.expr.fetch}' which is "
                           f"incompatible with '{USE_BACKEND_RULE}'")
    return cond


def engine_gaps(cond: Condition) -> str:
    """What the engine lacks to evaluate ``cond`` ('' when nothing), for a located warning."""
    gaps = []
    for name, missing in cond.missing():
        gaps.append(f"{missing} (in {'ACL ' + repr(name) if name else 'an anonymous ACL'})")
    return ", ".join(dict.fromkeys(gaps))
