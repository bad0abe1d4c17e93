"""labsupport: every moving part the course's notebooks drive. Notebooks import from here only."""
from .balance import Algorithm, make_algorithm
from .balancer import Balancer
from .cfgedit import edit_backend
from .cleanup import stop_all
from .config import Config, check, format_haproxy, load, parse
from .dnsclient import (Check, DigResult, LabResolver, LabSites, Spread, Visit, check_rotation, dig,
                        dig_live, dig_repeat, loopback_aliases_work, real_dig, spread, start_lab_servers, visit)
from .dnslab import CONTINENTS, LAB_ADDRESSES, DNSServer, stop_all_dns
from .environment import check_environment
from .errors import ConfigError, LabError, PortInUseError, ServerStartError, ToolMissingError
from .exercises import check_half_traffic
from .fleet import APP, Fleet, trial_run
from .haproxy import HAProxy, haproxy_available, haproxy_version
from .health import Health
from .plots import (dashboard_model, figure_to_png, latency_figure, requests_figure, sequence_figure,
                    show_figures_inline)
from .table import Table
from .traffic import Result, Run, TrafficGenerator, send, steady
from .widgets import Dashboard, FleetPanel

__all__ = [
    # set-up and clean-up
    "check_environment", "stop_all",
    # activity 1: DNS
    "DNSServer", "LAB_ADDRESSES", "CONTINENTS", "stop_all_dns", "dig", "DigResult", "dig_repeat", "dig_live",
    "real_dig", "LabResolver", "LabSites", "start_lab_servers", "loopback_aliases_work", "visit", "Visit",
    "spread", "Spread", "check_rotation", "Check",
    # activity 2: application servers
    "APP", "Fleet", "FleetPanel", "trial_run",
    # activity 3: the balancer, its configuration, real HAProxy, traffic
    "Balancer", "Config", "parse", "load", "check", "format_haproxy", "make_algorithm", "Algorithm", "Health",
    "HAProxy", "haproxy_available", "haproxy_version", "send", "steady", "TrafficGenerator", "Run", "Result",
    "Dashboard", "edit_backend", "check_half_traffic",
    # display
    "Table", "requests_figure", "sequence_figure", "latency_figure", "dashboard_model", "figure_to_png",
    # errors
    "LabError", "ConfigError", "PortInUseError", "ServerStartError", "ToolMissingError",
]

show_figures_inline()  # charts from plots.py display as pictures in a notebook
