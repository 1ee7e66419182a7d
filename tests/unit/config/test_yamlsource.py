"""YAML with line numbers: values, lines, strictness, and the typed Section reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.config.yamlsource import Node, Section, load_yaml_file, load_yaml_text, suggest
from drkit.errors import ConfigError

TEXT = """\
# a comment
name: demo
items:
  - one
  - 2
  - {three: 3}
nested:
  flag: true
  empty: ~
"""


def test_values_and_lines() -> None:
    root = load_yaml_text(TEXT, "f.yaml")
    assert root.plain() == {
        "name": "demo",
        "items": ["one", 2, {"three": 3}],
        "nested": {"flag": True, "empty": None},
    }
    assert isinstance(root.value, dict)
    assert root.line == 2
    assert (root.value["name"].line, root.value["name"].column) == (2, 7)
    items = root.value["items"]
    assert (items.key_line, items.line) == (3, 4)
    assert isinstance(items.value, list)
    assert [i.line for i in items.value] == [4, 5, 6]
    nested = root.value["nested"]
    assert isinstance(nested.value, dict)
    assert nested.value["flag"].line == 8
    assert nested.value["empty"].value is None


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first given on line 1)"),
        ("x:\n  y: 1\n  y: 1\n", 3, "duplicate key 'y'"),
        ("1: a\n", 1, "mapping keys must be strings, got integer 1"),
        ("? [a]\n: 1\n", 1, "mapping keys must be strings, got a list"),
        ("null: 1\n", 1, "mapping keys must be strings, got null"),
        ("a: !!python/name:os.system x\n", 1, "invalid value"),
        ("a: !!set {x}\n", 1, "unsupported YAML tag"),
        ("a: &x [*x]\n", 1, "YAML anchor &x is not allowed"),
        ("a: 1\n---\nb: 2\n", 3, "2 YAML documents"),
        ("a: [1,\n", 2, "YAML syntax error"),
        ("a: 1\n b: 2\n", 2, "YAML syntax error"),
        ("a: 2026-02-30\n", 1, "invalid value"),
    ],
)
def test_strictness(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml_text(text, "f.yaml")
    assert (info.value.file, info.value.line) == ("f.yaml", line)
    assert message in str(info.value)


def test_a_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_yaml_file(path).plain() == {"a": 1}


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_yaml_file(tmp_path)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("keep_daily", "keepDaily"),
        ("KEEPDAILY", "keepDaily"),
        ("keep-daily", "keepDaily"),
        ("keepDialy", "keepDaily"),
        ("kepLast", "keepLast"),
        ("zzz", None),
    ],
)
def test_suggest(key: str, expected: str | None) -> None:
    assert suggest(key, ["keepLast", "keepDaily", "keepWithin"]) == expected


def section(text: str, known: tuple[str, ...]) -> Section:
    return Section(load_yaml_text(text, "f.yaml"), "spec", "f.yaml", known)


def test_section_reads() -> None:
    s = section("a: x\nb: true\nf: ~\n", ("a", "b", "f", "g"))
    assert s.text(s.require("a"), "spec.a") == "x"
    assert s.get("f") is None
    assert s.get("g") is None
    assert s.child("b") == "spec.b"


def test_section_errors_carry_the_path() -> None:
    s = section("a: 1\nnested:\n  b: 2\n", ("a", "nested"))
    with pytest.raises(ConfigError) as info:
        s.text(s.require("a"), "spec.a")
    assert (info.value.line, info.value.field) == (1, "spec.a")
    assert info.value.hint == "quote the value to make it a string"
    with pytest.raises(ConfigError) as info:
        s.required_section("nested", ("c",))
    assert (info.value.line, info.value.field) == (3, "spec.nested.b")
    with pytest.raises(ConfigError) as info:
        s.required_section("nested", ("b", "c")).require("c")
    assert (info.value.line, info.value.field) == (2, "spec.nested.c")  # the line of "nested:"


def test_node_kind() -> None:
    assert Node({}, 1, 1).kind == "mapping"
    assert Node("x", 1, 1).kind == "string 'x'"
    assert Node(1.5, 1, 1).kind == "number 1.5"
