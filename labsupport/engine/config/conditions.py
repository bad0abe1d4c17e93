"""ACLs and conditions in a configuration: ``acl NAME ...``, ``use_backend ... if|unless ...`` and
``stats admin if ...``, read with the sample language (engine/sample) and reported as HAProxy reports.

``parse_acl_line`` adds a named ACL to the section being built (a name declared on several lines ORs
them); ``parse_condition`` reads the words after if/unless. Both turn HAProxy's refusals into located
alerts ("error detected while parsing ACL 'x' : unknown fetch method ..."), and return None after one.
``engine_gaps`` names what the engine cannot evaluate in a condition, for the caller's warning.
"""
from __future__ import annotations

from dataclasses import replace

from ..sample import Acl, AclError, Condition, MapStore, parse_acl
from ..sample import parse_condition as parse_words
from ..sample.acl import PREDEFINED, expr_fetch
from .context import Context, Draft

USE_BACKEND_RULE = "frontend use-backend rule"
# the fetches that read layer 6 (SMP_USE_L6REQ in HAProxy 2.6's fetch tables)
L6_FETCHES = frozenset(("req.len", "req_len", "req.payload", "req.payload_lv", "payload", "payload_lv",
                        "req.rdp_cookie", "req.rdp_cookie_cnt", "rdp_cookie", "rdp_cookie_cnt", "req.ssl_ec_ext",
                        "req.ssl_st_ext", "req.ssl_hello_type", "req_ssl_hello_type", "req.ssl_sni", "req_ssl_sni",
                        "req.ssl_ver", "req_ssl_ver", "req.ssl_alpn", "distcc_body", "distcc_param"))
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


def _reserve(p: Context, acl: Acl) -> None:
    """The pattern references an ACL takes (its ids come before the maps read after it)."""
    store = maps_of(p)
    if not acl.files:
        store.reserve()
    for path in acl.files:
        store.reserve(("file", path))


def parse_acl_line(p: Context, d: Draft, args: list[str]) -> None:
    """``acl NAME CRITERION...``: the name's characters checked first (cfgparse-listen.c invalid_char)."""
    name = args[1]
    bad = next((ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch in "._:-"))), None)
    if bad is not None:
        p.alert(f"{p.where}character '{bad}' is not permitted in acl name '{name}'.")
        return
    try:
        acl = parse_acl(args[2:], maps_of(p), map_where(p), _warn_text(p))
    except AclError as e:
        p.alert(f"{p.where}error detected while parsing ACL '{name}' : {e}")
        return
    _reserve(p, acl)
    d.acls[name] = d.acls.get(name, ()) + (acl,)


def parse_condition(p: Context, d: Draft, words: list[str], what: str, negate: bool = False,
                    column: int | None = USE_BACKEND_COLUMN, place: str = USE_BACKEND_RULE,
                    refused: str | None = None) -> Condition | None:
    """The words after if/unless -> a Condition, or None after HAProxy's alert (``refused``: the alert's
    text before HAProxy's reason, when the rule words it its own way). Fetches a rule of this kind
    cannot use get HAProxy's warning ('... will never match because it uses keyword ...')."""
    try:
        cond = parse_words(words, d.acls, maps_of(p), map_where(p), negate, _warn_text(p))
    except AclError as e:
        if refused is None:
            p.alert(f"{p.where}error detected while parsing {what} : {e}")
        else:  # (the callers above add the final '.' AclError's texts carry)
            p.alert(f"{p.where}{refused}{str(e).removesuffix('.')}")
        return None
    for group in cond.groups:
        for term in group:
            if not term.name:
                for acl in term.acls:
                    _reserve(p, acl)
            elif term.name in PREDEFINED and term.name not in d.acls:  # built once per section
                maps_of(p).reserve(("predefined", id(d), term.name))
    if column is not None:
        warn_conflicts(p, cond, (column,), place)
    return cond


def warn_conflicts(p: Context, cond: Condition, columns: tuple[int, ...], place: str, rule: str = "") -> None:
    """cfgparse.c warnif_cond_conflicts, and tcp_rules.c's wording of it (``rule``: 'tcp-request content'):
    one warning, for the first ACL no fetch of which this rule can use ("will never match"), else for the
    first fetch it cannot use ("involves"), named by its ACL keyword as written ('shdr_beg', not 'res.hdr').
    ``columns``: where the rule stands in keywords.FETCHES' "where" (a listen section's tcp-request rule
    is a frontend's and a backend's: a fetch either may use will do)."""
    def usable(acl) -> bool:
        return any(acl.usable_at(c) for c in columns)

    terms = [term for group in cond.groups for term in group]
    within = f" in '{rule}'" if rule else ""
    never = next((t for t in terms if t.acls and not any(usable(a) for a in t.acls)), None)
    if never is not None:
        if never.name:
            p.warn(f"{p.where}acl '{never.name}' will never match{within} because it only involves keywords that "
                   f"are incompatible with '{place}'")
        else:
            p.warn(f"{p.where}anonymous acl will never match{within} because it uses keyword "
                   f"'{expr_fetch(never.acls[0].keyword)}' which is incompatible with '{place}'")
        return
    some = next(((t, a) for t in terms for a in t.acls if not usable(a)), None)
    if some is not None:
        term, acl = some
        who = (f"acl '{term.name}' involves keyword{'' if rule else 's'}" if term.name
               else "anonymous acl involves keyword")
        p.warn(f"{p.where}{who} '{expr_fetch(acl.keyword)}' which is incompatible with '{place}'")


def never_outside(cond: Condition, column: int) -> Condition:
    """The condition with each ACL whose fetch cannot be used at ``column`` marked ``never`` (it never
    matches, as warn_conflicts said)."""
    groups = tuple(tuple(replace(term, acls=tuple(a if a.usable_at(column) else replace(a, never=True)
                                                  for a in term.acls)) for term in group) for group in cond.groups)
    return replace(cond, groups=groups)


def uses_l6(cond: Condition) -> bool:
    """Does the condition read the raw request buffer (a layer-6 fetch: SMP_USE_L6REQ)? HAProxy ignores
    such fetches in an HTTP proxy's switching rules and warns at its check stage."""
    return any(acl.expr.fetch in L6_FETCHES for acl in cond.acls())


def engine_gaps(cond: Condition) -> str:
    """What the engine lacks to evaluate ``cond`` ('' when nothing), for a located warning."""
    gaps = []
    for name, missing in cond.missing():
        gaps.append(f"{missing} (in {'ACL ' + repr(name) if name else 'an anonymous ACL'})")
    return ", ".join(dict.fromkeys(gaps))
