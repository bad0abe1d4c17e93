"""labsupport: every moving part the course's notebooks drive. Notebooks import from here only.

Names load on first use (PEP 562), so ``python -m labsupport.balancer`` does not pay for
matplotlib and ipywidgets, which only the notebooks' charts and widgets need.
"""
from __future__ import annotations

import importlib
from typing import Any

# module -> the names it contributes, grouped by activity
_EXPORTS: dict[str, tuple[str, ...]] = {
    # set-up and clean-up
    "environment": ("check_environment", "if_installed"),
    "cleanup": ("stop_all",),
    # activity 1: DNS
    "dnslab.server": ("DNSServer", "LAB_ADDRESSES", "CONTINENTS", "stop_all_dns"),
    "dnslab.client": ("dig", "DigResult", "dig_repeat", "dig_live", "real_dig", "LabResolver", "LabSites",
                  "start_lab_servers", "loopback_aliases_work", "visit", "Visit", "spread", "Spread"),
    # activity 2: application servers
    "fleet": ("APP", "Fleet", "trial_run"),
    # activity 3: the balancer, its configuration, real HAProxy, traffic
    "engine.balancer": ("Balancer",),
    "engine.config": ("Config", "parse", "load", "check", "format_haproxy"),
    "cfgedit": ("edit_backend", "rebind"),
    "engine.balance": ("make_algorithm", "Algorithm"),
    "engine.health": ("Health",),
    "haproxy": ("HAProxy", "haproxy_available", "haproxy_version", "send_command"),
    "traffic": ("send", "steady", "TrafficGenerator", "Run", "Result"),
    "exercises": ("check_rotation", "check_half_traffic", "check_slow_server", "ExerciseResult"),
    # activity 4: health checks
    "healthwatch": ("StateRecorder",),
    "healthplots": ("health_timeline_figure", "request_timeline_figure", "tradeoff_figure", "share_figure"),
    "healthwidget": ("HealthTimeline",),
    "healthchecks": ("check_fast_detection", "check_invisible_kill", "detection_time", "detection_times",
                     "check_costs", "kill_between_requests"),
    # lesson 06: algorithms under load
    "loadgen": ("open_loop", "OpenLoop", "run_together", "LoadRun", "cpu_seconds"),
    "underload": ("lab_config", "sweep", "compare", "herd", "keys_moved", "hot_key", "mm1_percentile_ms",
                  "mmc_mean_ms", "SERVICE_MS", "PER_SERVER", "SHORT"),
    "loadplots": ("hockey_figure", "algorithms_figure"),
    # display: tables, charts, widgets
    "table": ("Table",),
    "logtable": ("parse_httplog", "parse_logs", "log_table"),
    "monitor": ("fetch_stats", "stats_admin", "wait_for_status", "rates", "LatencyWindow", "percentile"),
    "plots": ("requests_figure", "sequence_figure", "latency_figure", "dashboard_model", "figure_to_png"),
    "widgets": ("FleetPanel", "Dashboard"),
    "monitorplots": ("MonitorHistory", "monitor_figure"),
    "monitorwidget": ("MonitorDashboard",),
    "incident": ("Incident",),
    # errors
    "errors": ("LabError", "ConfigError", "PortInUseError", "ServerStartError", "ToolMissingError", "CommandError",
               "UsageError", "NotFoundError", "ServerNotRunningError", "NotRunningError"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_WHERE)


from .errors import show_lab_errors_briefly as _show_lab_errors_briefly  # noqa: E402

_show_lab_errors_briefly()  # imported in a notebook: the course's own errors read as one message


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'labsupport' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
