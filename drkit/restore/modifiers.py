"""Resource modifiers: JSON patches (RFC 6902) and JSON merge patches (RFC 7386) chosen by kind, name
and namespace globs, applied to objects after namespace mapping.

JSON patches are applied by ``jsonpatch`` (pointers by ``jsonpointer``, RFC 6901), one operation at a
time on a copy, so that an error names the operation; merge patches by :func:`apply_merge_patch`
(RFC 7386 is ten lines). Pure functions; a patch that cannot be applied raises :class:`PatchError`
(the planner turns it into a failed action for that object, naming the modifier and its line, never a
silent skip).
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jsonpatch
import jsonpointer

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


def apply_json_patch(doc: dict[str, Any], operations: Sequence[Mapping[str, object]]) -> dict[str, Any]:
    """A new document with every operation applied in order (all or nothing: ``doc`` is never changed).
    ``PatchError`` names the operation that does not apply and why."""
    result: Any = copy.deepcopy(doc)
    for i, op in enumerate(operations):
        try:
            result = jsonpatch.JsonPatch([dict(op)]).apply(result, in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise PatchError(f"{_describe(i, op)}: test failed: {exc}") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError) as exc:
            raise PatchError(f"{_describe(i, op)}: {exc}") from None
    if not isinstance(result, dict):
        raise PatchError("the patch replaced the object with a non-object")
    return result


def _describe(index: int, op: Mapping[str, object]) -> str:
    source = f" from {op['from']}" if "from" in op else ""
    return f"operation {index} ({op.get('op')}{source} {op.get('path')})"
