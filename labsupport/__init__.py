"""labsupport: every moving part the course's notebooks drive. Notebooks import from here only.

The tree: ``errors``, ``ports`` and ``lifecycle`` sit below both halves; ``engine/`` is HAProxy 2.6
re-implemented (it imports nothing from the course); ``course/`` holds what two or more lessons use;
``lessons/`` one package per lesson. ``balancer`` keeps the command ``python -m labsupport.balancer``.

Names load on first use (PEP 562), so ``python -m labsupport.balancer`` does not pay for
matplotlib and ipywidgets, which only the notebooks' charts and widgets need.
"""
from __future__ import annotations

import importlib
from typing import Any

from .errors import show_lab_errors_briefly
from .rundir import run_dir

# module -> the names it contributes, grouped by activity
_EXPORTS: dict[str, tuple[str, ...]] = {
    # set-up and clean-up
    "course.environment": ("check_environment", "if_installed"),
    "course.workspace": ("your_copies",),
    "lifecycle": ("stop_all",),
    # lesson 01: DNS
    "course.dnsserver": ("DNSServer", "LAB_ADDRESSES", "CONTINENTS"),
    "course.dnsprocess": ("DNSProcess",),
    "lessons.dnslab.client": ("dig", "DigResult", "dig_repeat", "dig_live", "real_dig", "LabResolver", "LabSites",
                              "start_lab_servers", "loopback_aliases_work", "visit", "Visit", "spread", "Spread"),
    "lessons.dnslab.exercises": ("check_rotation",),
    # lesson 02: application servers
    "course.fleet": ("APP", "Fleet"),
    "course.trialrun": ("trial_run",),
    "lessons.servers.panel": ("FleetPanel",),
    # lesson 03: the balancer, its configuration, real HAProxy, traffic
    "engine.balancer": ("Balancer",),
    "engine.config": ("Config", "parse", "load", "check", "format_haproxy"),
    "engine.balance": ("make_algorithm", "Algorithm"),
    "engine.health": ("Health",),
    "course.balancerlike": ("BalancerLike",),
    "course.cfgedit": ("edit_backend", "rebind", "section"),
    "course.haproxy": ("HAProxy", "haproxy_available", "haproxy_version", "send_command"),
    "course.masterworker": ("MasterWorker",),
    "course.traffic.sender": ("send",),
    "course.traffic.generator": ("steady", "TrafficGenerator"),
    "course.traffic.results": ("Run", "Result", "percentile", "percentile_table", "min_samples"),
    "course.exercise": ("ExerciseResult",),
    "lessons.balancing.dashboard": ("Dashboard",),
    "lessons.balancing.plots": ("requests_figure", "sequence_figure", "latency_figure", "dashboard_model"),
    "lessons.balancing.exercises": ("check_half_traffic",),
    # lesson 04: health checks
    "lessons.health.recorder": ("StateRecorder",),
    "lessons.health.plots": ("health_timeline_figure", "request_timeline_figure", "tradeoff_figure", "share_figure"),
    "lessons.health.timeline": ("HealthTimeline",),
    "lessons.health.exercises": ("check_fast_detection", "check_invisible_kill", "detection_time", "detection_times",
                                 "check_costs", "kill_between_requests"),
    # lesson 05: monitoring
    "course.logtable": ("parse_httplog", "parse_logs", "log_table"),
    "lessons.monitoring.monitor": ("fetch_stats", "stats_admin", "wait_for_status", "rates", "LatencyWindow"),
    "lessons.monitoring.plots": ("MonitorHistory", "monitor_figure"),
    "lessons.monitoring.dashboard": ("MonitorDashboard",),
    "lessons.monitoring.incident": ("Incident",),
    # lesson 06: algorithms under load
    "lessons.load.loadgen": ("open_loop", "OpenLoop", "run_together", "LoadRun", "cpu_seconds"),
    "lessons.load.experiments": ("lab_config", "sweep", "compare", "herd", "keys_moved", "hot_key",
                                 "mm1_percentile_ms", "mmc_mean_ms", "SERVICE_MS", "PER_SERVER", "SHORT", "SAMPLES"),
    "lessons.load.plots": ("hockey_figure", "algorithms_figure"),
    "lessons.load.exercises": ("check_slow_server",),
    # lesson 07: the edge
    "lessons.edge.services": ("start_services", "ask", "route_table", "Answer", "SERVICES"),
    "lessons.edge.router": ("Router",),
    "lessons.edge.explain": ("edge_acls",),
    "lessons.edge.exercises": ("check_edge_routing", "check_edge_https"),
    "lessons.edge.tls": ("certificates", "server_checks"),
    "lessons.edge.tlscost": ("tls_cost", "tls_cost_figure"),
    # lesson 08: sessions and stick tables
    "lessons.sessions.cart": ("Shopper",),
    "lessons.sessions.stickiness": ("landing", "follow", "moves", "shares"),
    "lessons.sessions.tables": ("show_table", "table_names"),
    "lessons.sessions.tablewatch": ("TableWatch",),
    "course.certs": ("LabCA",),
    # lesson 08: rate limits and abuse
    "lessons.sessions.ratelimit": ("burst", "when_let_in", "predict_let_in", "LetIn"),
    "lessons.sessions.abuse": ("brute_force", "user_addresses"),
    "lessons.sessions.exercises": ("check_login_limit",),
    # lesson 09: changing a live system
    "lessons.live.load": ("SteadyLoad", "compare_runs"),
    "lessons.live.deploy": ("rolling_deploy", "kill_and_restart_deploy", "rolling_steps", "DeployLog"),
    "lessons.live.deploywidget": ("DeployWidget",),
    "lessons.live.sticky": ("StickyClients",),
    "lessons.live.longrequest": ("LongRequest",),
    "lessons.live.memory": ("memory",),
    "lessons.live.serverwatch": ("ServerWatch",),
    "lessons.live.canary": ("set_canary", "measure_shares", "rollback", "shares_figure", "canary_weights"),
    "lessons.live.bluegreen": ("switch", "active_colour", "which_colour"),
    "lessons.live.exercises": ("check_rollout",),
    # lesson 10: beyond one machine (hosts, distance)
    "course.hosts": ("Lab",),
    "lessons.beyond.probe": ("Probe",),
    "lessons.beyond.labsite": ("build_site", "Site"),
    "lessons.beyond.topology": ("topology_figure", "topology_table"),
    "lessons.beyond.distance": ("far", "FarLink", "round_trips", "page_cost", "near_and_far"),
    "lessons.beyond.regions": ("Regions",),
    "lessons.beyond.regionfailover": ("measure_region_failover", "ttl_cost", "RegionFailover"),
    # lesson 10: beyond one machine (two balancers sharing an address, or a name)
    "lessons.beyond.pair": ("BalancerPair",),
    "lessons.beyond.failover": ("measure_failover", "failover_figure", "failover_table"),
    "lessons.beyond.dnsfailover": ("measure_dns_failover",),
    "lessons.beyond.pairwidget": ("PairWidget",),
    "lessons.beyond.exercises": ("check_survives",),
    "lessons.beyond.cloud": ("preflight", "cloud_balancer", "start_app"),
    # display: tables, charts, live loops
    "course.display.table": ("Table",),
    "course.display.charts": ("figure_to_png",),
    "course.display.live": ("live_seconds",),
    # errors
    "errors": ("LabError", "ConfigError", "PortInUseError", "ServerStartError", "ToolMissingError", "CommandError",
               "UsageError", "NotFoundError", "ServerNotRunningError", "NotRunningError"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_WHERE)


show_lab_errors_briefly()  # imported in a notebook: the course's own errors read as one message
try:  # $LAB_RUN: this user's folder for sockets and logs, which configs name as "${LAB_RUN-/tmp}/..."
    run_dir()
except OSError:  # no temporary folder can be written at all: what needs one says so when it is used
    pass


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'labsupport' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
