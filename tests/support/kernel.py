"""A real IPython kernel for tests: started as the course's JupyterLab starts it, cells run as JupyterLab
runs them (with the cell's id in the request's metadata, which re-run detection and the NameError
rescue read)."""
from __future__ import annotations

import os
import re
import textwrap
from contextlib import contextmanager
from typing import Iterator

from jupyter_client.manager import KernelManager

from labsupport.course.rescue import kernel_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute(kc, code: str, cell_id: str | None = None, timeout: float = 120) -> tuple[str, list[dict]]:
    """Execute ``code`` (as the cell ``cell_id``, when given); the reply's status and every output message."""
    content = {"code": textwrap.dedent(code), "silent": False, "store_history": True,
               "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}
    msg = kc.session.msg("execute_request", content, metadata={"cellId": cell_id} if cell_id else {})
    kc.shell_channel.send(msg)
    msg_id = msg["header"]["msg_id"]
    outputs = []
    while True:
        got = kc.get_iopub_msg(timeout=timeout)
        if got["parent_header"].get("msg_id") != msg_id:
            continue
        if got["msg_type"] == "status" and got["content"]["execution_state"] == "idle":
            break
        if got["msg_type"] in ("stream", "error", "execute_result", "display_data"):
            outputs.append({"type": got["msg_type"], **got["content"]})
    while True:  # skip replies to other requests (kernel_info replies left by a slow start)
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]["status"], outputs


class Kernel:
    def __init__(self, km: KernelManager):
        self.km, self.kc = km, km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=90)

    def run(self, code: str, cell_id: str | None = None, timeout: float = 120) -> tuple[str, list[dict]]:
        """Execute ``code`` as the cell ``cell_id``; the reply's status and every output message."""
        return execute(self.kc, code, cell_id, timeout)

    def restart(self) -> None:
        self.kc.stop_channels()
        self.km.restart_kernel(now=True)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=90)


def text(outputs: list[dict]) -> str:
    """What the student reads: streams, results and errors, without colours."""
    parts = []
    for o in outputs:
        if o["type"] == "stream":
            parts.append(o["text"])
        elif o["type"] == "error":
            parts.append("\n".join(o["traceback"]) + "\n")
        elif "text/plain" in o.get("data", {}):
            parts.append(o["data"]["text/plain"] + "\n")
    return ANSI.sub("", "".join(parts))


def errors(outputs: list[dict]) -> list[list[str]]:
    return [[ANSI.sub("", line) for line in o["traceback"]] for o in outputs if o["type"] == "error"]


@contextmanager
def course_kernel(notebook: str | os.PathLike | None = None, cwd: str | os.PathLike | None = None) -> Iterator[Kernel]:
    """A kernel started from the kernelspec ``kernel_env()`` gives the course's JupyterLab, told its
    notebook (``JPY_SESSION_NAME``) as jupyter_server tells it; shut down at the end."""
    env = kernel_env()
    saved = os.environ.get("JUPYTER_PATH")
    os.environ.update(env)  # the kernelspec is looked up in this process, as JupyterLab's server does
    try:
        km = KernelManager(kernel_name="python3")
        kernel_envs = {**os.environ, **({"JPY_SESSION_NAME": str(notebook)} if notebook else {})}
        km.start_kernel(env=kernel_envs, cwd=str(cwd) if cwd else None)
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved
    kernel = Kernel(km)
    try:
        yield kernel
    finally:
        kernel.kc.stop_channels()
        km.shutdown_kernel(now=True)
