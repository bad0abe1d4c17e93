"""Every CSS selector, menu label and text the browser tests look for, in one place.

A JupyterLab or ipywidgets upgrade that renames something needs one edit here. The course's own
widgets carry stable ``lab-...`` classes (``w.add_class`` in the widgets under labsupport/lessons/: the
fleet panel, the dashboards, the health timeline); the rest is JupyterLab 4's DOM.
"""
from __future__ import annotations

# ----------------------------------------------------------------------------- JupyterLab 4
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
CELL = f"{NOTEBOOK} .jp-Cell"
CODE_CELL = f"{NOTEBOOK} .jp-CodeCell"
CELL_EDITOR_TEXT = ".jp-InputArea-editor .cm-content"  # inside a cell: its source as CodeMirror shows it
INPUT_PROMPT = ".jp-InputPrompt"  # "[3]:", "[*]:" while queued or running, "[ ]:" never run
OUTPUT = ".jp-OutputArea-output"
PNG_OUTPUT = '.jp-OutputArea-output[data-mime-type="image/png"] img'  # a matplotlib figure, as its picture
STDERR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'  # tracebacks too
EXECUTION_INDICATOR = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator"  # data-status
STATUS_BAR_ITEM = "#jp-main-statusbar .jp-StatusBar-Item"  # one shows "Python 3 (ipykernel) | Idle"
KERNEL_IDLE_TEXT = r"\|\s*Idle$"  # (a regular expression) that item once the kernel waits for work
LOG_CONSOLE_STATUS = "#jp-main-statusbar .jp-LogConsoleStatusItem"  # hidden while nothing was logged
LOG_CONSOLE_ENTRIES = ".jp-LogConsolePanel .jp-OutputArea-output"
MENU_BAR_ITEM = "#jp-MainMenu .lm-MenuBar-item"
MENU_ITEM = ".lm-Menu:not(.lm-mod-hidden) .lm-Menu-item"
MENU_RUN, MENU_KERNEL = "Run", "Kernel"
RUN_ALL = "Run All Cells"
RUN_ALL_ABOVE = "Run All Above Selected Cell"
RESTART_KERNEL = "Restart Kernel…"
DIALOG_ACCEPT = ".jp-Dialog .jp-mod-accept"

# what ipywidgets shows in place of a widget it could not render (or has not rendered yet)
WIDGET_FAILED = ("Error displaying widget", "Loading widget")
WIDGET = ".jupyter-widgets"
TRACEBACK_MARKERS = ("Traceback (most recent call last)", "-" * 75)  # IPython's traceback header
FIGURE_AS_TEXT = "<Figure size "  # a matplotlib chart that reached the page as its text, not as a picture

# JupyterLab's settings for a quiet test run: no news or update checks (the tests run offline); autosave
# every AUTOSAVE_S seconds instead of JupyterLab's 120, so every browser test saves as a student's session
# does (into my-notebooks/, never into notebooks/), and test_slips_autosave can wait out the interval.
AUTOSAVE_S = 3
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                '{"fetchNews": "false", "checkForUpdates": false}',
                "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings":
                f'{{"autosave": true, "autosaveInterval": {AUTOSAVE_S}}}'}

# browser console messages that are JupyterLab's own noise, never the course's (regular expressions)
CONSOLE_NOISE: tuple[str, ...] = ()

# ----------------------------------------------------------------------------- notebook 00: your copies
# labsupport/course/workspace.py's reset widget (shown under the table in a live notebook run from my-notebooks/)
RESET_WIDGET = ".lab-reset"
RESET_CHOICE = ".lab-reset-choice select"
RESET_BUTTON = ".lab-reset-button"
RESET_MESSAGE = ".lab-reset-message"

# ----------------------------------------------------------------------------- notebook 02: FleetPanel
FLEET_PANEL = ".lab-fleet-panel"
SERVER_ROW = ".lab-server-row"
FLEET_MESSAGE = ".lab-fleet-message"
ADD_SERVER = ".lab-add-server"


def server_row(port: int) -> str:
    return f".lab-server-row-{port}"


def light(port: int) -> str:
    """The status light's dot (its CSS colour is the state a student sees)."""
    return f".lab-light-{port} span"


def kill_button(port: int) -> str:
    return f".lab-kill-{port}"


def restart_button(port: int) -> str:
    return f".lab-restart-{port}"


# ----------------------------------------------------------------------------- notebook 03: Dashboard
DASHBOARD = ".lab-dashboard"
CHART = ".lab-chart"
ALGORITHM_SELECT = ".lab-algorithm select"
TRAFFIC_TOGGLE = ".lab-traffic-toggle"
DASHBOARD_SUMMARY = ".lab-dashboard-summary"
LAST_COUNT = ".lab-dashboard-summary .lab-last"  # one per server: "lab-last lab-last-server01"
DASHBOARD_MESSAGE = ".lab-dashboard-message"


def weight_handle(server: str) -> str:
    """The slider's handle: it takes the keyboard focus, arrow keys move it one step."""
    return f".lab-weight-{server} .noUi-handle"


def weight_readout(server: str) -> str:
    return f".lab-weight-{server} .widget-readout"


# ----------------------------------------------------------------------------- notebook 04: health checks
# labsupport/lessons/health/timeline.py's HealthTimeline; <name> is the server's name in the configuration (server02)
HEALTH_TIMELINE = ".lab-health-timeline"
HEALTH_CHART = "img.lab-health-chart"  # ipywidgets puts the class on the <img> itself
HEALTH_MESSAGE = ".lab-health-message"
HEALTH_STATE = "[class*='lab-health-state-']"  # one per server with buttons: its status now ("UP", "DOWN", "UP 1/3")


def health_state(server: str) -> str:
    return f".lab-health-state-{server}"


def health_kill(server: str) -> str:
    return f".lab-health-kill-{server}"


def health_sick(server: str) -> str:
    return f".lab-health-sick-{server}"


def health_revive(server: str) -> str:
    return f".lab-health-revive-{server}"


# ----------------------------------------------------------------------------- notebook 05: monitoring
STATS_FRAME = "iframe.lab-stats-frame"  # the lesson's embedded stats page (IFrame(..., extras=[class]))
STATS_TABLE = "table.tbl"  # HAProxy's stats page: two such tables per proxy (its name, then its rows)
# labsupport/lessons/monitoring/dashboard.py's MonitorDashboard
MONITOR = ".lab-monitor"
MONITOR_CHART = "img.lab-monitor-chart"
MONITOR_SUMMARY = ".lab-monitor-summary"
MONITOR_STOP = ".lab-monitor-stop"

# HAProxy's stats page with `stats admin`: a checkbox per server, an action list and an Apply button
STATS_ADMIN_SERVER = "input[type=checkbox][name=s]"  # value = the server's name
STATS_ADMIN_ACTION = "select[name=action]"
STATS_ADMIN_DRAIN, STATS_ADMIN_READY = "drain", "ready"  # the actions' option values ("Set state to DRAIN")
STATS_ADMIN_APPLY = "input[type=submit]"
STATS_ADMIN_DONE = "Action processed successfully."


def stats_server_row(server: str) -> str:
    """A server's row: its name cell is the one with class "al" (HAProxy's left-aligned cell)."""
    return f"tr:has(td.al:text-is('{server}'))"


# ----------------------------------------------------------------------------- JupyterLab's Running panel
# the left sidebar's "Running Terminals and Kernels": in its Kernels section each kernel is a tree item
# labelled "NOTEBOOK (kernel id)" (its title "NOTEBOOK: kernel id ..."), with a "Shut Down" button
RUNNING_TAB = '.jp-SideBar [data-id="jp-running-sessions"]'
RUNNING_PANEL = "#jp-running-sessions"
RUNNING_SHUTDOWN = ".jp-RunningSessions-itemShutdown"


def running_kernel(notebook: str) -> str:
    """The Running panel's kernel item of ``notebook``; its ``> RUNNING_SHUTDOWN`` button shuts it down."""
    return (f"{RUNNING_PANEL} .jp-RunningSessions-item.jp-mod-kernel"
            f":has(> .jp-RunningSessions-itemLabel[title^='{notebook}:'])")

# ----------------------------------------------------------------------------- lesson 07's router
ROUTER = ".lab-router"
ROUTER_HOST = ".lab-route-host input"
ROUTER_PATH = ".lab-route-path input"
ROUTER_METHOD = ".lab-route-method select"
ROUTER_OUT = ".lab-route-out"

# ----------------------------------------------------------------------------- lesson 08's table watch
TABLEWATCH = ".lab-tablewatch"
TABLEWATCH_ROW = ".lab-tablewatch-row"  # data-key: the table's key, data-status: "429" or "ok"
TABLEWATCH_ANSWERS = ".lab-tablewatch-answers"
TABLEWATCH_STOP = ".lab-tablewatch-stop"
TABLEWATCH_CLOCK = ".lab-tablewatch-clock"

# ----------------------------------------------------------------------------- lesson 09's deploy panel
DEPLOY = ".lab-deploy"
DEPLOY_ROW = ".lab-deploy-row"  # data-server: the server's name, data-state: UP/DRAIN/MAINT/DOWN, data-version
DEPLOY_STEP = ".lab-deploy-step"
DEPLOY_STOP = ".lab-deploy-stop"
DEPLOY_CLOCK = ".lab-deploy-clock"

# ----------------------------------------------------------------------------- lesson 10's balancer pair panel
PAIR = ".lab-pair"
PAIR_BALANCER = ".lab-pair-balancer"  # data-host: lb1/lb2, data-holder: yes/no, data-balancer and data-keepalived: up/down
PAIR_HOLDER = ".lab-pair-holder [data-holder]"  # data-holder: lb1, lb2 or none
PAIR_TIMELINE = ".lab-pair-timeline"
PAIR_SHOT = ".lab-pair-shot"  # one per recent request, data-ok: yes/no
PAIR_STOP = ".lab-pair-stop"  # the button "stop the active balancer"
PAIR_RESTORE = ".lab-pair-restore"
PAIR_ACTION = ".lab-pair-action"
PAIR_CLOCK = ".lab-pair-clock"
