"""Counters snapshot -> rows named like HAProxy's stats, rendered as CSV (``show stat``) or JSON.

How it works: ``collect(engine)`` reads the engine's runtime objects (proxy/state.py) into one
dict per row, in HAProxy's order: for each section of the config, its FRONTEND row, then its
servers and its BACKEND row. Each row fills exactly the columns HAProxy 2.6.12 fills for that
kind of row (checked against its ``show stat``); the rest stay empty. ``Snapshot.csv()`` writes
the '# ' header, the 128 named columns and the trailing comma on every line.
``to_html`` draws HAProxy's stats page (src/stats.c): ``state_class`` names a server row's CSS
class from its status text, ``STATS_PAGE_COLORS`` holds each class's colour, and ``server_state``
reduces a status text to UP / DOWN / MAINT / DRAIN / NOLB (the exporter's states, prometheus.py).
"""
from __future__ import annotations

import json
import time
from typing import Any

from ..errors import NotFoundError

COLUMNS = tuple("""pxname svname qcur qmax scur smax slim stot bin bout dreq dresp ereq econ eresp wretr wredis
status weight act bck chkfail chkdown lastchg downtime qlimit pid iid sid throttle lbtot tracked type rate
rate_lim rate_max check_status check_code check_duration hrsp_1xx hrsp_2xx hrsp_3xx hrsp_4xx hrsp_5xx
hrsp_other hanafail req_rate req_rate_max req_tot cli_abrt srv_abrt comp_in comp_out comp_byp comp_rsp
lastsess last_chk last_agt qtime ctime rtime ttime agent_status agent_code agent_duration check_desc
agent_desc check_rise check_fall check_health agent_rise agent_fall agent_health addr cookie mode algo
conn_rate conn_rate_max conn_tot intercepted dcon dses wrew connect reuse cache_lookups cache_hits srv_icur
src_ilim qtime_max ctime_max rtime_max ttime_max eint idle_conn_cur safe_conn_cur used_conn_cur
need_conn_est uweight agg_server_status agg_server_check_status agg_check_status - ssl_sess
ssl_reused_sess ssl_failed_handshake h2_headers_rcvd h2_data_rcvd h2_settings_rcvd h2_rst_stream_rcvd
h2_goaway_rcvd h2_detected_conn_protocol_errors h2_detected_strm_protocol_errors h2_rst_stream_resp
h2_goaway_resp h2_open_connections h2_backend_open_streams h2_total_connections h2_backend_total_streams
h1_open_connections h1_open_streams h1_total_connections h1_total_streams h1_bytes_in h1_bytes_out
h1_spliced_bytes_in h1_spliced_bytes_out""".split())
HEADER = "# " + ",".join(COLUMNS) + ","

_ZERO_SSL_H2 = {c: 0 for c in COLUMNS[COLUMNS.index("ssl_sess"):COLUMNS.index("h1_open_connections")]}
_ZERO_H1 = {c: 0 for c in COLUMNS[COLUMNS.index("h1_open_connections"):]}
_HRSP = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def _avg(c) -> int:
    return c.ttime_sum // c.ttime_n if c.ttime_n else 0


def _since(t: float, now: float) -> int:
    return int(now - t) if t else -1


def _common(c, now: float) -> dict[str, Any]:
    row = dict(zip(_HRSP, c.hrsp))
    row.update(scur=c.scur, smax=c.smax, stot=c.stot, bin=c.bin, bout=c.bout, pid=1,
               rate=c.rate.value(), rate_max=c.rate.max, req_tot=c.req_tot)
    return row


def frontend_row(fe, now: float) -> dict[str, Any]:
    row = _common(fe, now)
    row.update(pxname=fe.name, svname="FRONTEND", slim=fe.maxconn, dreq=fe.dreq, dresp=fe.dresp, ereq=fe.ereq,
               status="OPEN", iid=fe.iid, sid=0, type=0, rate_lim=0, req_rate=fe.rate.value(),
               req_rate_max=fe.rate.max, comp_in=0, comp_out=0, comp_byp=0, comp_rsp=0, mode=fe.cfg.mode,
               conn_rate=fe.rate.value(), conn_rate_max=fe.rate.max, conn_tot=fe.stot, intercepted=fe.intercepted,
               dcon=0, dses=0, wrew=0, cache_lookups=0, cache_hits=0, eint=0)
    row["-"] = "-"
    row.update(_ZERO_SSL_H2)
    row.update(_ZERO_H1, h1_open_connections=fe.scur, h1_total_connections=fe.stot,
               h1_total_streams=fe.req_tot, h1_bytes_in=fe.bin, h1_bytes_out=fe.bout)
    return row


def server_row(be, srv, now: float) -> dict[str, Any]:
    row = _common(srv, now)
    w = be.algo.weight(srv.name)
    h = srv.health
    row.update(pxname=be.name, svname=srv.name, qcur=srv.qcur, qmax=srv.qmax, dresp=srv.dresp, econ=srv.econ, eresp=srv.eresp,
               wretr=srv.wretr, wredis=srv.wredis, status=h.status, weight=w,
               act=0 if srv.cfg.backup else 1, bck=1 if srv.cfg.backup else 0,
               lastchg=int(now - srv.lastchg), iid=be.iid, sid=srv.sid, lbtot=srv.lbtot, type=2,
               cli_abrt=srv.cli_abrt, srv_abrt=srv.srv_abrt, lastsess=_since(srv.lastsess, now),
               qtime=0, ctime=0, rtime=_avg(srv), ttime=_avg(srv), addr=f"{srv.addr[0]}:{srv.addr[1]}" if srv.addr[0] else "",
               mode=be.cfg.mode, wrew=0, connect=srv.connect, reuse=srv.reuse, srv_icur=len(srv.idle),
               qtime_max=0, ctime_max=0, rtime_max=srv.ttime_max, ttime_max=srv.ttime_max, eint=0,
               idle_conn_cur=len(srv.idle), safe_conn_cur=0, used_conn_cur=srv.scur, need_conn_est=0,
               uweight=w, ssl_sess=0, ssl_reused_sess=0, ssl_failed_handshake=0)
    row["-"] = "-"
    if srv.dynamic in (1, 5):  # 2.6 shows an added server's weight as 1 until its first change
        row.update(weight=1)
    if srv.warmup is not None and srv.warmup.running:  # slow start: the ramped weight, and how far it is
        e, wdiv = be.algo.effective_weight(srv.name), be.algo.wscale
        row.update(weight=(e + wdiv - 1) // wdiv, throttle=(100 * e + wdiv - 1) // (wdiv * w) if w else 100)
    if srv.cfg.cookie is not None:  # 'cookie VALUE' (hidden below level operator, as the address)
        row["cookie"] = srv.cfg.cookie
    maxconn = be.algo.maxconn(srv.name)
    if maxconn:
        row["slim"] = maxconn
    if srv.cfg.maxqueue:
        row["qlimit"] = srv.cfg.maxqueue & 0xFFFFFFFF  # a u32 field: 'maxqueue -5' shows 4294967291
    if h.check:  # configured, and not turned off by 'disable health'
        down = srv.downtime + (now - srv.down_since if srv.down_since is not None else 0)
        row.update(chkfail=h.chkfail, chkdown=h.chkdown, downtime=int(down))
    # and not paused by maintenance (an added server is born in maintenance without that pause)
    if h.check and (h.admin != "maint" or srv.dynamic == 1) and not h.rmaint:
        row.update(check_status=srv.check_status,
                   check_code=srv.check_code if srv.check_code is not None else "",
                   check_duration=srv.check_duration if srv.check_duration is not None else "",
                   last_chk=srv.last_chk, check_desc=srv.check_desc, check_rise=h.rise,
                   check_fall=h.fall, check_health=h.health)
    return row


def backend_row(be, now: float, slim: int) -> dict[str, Any]:
    row = _common(be, now)
    servers = be.servers.values()
    usable = [s for s in servers if be.algo.is_usable(s.name)]
    act = [s for s in usable if not s.cfg.backup]
    bck = [s for s in usable if s.cfg.backup]
    weight = sum(be.algo.weight(s.name) for s in (act or bck))
    # a server 'add server ... enabled' left out of the algorithm: 2.6 counts it in tot_uweight only
    unseen = sum(be.algo.weight(s.name) for s in servers if s.dynamic and s.health.usable and not s.cfg.backup
                 and not be.algo.is_usable(s.name))
    row.update(pxname=be.name, svname="BACKEND", qcur=be.qcur, qmax=be.qmax, slim=slim, dreq=be.dreq, dresp=be.dresp,
               econ=be.econ, eresp=be.eresp, wretr=be.wretr, wredis=be.wredis, status=be.status,
               weight=weight, act=len(act), bck=len(bck), chkdown=be.chkdown, lastchg=int(now - be.lastchg),
               iid=be.iid, sid=0, lbtot=be.lbtot, type=1, cli_abrt=be.cli_abrt, srv_abrt=be.srv_abrt,
               comp_in=0, comp_out=0, comp_byp=0, comp_rsp=0, lastsess=_since(be.lastsess, now), qtime=0,
               ctime=0, rtime=_avg(be), ttime=_avg(be), mode=be.cfg.mode, algo=be.cfg.balance, wrew=0,
               connect=sum(s.connect for s in servers), reuse=sum(s.reuse for s in servers),
               cache_lookups=0, cache_hits=0, qtime_max=0, ctime_max=0, rtime_max=be.ttime_max,
               ttime_max=be.ttime_max, eint=0, uweight=weight + unseen, agg_server_status=0,
               agg_server_check_status=0, agg_check_status=0)
    if be.cfg.cookie is not None:  # the persistence cookie's name
        row["cookie"] = be.cfg.cookie.name
    if be.servers:
        down = be.downtime + (now - be.down_since if be.down_since is not None else 0)
        row["downtime"] = int(down)
    row["-"] = "-"
    row.update(_ZERO_SSL_H2)
    row.update(_ZERO_H1, h1_open_connections=sum(len(s.idle) + s.scur for s in servers),
               h1_total_connections=row["connect"], h1_total_streams=be.stot, h1_bytes_in=be.bout,
               h1_bytes_out=be.bin)
    return row


def collect(engine, log_lines: int = 20, requests: int = 1000) -> "Snapshot":
    """Read the engine's counters (call on the engine's loop) into a Snapshot, with the last
    ``log_lines`` event lines and the last ``requests`` entries of the request log."""
    now = time.monotonic()
    rows: list[dict[str, Any]] = []
    # a backend's slim is its fullconn: 10% (rounded up) of the maxconn of the frontends that can
    # send to it (default_backend or use_backend), at least 1 -- haproxy's default
    fe_maxconn: dict[str, int] = {}
    for fe in engine.frontends.values():
        for name in {b.name for b in [fe.default_backend, *(b for _, b in fe.rules)] if b is not None}:
            fe_maxconn[name] = fe_maxconn.get(name, 0) + fe.maxconn
    for p in engine.config.proxies:  # (a frontend and a backend may share a name: each once, by its kind)
        fe = engine.frontends.get(p.name) if p.kind != "backend" else None
        if fe is not None:
            rows.append(frontend_row(fe, now))
        be = engine.backends.get(p.name) if p.kind != "frontend" else None
        if be is not None:
            rows.extend(server_row(be, s, now) for s in be.servers.values())
            fullconn = getattr(be.cfg, "fullconn", None) or max(1, -(-fe_maxconn.get(be.name, 0) // 10))
            rows.append(backend_row(be, now, fullconn))
    events = list(engine.events.entries)[-log_lines:]
    reqs = list(engine.requests.entries)[-requests:]
    keys = ("time", "client", "backend", "server", "status", "ms")
    return Snapshot(rows, time.time(), [line for _, _, line in events], [dict(zip(keys, e)) for e in reqs])


class Snapshot(dict):
    """Every stats row at one moment, as the dict ``HAProxy.snapshot()`` gives for real haproxy:
    ``time``, ``rows`` (dicts keyed by HAProxy's column names), ``frontends``, ``backends``,
    ``servers``, ``log`` (recent event lines) and ``requests`` (recent answered requests)."""

    def __init__(self, rows: list[dict[str, Any]], taken_at: float, log: list[str] | None = None,
                 requests: list[dict[str, Any]] | None = None) -> None:
        super().__init__(
            time=taken_at, rows=rows,
            frontends=[r for r in rows if r["svname"] == "FRONTEND"],
            backends=[r for r in rows if r["svname"] == "BACKEND"],
            servers=[r for r in rows if r["type"] == 2],
            log=log or [], requests=requests or [],
        )

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self["rows"]

    def row(self, pxname: str, svname: str) -> dict[str, Any]:
        for r in self.rows:
            if r["pxname"] == pxname and r["svname"] == svname:
                return r
        raise NotFoundError(f"no stats row {pxname}/{svname} (rows: "
                       + ", ".join(f"{r['pxname']}/{r['svname']}" for r in self.rows) + ")")

    def frontend(self, name: str) -> dict[str, Any]:
        return self.row(name, "FRONTEND")

    def backend(self, name: str) -> dict[str, Any]:
        return self.row(name, "BACKEND")

    def server(self, backend: str, name: str) -> dict[str, Any]:
        return self.row(backend, name)

    def csv(self) -> str:
        """The CSV exactly as HAProxy prints it (``show stat``, or the stats page's ``;csv``)."""
        return to_csv(self.rows)

    def json(self) -> str:
        return json.dumps(self)

    def html(self, uri: str = "/", refresh: int | None = None, admin: bool = False,
             status: str | None = None) -> str:
        """The stats page (HAProxy's layout and colours, trimmed); ``admin``: with HAProxy's admin form,
        ``status``: the message after an admin action (DONE, PART, NONE, ERRP, DENY)."""
        return to_html(self, uri, refresh, admin, status)

    def __repr__(self) -> str:
        parts = [f"{r['pxname']}/{r['svname']} {r['status']} stot={r['stot']}" for r in self.rows]
        return f"<Snapshot {len(self.rows)} rows: " + "; ".join(parts) + ">"


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows -> HAProxy's stats CSV: '# ' header, every column, a trailing comma on each line."""
    lines = [HEADER]
    for r in rows:
        lines.append(",".join(_cell(r.get(c, "")) for c in COLUMNS) + ",")
    return "\n".join(lines) + "\n"


def _cell(v: Any) -> str:
    if v is None:
        return ""
    s = str(v)
    if "," in s or '"' in s or "\n" in s:  # HAProxy's csv_enc: quote like RFC 4180
        return '"' + s.replace('"', '""') + '"'
    return s


# ----- the HTML page (the layout and colours of HAProxy's, trimmed to what the course reads)
# HAProxy 2.6 src/stats.c's row colours, by the CSS class of a server row (``state_class``)
STATS_PAGE_COLORS = {
    "active_down": "#ff9090", "active_going_up": "#ffd020", "active_going_down": "#ffffa0", "active_up": "#c0ffc0",
    "active_nolb": "#20a0ff", "active_draining": "#20a0FF", "active_no_check": "#e0e0e0",
    "backup_down": "#ff9090", "backup_going_up": "#ff80ff", "backup_going_down": "#c060ff", "backup_up": "#b0d0ff",
    "backup_nolb": "#90b0e0", "backup_draining": "#cc9900", "backup_no_check": "#e0e0e0",
    "maintain": "#c07820",
}
# the classes the engine's page styles, two a line (its state_class shows NOLB as up)
_PAGE_CLASSES = (("active_down", "active_going_up"), ("active_going_down", "active_up"),
                 ("active_draining", "active_no_check"), ("backup_down", "backup_going_up"),
                 ("backup_going_down", "backup_up"), ("backup_draining", "backup_no_check"), ("maintain",))
_CSS = """body { font-family: arial, helvetica, sans-serif; font-size: 12px; color: black; background: white;}
th,td { font-size: 10px;} h1 { font-size: x-large; margin-bottom: 0.5em;}
table.tbl { border-collapse: collapse; border-style: none; margin-bottom: 1em;}
table.tbl td { text-align: right; border: 1px solid gray; padding: 2px 3px; white-space: nowrap;}
table.tbl td.ac { text-align: center;} table.tbl td.al { text-align: left;}
table.tbl th { border: 1px solid gray;}
table.tbl th.pxname { background: #b00040; color: #ffff40; font-weight: bold; padding: 2px 3px; text-align: left;}
table.tbl th.empty { border-style: none; background: white;}
.titre {background: #20D0D0; color: #000000; font-weight: bold; text-align: center;}
.frontend {background: #e8e8d0;} .backend {background: #e8e8d0;}
""" + "\n".join(" ".join(f".{c} {{background: {STATS_PAGE_COLORS[c]};}}" for c in line) for line in _PAGE_CLASSES)

_HEAD = ("<tr class=\"titre\"><th rowspan=2></th><th colspan=3>Queue</th><th colspan=3>Session rate</th>"
         "<th colspan=6>Sessions</th><th colspan=2>Bytes</th><th colspan=2>Denied</th><th colspan=3>Errors</th>"
         "<th colspan=2>Warnings</th><th colspan=9>Server</th></tr>\n<tr class=\"titre\">"
         + "".join(f"<th>{h}</th>" for h in (
             "Cur Max Limit Cur Max Limit Cur Max Limit Total LbTot Last In Out Req Resp Req Conn Resp "
             "Retr Redis Status LastChk Wght Act Bck Chk Dwn Dwntme Thrtle").split()) + "</tr>\n")


def server_state(status: Any) -> str:
    """A server's status text (the stats 'status' column) -> its state: UP, DOWN, MAINT, DRAIN or NOLB
    (``'UP 2/3'`` -> ``'UP'``, ``'no check'`` -> ``'UP'``; anything else -> ``'DOWN'``), as the
    Prometheus exporter counts servers per state."""
    s = str(status).split(" ")[0]
    return {"no": "UP"}.get(s, s) if s in ("UP", "DOWN", "MAINT", "DRAIN", "NOLB", "no") else "DOWN"


def _row_class(r: dict[str, Any]) -> str:
    if r["type"] == 0:
        return "frontend"
    if r["type"] == 1:
        return "backend"
    return state_class(r["status"], bool(r.get("bck")))


def state_class(status: Any, backup: bool = False) -> str:
    """A server's status text -> the stats page's CSS class for its row, a key of ``STATS_PAGE_COLORS``
    (``'UP 2/3'`` -> ``'active_going_down'``, ``'DOWN 1/2'`` -> ``'active_going_up'``)."""
    role = "backup" if backup else "active"
    st = str(status)
    if st.startswith("MAINT"):
        return "maintain"
    if st == "no check":
        return f"{role}_no_check"
    if st.startswith("DRAIN"):
        return f"{role}_draining"
    if st.startswith("DOWN"):
        return f"{role}_going_up" if "/" in st else f"{role}_down"
    return f"{role}_going_down" if "/" in st else f"{role}_up"


def _dur(seconds: Any) -> str:
    if seconds in ("", None) or int(seconds) < 0:
        return ""
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d" if d else "") + (f"{h}h" if h or d else "") + (f"{m}m" if m or h or d else "") + f"{s}s"


def _html_row(r: dict[str, Any], admin: bool = False) -> str:
    g = lambda c: "" if r.get(c) in (None, "") else html_escape(str(r.get(c)))  # noqa: E731
    kind = r["type"]
    status = g("status")
    if kind == 2:
        status = f"{_dur(r.get('lastchg'))} {status}".strip()
        lastchk = f"{g('check_status')} {g('check_code')}".strip() if r.get("check_status") else ""
        chk, dwn, dwntme = g("chkfail"), g("chkdown"), _dur(r.get("downtime"))
        act, bck = ("Y", "-") if r.get("act") else ("-", "Y")
    else:
        lastchk, chk, dwn = "", "", g("chkdown") if kind == 1 else ""
        dwntme = _dur(r.get("downtime")) if kind == 1 else ""
        act, bck = (g("act"), g("bck")) if kind == 1 else ("", "")
    cells = [g("qcur"), g("qmax"), "", g("rate"), g("rate_max"), "", g("scur"), g("smax"), g("slim"), g("stot"),
             g("lbtot"), _dur(r.get("lastsess")), g("bin"), g("bout"), g("dreq"), g("dresp"), g("ereq"),
             g("econ"), g("eresp"), g("wretr"), g("wredis"), status, lastchk,
             g("weight"), act, bck, chk, dwn, dwntme, ""]
    name = "Frontend" if kind == 0 else "Backend" if kind == 1 else g("svname")
    tds = "".join(f'<td class="ac">{c}</td>' if i >= 21 else f"<td>{c}</td>" for i, c in enumerate(cells))
    box = ""
    if admin:  # HAProxy's admin form: a checkbox per server row
        box = (f"<td><input class='{html_escape(r['pxname'])}-checkbox' type=\"checkbox\" name=\"s\" "
               f"value=\"{g('svname')}\"></td>" if kind == 2 else "<td></td>")
    return f'<tr class="{_row_class(r)}">{box}<td class="al">{name}</td>{tds}</tr>\n'


def html_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


_ADMIN_SELECT = ("Choose the action to perform on the checked servers : <select name=action><option value=\"\">"
                 "</option><option value=\"ready\">Set state to READY</option><option value=\"drain\">Set state "
                 "to DRAIN</option><option value=\"maint\">Set state to MAINT</option><option value=\"dhlth\">"
                 "Health: disable checks</option><option value=\"ehlth\">Health: enable checks</option><option "
                 "value=\"hrunn\">Health: force UP</option><option value=\"hnolb\">Health: force NOLB</option>"
                 "<option value=\"hdown\">Health: force DOWN</option><option value=\"dagent\">Agent: disable "
                 "checks</option><option value=\"eagent\">Agent: enable checks</option><option value=\"arunn\">"
                 "Agent: force UP</option><option value=\"adown\">Agent: force DOWN</option><option "
                 "value=\"shutdown\">Kill Sessions</option></select>")
# HAProxy's messages after an admin action: (row class of the banner, text)
ADMIN_MESSAGES = {
    "DONE": ("active_up", "Action processed successfully."),
    "NONE": ("active_going_down", "Nothing has changed."),
    "PART": ("active_going_down", "Action partially processed.<br>Some server names are probably unknown or "
                                  "ambiguous (duplicated names in the backend)."),
    "ERRP": ("active_down", "Action not processed because of invalid parameters.<ul><li>The action is maybe "
                            "unknown.</li><li>Invalid key parameter (empty or too long).</li><li>The backend name "
                            "is probably unknown or ambiguous (duplicated names).</li><li>Some server names are "
                            "probably unknown or ambiguous (duplicated names in the backend).</li></ul>"),
    "DENY": ("active_down", "<b>Action denied.</b>"),
}


def to_html(snapshot: "Snapshot", uri: str = "/", refresh: int | None = None, admin: bool = False,
            status: str | None = None) -> str:
    """The stats page as HTML: one table per proxy, rows coloured by server state like HAProxy's."""
    out = ['<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"\n"http://www.w3.org/TR/html4/loose.dtd">\n'
           "<html><head><title>Statistics Report for HAProxy</title>\n"
           '<meta http-equiv="content-type" content="text/html; charset=iso-8859-1">\n'
           f'<style type="text/css"><!--\n{_CSS}\n--></style></head>\n<body>\n'
           "<h1>Statistics Report for HAProxy</h1>\n"
           f"<p>Course engine (labsupport); {len(snapshot.rows)} rows"
           + (f"; refreshed every {refresh} s" if refresh else "")
           + f'. <a href="{html_escape(uri)};csv">CSV export</a></p>\n']
    if status in ADMIN_MESSAGES:
        cls, text = ADMIN_MESSAGES[status]
        out.append(f'<p><div class={cls}><a class=lfsb href="{html_escape(uri)}" title="Remove this message">[X]</a> '
                   f"{text}</div>\n")
    order: list[str] = []
    for r in snapshot.rows:
        if r["pxname"] not in order:
            order.append(r["pxname"])
    for px in order:
        rows = [r for r in snapshot.rows if r["pxname"] == px]
        form = admin and any(r["type"] == 2 for r in rows)  # HAProxy: a form for each backend with servers
        out.append(('<form method="post">' if form else "")
                   + f'<table class="tbl" width="100%">\n<tr><th class="pxname" width="10%">{html_escape(px)}</th>'
                   '<th class="empty" width="90%"></th></tr>\n</table>\n<table class="tbl" width="100%">\n')
        out.append(_HEAD.replace("<th rowspan=2></th>", "<th rowspan=2 width=1></th><th rowspan=2></th>", 1)
                   if form else _HEAD)
        out.extend(_html_row(r, form) for r in rows)
        out.append("</table>\n")
        if form:
            iid = next(r["iid"] for r in rows)
            out.append(f'{_ADMIN_SELECT}<input type="hidden" name="b" value="#{iid}">&nbsp;'
                       '<input type="submit" value="Apply"></form>\n')
    out.append("</body></html>\n")
    return "".join(out)
