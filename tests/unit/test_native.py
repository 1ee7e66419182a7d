"""drkit's compiled extension modules (drkit/native/, setup.py): every C source is built here, each can
be ruled out at run time, and a benchmarked commit's export is built as an install would be."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.tools import build_native
from drkit import native

ROOT = Path(__file__).resolve().parents[2]

_MODULE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_answer", NULL, -1, methods};
PyMODINIT_FUNC PyInit__answer(void) { return PyModule_Create(&mod); }
"""


@pytest.mark.parametrize("name", native.sources())
def test_every_c_source_is_built_into_this_environment(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make venv` / `pip install -e .` built it: the pure-Python fallback is not what the tests and
    the benchmarks measure by accident. DRKIT_NO_NATIVE rules it out."""
    monkeypatch.delenv("DRKIT_NO_NATIVE", raising=False)
    module = native.load(name)
    assert module is not None, f"drkit/native/{name}.c was not built (make venv; setup.py)"
    assert module.__name__ == f"drkit.native.{name}"
    monkeypatch.setenv("DRKIT_NO_NATIVE", "1")
    assert native.load(name) is None


def test_a_missing_module_loads_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRKIT_NO_NATIVE", raising=False)
    assert not native.disabled()
    assert native.load("_no_such_module") is None
    monkeypatch.setenv("DRKIT_NO_NATIVE", "0")
    assert not native.disabled()
    monkeypatch.setenv("DRKIT_NO_NATIVE", "yes")
    assert native.disabled()


def test_a_benchmarked_export_gets_its_c_sources_built(tmp_path: Path) -> None:
    """bench/ runs `python -m drkit` from `git archive` exports: their C sources are built in place with
    the project's own setup.py, so a commit is measured with its compiled modules."""
    tree = tmp_path / "export"
    (tree / "drkit" / "native").mkdir(parents=True)
    shutil.copy(ROOT / "setup.py", tree / "setup.py")
    (tree / "drkit" / "__init__.py").write_text("")
    (tree / "drkit" / "native" / "__init__.py").write_text("")
    (tree / "drkit" / "native" / "_answer.c").write_text(_MODULE)
    (tree / "drkit" / "native" / "crate" / "target" / "release").mkdir(parents=True)  # cargo's build tree
    build_native(tree)
    built = list((tree / "drkit" / "native").glob("_answer*.so"))
    assert len(built) == 1
    assert not (tree / "drkit" / "native" / "crate" / "target").exists()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", "import drkit.native._answer as m; print(m.answer())"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "42"


def test_an_export_without_c_sources_is_left_as_it_is(tmp_path: Path) -> None:
    tree = tmp_path / "export"
    (tree / "drkit" / "native").mkdir(parents=True)
    (tree / "drkit" / "native" / "__init__.py").write_text("")
    build_native(tree)  # no setup.py (a commit before it): nothing to build, no error
    shutil.copy(ROOT / "setup.py", tree / "setup.py")
    build_native(tree)
    assert sorted(p.name for p in (tree / "drkit" / "native").iterdir()) == ["__init__.py"]


def test_a_module_older_than_its_source_is_not_loaded(tmp_path: Path) -> None:
    """A checkout pulled without a rebuild: the compiled module may lack what the Python code calls (a
    backup failed with "module 'drkit.native._index' has no attribute 'prefix_hits'"). It is passed
    over for the Python path, with a warning that says how to rebuild; rebuilt, it loads again."""
    tree = tmp_path / "export"
    (tree / "drkit" / "native").mkdir(parents=True)
    shutil.copy(ROOT / "setup.py", tree / "setup.py")
    (tree / "drkit" / "__init__.py").write_text("")
    shutil.copy(ROOT / "drkit" / "native" / "__init__.py", tree / "drkit" / "native" / "__init__.py")
    source = tree / "drkit" / "native" / "_answer.c"
    source.write_text(_MODULE)
    build_native(tree)
    (built,) = (tree / "drkit" / "native").glob("_answer*.so")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DRKIT_NO_NATIVE")}
    probe = "from drkit import native; m = native.load('_answer'); print(m and m.answer())"

    def load() -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-c", probe]
        return subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, check=True, timeout=60)

    fresh = load()
    assert (fresh.stdout.strip(), fresh.stderr) == ("42", "")
    then = source.stat().st_mtime - 60
    os.utime(built, (then, then))  # built before the source last changed
    stale = load()
    assert stale.stdout.strip() == "None"
    assert "_answer" in stale.stderr
    assert "older than _answer.c" in stale.stderr
    assert "make venv" in stale.stderr
    build_native(tree)
    assert load().stdout.strip() == "42"
