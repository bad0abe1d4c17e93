"""The bundled balancer engine's asyncio parts (see engine.py); ``labsupport.balancer`` drives it."""
from .checker import CheckResult, check_server
from .control import CommandError
from .engine import Engine
from .pages import page

__all__ = ["Engine", "CommandError", "CheckResult", "check_server", "page"]
