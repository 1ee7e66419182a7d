"""PathSplitter: split_path with the last directory kept, giving the same parts and the same errors."""

from __future__ import annotations

import pytest

from drkit.errors import ConfigError
from drkit.repo.engine.vtree import MAX_PATH, PathSplitter, split_path

PATHS = [
    "resources/core/v1/configmaps/ns/a.json",
    "resources/core/v1/configmaps/ns/b.json",
    "resources/core/v1/configmaps/ns/",
    "resources/core/v1/configmaps/ns/.",
    "resources/core/v1/configmaps/ns/..",
    "resources/core/v1/configmaps/ns/x\x00y",
    "resources/core/v1/configmaps/ns//c.json",
    "resources/core/v1/configmaps/ns/" + "n" * MAX_PATH,
    "/resources/core/v1/configmaps/ns/d.json",
    "resources/core/v1/configmaps/other/e.json",
    "resources/core/v1/configmaps/ns/ü.json",
    "top.json",
    "resources/core/v1/configmaps/ns/f.json",
    "",
]


def outcome(fn: object, path: str) -> object:
    try:
        return fn(path)  # type: ignore[operator]
    except ConfigError as e:
        return ("error", e.message)


def test_the_same_parts_and_errors_as_split_path() -> None:
    split = PathSplitter()
    for path in PATHS:
        assert outcome(split, path) == outcome(split_path, path), path


def test_a_path_in_the_same_directory_reuses_its_parts() -> None:
    split = PathSplitter()
    a = split("resources/core/v1/configmaps/ns/a.json")
    b = split("resources/core/v1/configmaps/ns/b.json")
    assert b == (b"resources", b"core", b"v1", b"configmaps", b"ns", b"b.json")
    assert all(x is y for x, y in zip(a[:-1], b[:-1], strict=True))  # not encoded again
    with pytest.raises(ConfigError, match="invalid segment"):
        split("resources/core/v1/configmaps/ns/..")
