"""labsupport: every moving part the course's notebooks drive.

Notebooks import from here only.
"""
from .environment import check_environment
from .errors import ConfigError, LabError, PortInUseError, ServerStartError, ToolMissingError
from .fleet import APP, Fleet, stop_all, trial_run
from .table import Table
from .widgets import FleetPanel

__all__ = [
    # set-up
    "check_environment",
    # application servers (activity 2)
    "APP", "Fleet", "FleetPanel", "stop_all", "trial_run",
    # display
    "Table",
    # errors
    "LabError", "ConfigError", "PortInUseError", "ServerStartError", "ToolMissingError",
]
