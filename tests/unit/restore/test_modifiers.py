"""JSON patch (RFC 6902, through jsonpatch), merge patch (RFC 7386) and modifier matching."""

from __future__ import annotations

from typing import Any

import pytest

from drkit.config.restoreplan import ModifierSettings
from drkit.restore.modifiers import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_modifier,
    matches,
)

DOC: dict[str, Any] = {"a": {"b": 1, "c": [1, 2, 3]}, "k~/": "x"}

PATCHES = [
    ("add member", [{"op": "add", "path": "/a/d", "value": 4}], {"a": {"b": 1, "c": [1, 2, 3], "d": 4}}),
    ("add to array", [{"op": "add", "path": "/a/c/1", "value": 9}], {"a": {"b": 1, "c": [1, 9, 2, 3]}}),
    ("append", [{"op": "add", "path": "/a/c/-", "value": 4}], {"a": {"b": 1, "c": [1, 2, 3, 4]}}),
    ("replace", [{"op": "replace", "path": "/a/b", "value": 2}], {"a": {"b": 2, "c": [1, 2, 3]}}),
    ("replace item", [{"op": "replace", "path": "/a/c/0", "value": 0}], {"a": {"b": 1, "c": [0, 2, 3]}}),
    ("remove", [{"op": "remove", "path": "/a/c/2"}], {"a": {"b": 1, "c": [1, 2]}}),
    ("move", [{"op": "move", "from": "/a/b", "path": "/b"}], {"a": {"c": [1, 2, 3]}, "b": 1}),
    ("copy", [{"op": "copy", "from": "/a/b", "path": "/a/e"}], {"a": {"b": 1, "c": [1, 2, 3], "e": 1}}),
    ("test ok", [{"op": "test", "path": "/a/b", "value": 1}], {"a": {"b": 1, "c": [1, 2, 3]}}),
    ("escaped", [{"op": "remove", "path": "/k~0~1"}], {"a": {"b": 1, "c": [1, 2, 3]}}),
]


@pytest.mark.parametrize(("case", "ops", "expected"), PATCHES, ids=[p[0] for p in PATCHES])
def test_json_patch(case: str, ops: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    result = apply_json_patch(DOC, ops)
    expected = {**expected, "k~/": "x"} if case != "escaped" else expected
    assert result == expected
    assert DOC == {"a": {"b": 1, "c": [1, 2, 3]}, "k~/": "x"}, "the input is not changed"


FAILING = [
    ("missing member", [{"op": "replace", "path": "/a/x", "value": 1}], "non-existent object 'x'"),
    ("remove missing", [{"op": "remove", "path": "/nope"}], "non-existent object 'nope'"),
    ("index out of range", [{"op": "add", "path": "/a/c/7", "value": 1}], "outside of list"),
    ("leading zero", [{"op": "remove", "path": "/a/c/01"}], "'01' is not a valid sequence index"),
    (
        "test fails",
        [{"op": "test", "path": "/a/b", "value": 2}],
        "test failed: 1 .* is not equal to tested value 2",
    ),
    ("into a scalar", [{"op": "add", "path": "/a/b/x", "value": 1}], "does not support indexing"),
    ("move into itself", [{"op": "move", "from": "/a", "path": "/a/z"}], "into their own children"),
    (
        "copy from nothing",
        [{"op": "copy", "from": "/zz", "path": "/a/e"}],
        r"operation 0 \(copy from /zz /a/e\)",
    ),
    ("unknown operation", [{"op": "frob", "path": "/a"}], "Unknown operation 'frob'"),
    ("remove everything", [{"op": "remove", "path": ""}], "can't remove the whole document"),
    ("not an object", [{"op": "replace", "path": "", "value": 5}], "replaced the object with a non-object"),
    (
        "all or nothing",
        [{"op": "add", "path": "/z", "value": 1}, {"op": "remove", "path": "/q"}],
        r"operation 1 \(remove /q\): can't remove a non-existent object 'q'",
    ),
]


@pytest.mark.parametrize(("case", "ops", "message"), FAILING, ids=[p[0] for p in FAILING])
def test_json_patch_errors(case: str, ops: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(PatchError, match=message):
        apply_json_patch(DOC, ops)
    assert "z" not in DOC


def test_pointers_follow_rfc6901() -> None:
    """``~1`` is ``/`` and ``~0`` is ``~``; an empty segment is the member named ""; a pointer that
    does not start with '/' is an error naming the operation."""
    doc: dict[str, Any] = {"a/b": {"~c": {"": 1}}}
    assert apply_json_patch(doc, [{"op": "replace", "path": "/a~1b/~0c/", "value": 2}]) == {
        "a/b": {"~c": {"": 2}}
    }
    with pytest.raises(PatchError, match=r"operation 0 \(remove a/b\): Location must start with /"):
        apply_json_patch(doc, [{"op": "remove", "path": "a/b"}])


def test_merge_patch_rfc7386_examples() -> None:
    assert apply_merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert apply_merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert apply_merge_patch({"a": "b"}, {"a": None}) == {}
    assert apply_merge_patch({"a": "b", "b": "c"}, {"a": None}) == {"b": "c"}
    assert apply_merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert apply_merge_patch({"a": "c"}, {"a": ["b"]}) == {"a": ["b"]}
    assert apply_merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert apply_merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert apply_merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert apply_merge_patch([1, 2], {"a": "b", "c": None}) == {"a": "b"}
    assert apply_merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}


def mod(**fields: Any) -> ModifierSettings:
    return ModifierSettings(index=0, line=1, merge_patch={"x": 1}, **fields)


MATCHES = [
    ("everything", mod(), ("Deployment", "web", "shop"), True),
    ("kind, any case", mod(kinds=("deployment",)), ("Deployment", "web", "shop"), True),
    ("kind glob", mod(kinds=("*Set",)), ("StatefulSet", "db", "shop"), True),
    ("other kind", mod(kinds=("ConfigMap",)), ("Deployment", "web", "shop"), False),
    ("name glob", mod(names=("web-*",)), ("Deployment", "web-1", "shop"), True),
    ("name is case-sensitive", mod(names=("WEB",)), ("Deployment", "web", "shop"), False),
    ("namespace glob", mod(namespaces=("shop*",)), ("Deployment", "web", "shop-dr"), True),
    ("cluster-scoped never matches namespaces", mod(namespaces=("*",)), ("ClusterRole", "x", ""), False),
    ("cluster-scoped without namespaces", mod(kinds=("ClusterRole",)), ("ClusterRole", "x", ""), True),
    ("all must match", mod(kinds=("Deployment",), names=("api",)), ("Deployment", "web", "shop"), False),
]


@pytest.mark.parametrize(("case", "modifier", "target", "expected"), MATCHES, ids=[m[0] for m in MATCHES])
def test_matching(
    case: str, modifier: ModifierSettings, target: tuple[str, str, str], expected: bool
) -> None:
    assert matches(modifier, *target) is expected


def test_apply_modifier_uses_its_patch() -> None:
    assert apply_modifier(mod(), {"x": 0, "y": 2}) == {"x": 1, "y": 2}
    json_mod = ModifierSettings(index=0, line=1, json_patch=({"op": "remove", "path": "/y"},))
    assert apply_modifier(json_mod, {"x": 0, "y": 2}) == {"x": 0}
