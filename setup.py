"""drkit's compiled extension modules; everything else about the package is in pyproject.toml.

Every ``drkit/native/_<name>.c`` becomes the module ``drkit.native._<name>``, and every Rust crate
``drkit/native/<name>/Cargo.toml`` the module ``drkit.native._<name>`` (setuptools-rust runs ``cargo
build --release --locked``: the crates are the ones Cargo.lock pins). ``pip install .`` and ``pip
install -e .`` build them; ``make venv`` does. Each has a pure-Python fallback that gives the same
results more slowly: ``DRKIT_NO_NATIVE=1`` at install time builds none, at run time loads none
(``drkit/native/__init__.py``). A build error is an install error, not a silent fallback.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent


def native_extensions() -> list[Extension]:
    if os.environ.get("DRKIT_NO_NATIVE"):
        return []
    return [
        Extension(
            f"drkit.native.{source.stem}",
            [source.relative_to(HERE).as_posix()],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
        for source in sorted((HERE / "drkit" / "native").glob("_*.c"))
    ]


def rust_extensions() -> list[object]:
    if os.environ.get("DRKIT_NO_NATIVE"):
        return []
    from setuptools_rust import Binding, RustExtension  # a build requirement (pyproject.toml)

    return [
        RustExtension(
            f"drkit.native._{manifest.parent.name}",
            manifest.relative_to(HERE).as_posix(),
            binding=Binding.PyO3,
            args=["--locked"],
            debug=False,  # also for `build_ext --inplace` and editable installs: the speed is the point
        )
        for manifest in sorted((HERE / "drkit" / "native").glob("*/Cargo.toml"))
    ]


setup(ext_modules=native_extensions(), rust_extensions=rust_extensions())
