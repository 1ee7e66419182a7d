"""pytest plugin: tiers, and the rule that a missing component fails in CI instead of skipping.

Fixtures for the real servers live in the modules of this package and are registered here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IN_CI = bool(os.environ.get("CI"))
ROOT = Path(__file__).resolve().parents[2]

pytest_plugins = ["tests.infra.etcd", "tests.infra.cluster", "tests.infra.s3", "tests.infra.nodes"]


def missing(what: str, hint: str = "run `make testbin`") -> None:
    """Stop a test whose infrastructure is absent: skip on a laptop, fail in CI (no silent skips)."""
    message = f"missing component: {what} ({hint})"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        if "integration" in path.parts:
            item.add_marker(pytest.mark.integration)
        elif "e2e" in path.parts:
            item.add_marker(pytest.mark.e2e)
        elif "node" in path.parts:
            item.add_marker(pytest.mark.node)
