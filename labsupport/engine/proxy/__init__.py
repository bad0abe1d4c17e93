"""The bundled balancer engine's asyncio parts (see engine.py); ``labsupport.balancer`` drives it."""
from .checker import HealthCheckResult, check_server
from .control import CommandError
from .engine import Engine
from .pages import page

__all__ = ["Engine", "CommandError", "HealthCheckResult", "check_server", "page"]
