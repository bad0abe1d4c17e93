"""After a kernel restart, a cell in the middle names the cell to run first (a real kernel, started from
the kernelspec ``kernel_env()`` gives the course's JupyterLab); typos and other kernels keep Python's NameError."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

from jupyter_client.manager import start_new_kernel
from support.kernel import course_kernel, errors

from labsupport.course.rescue import bound_names, explain, kernel_env

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
HOW = "Run the cells above this one first (Run → Run All Above Selected Cell), then this cell again."


def code_cell(lesson: str, *needles: str) -> dict:
    cells = json.loads((NOTEBOOKS / f"{lesson}.ipynb").read_text())["cells"]
    (found,) = [c for c in cells if c["cell_type"] == "code" and all(n in "".join(c["source"]) for n in needles)]
    return found


def run_cell(kernel, lesson: str, *needles: str):
    c = code_cell(lesson, *needles)
    return kernel.run("".join(c["source"]), c["id"])


def test_after_a_restart_a_middle_cell_of_lesson_01_names_the_cell_to_run_first():
    notebook = NOTEBOOKS / "01-dns-load-balancing.ipynb"
    with course_kernel(notebook, cwd=NOTEBOOKS) as k:
        k.restart()  # as Kernel → Restart does; the kernel keeps its notebook
        status, out = run_cell(k, "01-dns-load-balancing", "in_order.chart(")
        assert status == "error"
        assert errors(out) == [[
            "NameError: name 'in_order' is not defined yet (the kernel restarted, or the cells above have not run): "
            "the cell under 'When a server dies' makes it (`victim = f\"{sites.where['127.0.0.3'][0]}:{sit...`). "
            + HOW]]
        status, out = run_cell(k, "01-dns-load-balancing", "Table([{\"request\": i + 1")
        (tb,) = errors(out)  # `Table` is the first missing name: the import cell has not run either
        assert tb[0].startswith("NameError: name 'Table' is not defined yet") and len(tb) == 1
        assert "the cell under 'Activity 1 — DNS load balancing' makes it (`from labsupport import" in tb[0]
        # a typo stays Python's own error, with its traceback
        status, out = k.run("fleeet.status()", code_cell("01-dns-load-balancing", "fleet = Fleet()")["id"])
        (tb,) = errors(out)
        assert len(tb) > 1 and tb[-1] == "NameError: name 'fleeet' is not defined"
        # a NameError in code with globals of its own (a library's) is a bug there, even when a cell makes that name
        status, out = k.run("exec('fleet', {})")
        (tb,) = errors(out)
        assert len(tb) > 1 and tb[-1] == "NameError: name 'fleet' is not defined"
        # after the import cell ran, the course's own errors still read as one line, and the rescue still works
        run_cell(k, "01-dns-load-balancing", "from labsupport import", "stop_all()")
        status, out = k.run("from labsupport import Fleet\nFleet().ask(8080)")
        assert errors(out) == [["NotFoundError: no server on port 8080 in this fleet "
                                "(servers: none yet: start some with fleet.start([...]))"]]
        status, out = run_cell(k, "01-dns-load-balancing", "fleet.restart(victim)")
        (tb,) = errors(out)
        assert len(tb) == 1 and tb[0].startswith("NameError: name 'fleet' is not defined yet") and \
            "the cell under 'The client side: real servers behind one name' makes it (`fleet = Fleet()`)" in tb[0]


def test_lesson_00s_first_server_before_its_import_cell():
    notebook = NOTEBOOKS / "00-welcome.ipynb"
    with course_kernel(notebook, cwd=NOTEBOOKS) as k:
        status, out = run_cell(k, "00-welcome", "with Fleet() as fleet")
        assert errors(out) == [[
            "NameError: name 'Fleet' is not defined yet (the kernel restarted, or the cells above have not run): "
            "the cell under 'Check your machine' makes it (`from labsupport import Fleet, check_environment`). "
            + HOW]]


def test_a_name_made_only_below_the_running_cell_keeps_pythons_error():
    with course_kernel(NOTEBOOKS / "01-dns-load-balancing.ipynb") as k:
        first = code_cell("01-dns-load-balancing", "from labsupport import", "stop_all()")
        status, out = k.run("print(fleet)", first["id"])  # `fleet` is made only further down
        (tb,) = errors(out)
        assert len(tb) > 1 and tb[-1] == "NameError: name 'fleet' is not defined"


def test_kernels_started_without_the_course_kernelspec_are_untouched():
    """nbval and any other Jupyter start ipykernel's own spec: Python's NameError, the LabError handler only."""
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=90,
                              env={"JPY_SESSION_NAME": str(NOTEBOOKS / "01-dns-load-balancing.ipynb")})
    try:
        msg_id = kc.execute("import labsupport\nprint(get_ipython().custom_exceptions)\nfleet")
        reply = kc.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=60)
        assert reply["content"]["ename"] == "NameError"
        assert reply["content"]["evalue"] == "name 'fleet' is not defined"
        assert len(reply["content"]["traceback"]) > 1
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_kernelspec_is_ipykernels_own_plus_the_extension():
    env = kernel_env()
    spec = json.loads((Path(env["JUPYTER_PATH"].split(":")[0]) / "kernels" / "python3" / "kernel.json").read_text())
    assert spec["argv"][-1] == "--ext=labsupport.course.rescue"
    assert spec["argv"][1:5] == ["-m", "ipykernel_launcher", "-f", "{connection_file}"]


def test_bound_names_reads_what_a_cell_makes_at_its_top_level():
    code = textwrap.dedent("""
        import os.path, json as j
        from labsupport import (Fleet,
                                stop_all)
        a, (b, *c) = 1, (2, 3)
        for d in range(2):
            e: int = d
        with open("x") as f:
            pass
        def g(h):
            i = h
        class K:
            m = 1
        squares = [n * n for n in range(3)]
        if (w := 3):
            pass
        try:
            pass
        except ValueError as err:
            pass
        pid = 1
        !kill -9 {pid}
        %time x = 1
    """)
    assert bound_names(code) == {"os", "j", "Fleet", "stop_all", "a", "b", "c", "d", "e", "f", "g", "K",
                                 "squares", "w", "err", "pid"}
    assert bound_names("def broken(:") == set()


def test_explain_looks_only_above_the_running_cell(tmp_path):
    cells = [{"cell_type": "markdown", "id": "m", "source": "## **Start** here"},
             {"cell_type": "code", "id": "c1", "source": "# make it\n\nx = 1"},
             {"cell_type": "code", "id": "c2", "source": "print(x, y)"},
             {"cell_type": "code", "id": "c3", "source": "y = 2"}]
    nb = tmp_path / "n.ipynb"
    nb.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}))
    assert explain("x", nb, "c2") == ("name 'x' is not defined yet (the kernel restarted, or the cells above have "
                                      "not run): the cell under 'Start here' makes it (`x = 1`). " + HOW)
    assert explain("y", nb, "c2") is None  # made below: Python's own error
    assert explain("y", nb, None) is not None  # no cell id (an unsaved cell): any cell may be the maker
    assert explain("x", tmp_path / "missing.ipynb") is None
