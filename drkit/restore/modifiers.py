"""Resource modifiers: JSON patches (RFC 6902) and JSON merge patches (RFC 7386) chosen by kind, name
and namespace globs, applied to objects after namespace mapping.

Pure functions; a patch that cannot be applied raises :class:`PatchError` (the planner turns it into a
failed action for that object, never a silent skip).
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from drkit.config.restoreplan import ModifierSettings


class PatchError(ValueError):
    """A patch operation does not apply to the object (a missing path, a failed test, ...)."""


def matches(modifier: ModifierSettings, kind: str, name: str, namespace: str) -> bool:
    """Whether the modifier applies to an object. Kinds match case-insensitively; ``namespaces`` never
    match a cluster-scoped object (namespace "")."""
    if modifier.kinds and not _any(modifier.kinds, kind.lower(), fold=True):
        return False
    if modifier.names and not _any(modifier.names, name):
        return False
    return not modifier.namespaces or (bool(namespace) and _any(modifier.namespaces, namespace))


def _any(patterns: Iterable[str], value: str, *, fold: bool = False) -> bool:
    return any(fnmatch.fnmatchcase(value, p.lower() if fold else p) for p in patterns)


def apply_modifier(modifier: ModifierSettings, obj: dict[str, Any]) -> dict[str, Any]:
    """A new object with the modifier's patch applied. ``PatchError`` when it does not apply."""
    if modifier.json_patch is not None:
        return apply_json_patch(obj, modifier.json_patch)
    if modifier.merge_patch is not None:
        merged = apply_merge_patch(obj, modifier.merge_patch)
        if not isinstance(merged, dict):  # pragma: no cover - a mapping patch keeps a mapping
            raise PatchError("the merge patch did not leave an object")
        return merged
    return obj


# -- JSON merge patch (RFC 7386) ------------------------------------------------------------------


def apply_merge_patch(target: object, patch: object) -> object:
    """RFC 7386: a mapping merges key by key (``null`` removes), anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result: dict[str, Any] = copy.deepcopy(dict(target)) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


# -- JSON patch (RFC 6902) ------------------------------------------------------------------------


def parse_pointer(pointer: str) -> list[str]:
    """RFC 6901: ``/a/b~1c/~0d`` -> ``["a", "b/c", "~d"]``; ``""`` is the whole document."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"JSON pointer {pointer!r} does not start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def apply_json_patch(doc: dict[str, Any], operations: Sequence[Mapping[str, object]]) -> dict[str, Any]:
    """A new document with every operation applied in order (all or nothing)."""
    result: Any = copy.deepcopy(doc)
    for i, op in enumerate(operations):
        try:
            result = _apply_op(result, op)
        except PatchError as exc:
            raise PatchError(f"operation {i} ({op.get('op')} {op.get('path')}): {exc}") from None
    if not isinstance(result, dict):
        raise PatchError("the patch replaced the object with a non-object")
    return result


def _apply_op(doc: Any, op: Mapping[str, object]) -> Any:
    name = op.get("op")
    path = parse_pointer(str(op.get("path", "")))
    if name == "test":
        if _get(doc, path) != op.get("value"):
            raise PatchError("test failed: the value differs")
        return doc
    if name == "remove":
        return _remove(doc, path)
    if name == "add":
        return _add(doc, path, copy.deepcopy(op.get("value")))
    if name == "replace":
        if not path:
            return copy.deepcopy(op.get("value"))
        _get(doc, path)  # must exist
        return _add(_remove(doc, path), path, copy.deepcopy(op.get("value")))
    if name in ("move", "copy"):
        source = parse_pointer(str(op.get("from", "")))
        value = copy.deepcopy(_get(doc, source))
        if name == "move":
            if path[: len(source)] == source and len(path) > len(source):
                raise PatchError("cannot move a value into itself")
            doc = _remove(doc, source)
        return _add(doc, path, value)
    raise PatchError(f"unknown operation {name!r}")


def _get(doc: Any, path: list[str]) -> Any:
    current = doc
    for part in path:
        if isinstance(current, dict):
            if part not in current:
                raise PatchError(f"no member {part!r}")
            current = current[part]
        elif isinstance(current, list):
            current = current[_index(part, len(current))]
        else:
            raise PatchError(f"cannot descend into {type(current).__name__} at {part!r}")
    return current


def _index(part: str, length: int, *, allow_end: bool = False) -> int:
    if part == "-" and allow_end:
        return length
    if not part.isdigit() or (len(part) > 1 and part.startswith("0")):
        raise PatchError(f"{part!r} is not an array index")
    index = int(part)
    if index > length or (index == length and not allow_end):
        raise PatchError(f"index {index} is out of range (length {length})")
    return index


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), allow_end=True), value)
    else:
        raise PatchError(f"cannot add to {type(parent).__name__}")
    return doc


def _remove(doc: Any, path: list[str]) -> Any:
    if not path:
        raise PatchError("cannot remove the whole document")
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"no member {last!r}")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(last, len(parent))]
    else:
        raise PatchError(f"cannot remove from {type(parent).__name__}")
    return doc
