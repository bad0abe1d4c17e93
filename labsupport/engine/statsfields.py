"""Stats rows in HAProxy's typed and JSON forms (``show stat typed``, ``show stat json``, ``;json``).

Follows HAProxy 2.6's src/stats.c (stats_dump_fields_typed, stats_dump_fields_json; copyright
Willy Tarreau): each filled field of a row becomes one line
``<F|B|S>.<iid>.<sid>.<pos>.<name>.1:<tags>:<type>:<value>`` or one JSON object. ``pos`` counts
the fields without the CSV's ``-`` column (which only separates HAProxy's own fields from its
modules' ssl/h2/h1 ones). The tags are origin, nature and scope (``MCP`` = Metric, Counter,
Process); they and the value types were read from HAProxy 2.6.12's own typed output.
"""
from __future__ import annotations

import json
from typing import Any

from .stats import COLUMNS

# name=tags:type as HAProxy 2.6.12 prints them; a few differ on BACKEND rows (_BACKEND below)
_TABLE = """pxname=KNS:str svname=KNS:str qcur=MGP:u32 qmax=MMP:u32 scur=MGP:u32 smax=MMP:u32 slim=CLP:u32
stot=MCP:u64 bin=MCP:u64 bout=MCP:u64 dreq=MCP:u64 dresp=MCP:u64 ereq=MCP:u64 econ=MCP:u64 eresp=MCP:u64
wretr=MCP:u64 wredis=MCP:u64 status=SGP:str weight=MaP:u32 act=SGP:u32 bck=SGP:u32 chkfail=MCP:u64
chkdown=MCP:u64 lastchg=MAP:u32 downtime=MCP:u32 pid=KGP:u32 iid=KGS:u32 sid=KGS:u32 lbtot=MCP:u64
type=CGS:u32 rate=MRP:u32 rate_lim=CLP:u32 rate_max=MMP:u32 check_status=MOP:str check_code=MOP:u32
check_duration=MDP:u64 hrsp_1xx=MCP:u64 hrsp_2xx=MCP:u64 hrsp_3xx=MCP:u64 hrsp_4xx=MCP:u64
hrsp_5xx=MCP:u64 hrsp_other=MCP:u64 req_rate=MRP:u32 req_rate_max=MMP:u32 req_tot=MCP:u64
cli_abrt=MCP:u64 srv_abrt=MCP:u64 comp_in=MCP:u64 comp_out=MCP:u64 comp_byp=MCP:u64 comp_rsp=MCP:u64
lastsess=MAP:s32 last_chk=MOP:str qtime=MaP:u32 ctime=MaP:u32 rtime=MaP:u32 ttime=MaP:u32
check_desc=MOP:str check_rise=CGS:u32 check_fall=CGS:u32 check_health=CGS:u32 addr=CGS:str
mode=CGS:str algo=CGS:str conn_rate=MRP:u32 conn_rate_max=MMP:u32 conn_tot=MCP:u64
intercepted=MCP:u64 dcon=MCP:u64 dses=MCP:u64 wrew=MCP:u64 connect=MCP:u64 reuse=MCP:u64
cache_lookups=MCP:u64 cache_hits=MCP:u64 srv_icur=MGP:u32 qtime_max=MMP:u32 ctime_max=MMP:u32
rtime_max=MMP:u32 ttime_max=MMP:u32 eint=MCP:u64 idle_conn_cur=MGP:u32 safe_conn_cur=MGP:u32
used_conn_cur=MGP:u32 need_conn_est=MGP:u32 uweight=MaP:u32 agg_server_status=MGP:u32
agg_server_check_status=MGP:u32 agg_check_status=MGP:u32"""
TAGS: dict[str, tuple[str, str]] = {}
for _item in _TABLE.split():
    _name, _, _spec = _item.partition("=")
    TAGS[_name] = tuple(_spec.split(":"))  # type: ignore[assignment]
for _name in COLUMNS[COLUMNS.index("ssl_sess"):]:  # the modules' counters and gauges
    TAGS[_name] = ("MGP" if _name.endswith(("open_connections", "open_streams")) else "MCP", "u64")
_BACKEND = {"rate": ("MGP", "u32"), "rate_max": ("MGP", "u32"), "act": ("MGP", "u32"), "bck": ("MGP", "u32")}
POSITIONS = {name: i for i, name in enumerate(c for c in COLUMNS if c != "-")}

_LETTER = {0: "F", 1: "B", 2: "S"}
_OBJ = {0: "Frontend", 1: "Backend", 2: "Server"}
_ORIGIN = {"M": "Metric", "S": "Status", "K": "Key", "C": "Config", "P": "Product"}
_NATURE = {"G": "Gauge", "L": "Limit", "m": "Min", "M": "Max", "R": "Rate", "C": "Counter", "D": "Duration",
           "A": "Age", "T": "Time", "N": "Name", "O": "Output", "a": "Avg"}
_SCOPE = {"P": "Process", "S": "Service", "s": "System", "C": "Cluster"}


def _fields(row: dict[str, Any]):
    """(pos, name, tags, type, value) of every filled field, in HAProxy's order."""
    checked = row.get("type") == 2 and row.get("check_status") not in (None, "")
    for name, pos in POSITIONS.items():
        value = row.get(name)
        if value in (None, "") and not (checked and name == "last_chk"):  # an empty last_chk is still set
            continue
        tags, typ = (_BACKEND.get(name) if row["type"] == 1 else None) or TAGS[name]
        yield pos, name, tags, typ, "" if value is None else value


def typed(rows: list[dict[str, Any]]) -> str:
    """``show stat typed``: one line per filled field."""
    out = []
    for r in rows:
        head = f"{_LETTER[r['type']]}.{r['iid']}.{r['sid']}."
        out.extend(f"{head}{pos}.{name}.1:{tags}:{typ}:{value}\n" for pos, name, tags, typ, value in _fields(r))
    return "".join(out)


def as_json(rows: list[dict[str, Any]]) -> str:
    """``show stat json``: a list of rows, each a list of field objects, on one line."""
    doc = []
    for r in rows:
        doc.append([{"objType": _OBJ[r["type"]], "proxyId": r["iid"], "id": r["sid"],
                     "field": {"pos": pos, "name": name}, "processNum": 1,
                     "tags": {"origin": _ORIGIN[tags[0]], "nature": _NATURE[tags[1]], "scope": _SCOPE[tags[2]]},
                     "value": {"type": typ, "value": value if typ == "str" else int(value)}}
                    for pos, name, tags, typ, value in _fields(r)])
    return json.dumps(doc, separators=(",", ":")) + "\n"
