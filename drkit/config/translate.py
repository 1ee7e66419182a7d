"""pydantic's validation errors as drkit's: file, line and dotted field, in drkit's words.

:func:`validate_node` validates the plain data of a YAML :class:`~drkit.config.yamlsource.Node` tree
against a document model (strict: a string is never read as a number or a boolean) and turns the
first error into a :class:`~drkit.errors.ConfigError`. pydantic says *where* (a location: keys,
list indexes and, inside unions, the names of the union's members); the node tree says on which
line that is. Unknown keys get a "did you mean" suggestion from the model's own keys.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from drkit.config.yamlsource import Node, kind_of, suggest
from drkit.errors import ConfigError

T = TypeVar("T")


def validate_node(
    adapter: TypeAdapter[T],
    node: Node,
    *,
    file: str,
    path: str,
    model: type[BaseModel] | None = None,
    skip: int = 0,
) -> T:
    """``node`` (at dotted ``path`` of ``file``) validated by ``adapter``. ``model``: the model the
    node is, to find keys and descriptions for messages; ``skip``: leading location items that are
    not keys (the tag of a discriminated union). ``ConfigError`` naming the line and field."""
    try:
        return adapter.validate_python(node.plain(), strict=True)
    except ValidationError as exc:
        raise translate(exc.errors(), node, file=file, path=path, model=model, skip=skip) from None


def translate(
    errors: Sequence[ErrorDetails],
    root: Node,
    *,
    file: str,
    path: str,
    model: type[BaseModel] | None = None,
    skip: int = 0,
) -> ConfigError:
    """The :class:`ConfigError` for the first of pydantic's ``errors`` (unknown keys first, then in
    document order); errors of the members of one union count as one, placed at the deepest member
    error, or said as the field's description when no member got further than another."""
    located = [_locate(e, root, path, skip) for e in errors]
    unknown = [x for x in located if x.error["type"] == "extra_forbidden"]
    first = unknown[0] if unknown else located[0]
    if first.union_at is not None:
        rivals = [x for x in located if x.union_at == first.union_at]
        deepest = max(x.depth for x in rivals)
        best = [x for x in rivals if x.depth == deepest]
        if len(best) < len(rivals) and len(best) >= 1:
            first = best[0]
        else:
            what = _description(model, first.keys[: first.union_keys]) or "another kind of value"
            return ConfigError(
                f"expected {what}, got {first.node.kind}",
                file=file,
                line=first.node.line or None,
                field=first.union_field,
            )
    return _error(first, model, file)


class _Located:
    def __init__(self, error: ErrorDetails) -> None:
        self.error = error
        self.node: Node = Node(None, 0, 0)
        self.field = ""
        self.keys: list[str] = []  # the document keys walked (no list indexes)
        self.depth = 0  # nodes walked
        self.union_at: tuple[Any, ...] | None = None  # the location of the union, when inside one
        self.union_field = ""
        self.union_keys = 0
        self.missing: str | None = None
        self.parent: Node | None = None


def _locate(error: ErrorDetails, root: Node, path: str, skip: int) -> _Located:
    out = _Located(error)
    node, field = root, path
    loc = list(error["loc"])[skip:]
    for i, item in enumerate(loc):
        value = node.value
        if isinstance(value, dict) and isinstance(item, str) and item in value:
            out.parent = node
            node = value[item]
            field = f"{field}.{item}" if field else item
            out.keys.append(item)
            out.depth += 1
        elif isinstance(value, list) and isinstance(item, int) and 0 <= item < len(value):
            node = value[item]
            field = f"{field}[{item}]"
            out.depth += 1
        elif error["type"] == "missing" and i == len(loc) - 1 and isinstance(item, str):
            out.missing = item
            field = f"{field}.{item}" if field else item
            out.keys.append(item)
        elif out.union_at is None:  # the name of a union's member
            out.union_at = tuple(loc[:i])
            out.union_field = field
            out.union_keys = len(out.keys)
    out.node, out.field = node, field
    return out


_WORDS: dict[str, Callable[[Node, dict[str, Any]], str]] = {
    "string_too_short": lambda node, ctx: "expected a non-empty string",
    "bool_type": lambda node, ctx: f"expected true or false, got {node.kind}",
    "int_type": lambda node, ctx: f"expected a whole number, got {node.kind}",
    "int_parsing": lambda node, ctx: f"expected a whole number, got {node.kind}",
    "int_from_float": lambda node, ctx: f"expected a whole number, got {node.kind}",
    "float_type": lambda node, ctx: f"expected a number, got {node.kind}",
    "float_parsing": lambda node, ctx: f"expected a number, got {node.kind}",
    "dict_type": lambda node, ctx: f"expected a mapping, got {node.kind}",
    "model_type": lambda node, ctx: f"expected a mapping, got {node.kind}",
    "model_attributes_type": lambda node, ctx: f"expected a mapping, got {node.kind}",
    "too_short": lambda node, ctx: f"expected at least {_count_words(ctx.get('min_length', 1))}, got none",
    "literal_error": lambda node, ctx: (
        f"expected {_choices(str(ctx.get('expected', '')))}, got {node.value!r}"
    ),
    "greater_than_equal": lambda node, ctx: f"must be at least {ctx.get('ge')}",
    "less_than_equal": lambda node, ctx: f"must be at most {ctx.get('le')}",
}
"""drkit's words for pydantic's error types (the same as the loaders' own messages)."""


def _count_words(n: object) -> str:
    return "one item" if n == 1 else f"{n} items"


_HINTS = {
    "endpoint": "e.g. https://10.0.0.1:2379",
    "count": "write 'unlimited' to keep every one",
    "snapshot": "write latest, an id (4 or more hex digits), or a mapping "
    "{latestBefore: <RFC 3339 time>, schedule: <name>}",
    "env_reference": "write the value itself; keep secrets in files (passwordFile, keyFile)",
    "duration": "write a duration such as 30d, 12h, 2w, 1y, 90m, 1d12h or a number of seconds",
}


def _error(x: _Located, model: type[BaseModel] | None, file: str) -> ConfigError:
    e = x.error
    kind, node = e["type"], x.node
    line = node.line or None
    hint = _HINTS.get(kind)
    if kind == "extra_forbidden":
        key = x.keys[-1] if x.keys else x.field
        guess = suggest(key, _keys(model, x.keys[:-1]))
        message = f"unknown field {key!r}" + (f"; did you mean {guess!r}?" if guess else "")
        line = (node.key_line or node.line) or None
    elif kind == "missing":
        line = (node.key_line or node.line) or None  # the mapping that lacks the key
        message = "missing required field"
    elif node.value is None:
        message = "a value is required, got null"
    elif kind == "string_type":
        message = f"expected a string, got {node.kind}"
        if isinstance(node.value, bool | int | float):
            hint = "quote the value to make it a string"
    elif kind == "list_type":
        items = "mappings" if _walk(model, x.keys) is not None else "strings"
        message = f"expected a list of {items}, got {node.kind}"
        hint = "write [a, b] or - a" if items == "strings" else None
    elif kind == "string_pattern_mismatch":
        what = _description(model, x.keys)
        message = f"{node.value!r} is not {what}" if what else f"{node.value!r} has the wrong form"
    elif kind in _WORDS:
        message = _WORDS[kind](node, dict(e.get("ctx") or {}))
    else:  # a custom error of drkit's own validators (its message is drkit's)
        message = e["msg"]
    return ConfigError(message, file=file, line=line, field=x.field or None, hint=hint)


def _choices(expected: str) -> str:
    """pydantic's ``'a', 'b' or 'c'`` as ``a, b or c``."""
    return expected.replace("'", "")


def _keys(model: type[BaseModel] | None, keys: Sequence[str]) -> list[str]:
    """The keys of the mapping at ``keys`` (for a "did you mean")."""
    found = _walk(model, keys)
    if isinstance(found, type) and issubclass(found, BaseModel):
        return [str(f.alias or name) for name, f in found.model_fields.items()]
    return []


def _description(model: type[BaseModel] | None, keys: Sequence[str]) -> str | None:
    if not keys or model is None:
        return None
    parent = _walk(model, keys[:-1])
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return None
    info = _field_info(parent, keys[-1])
    if info is None:
        return None
    return info.description or _annotated_description(info.annotation)


def _walk(model: type[BaseModel] | None, keys: Sequence[str]) -> Any:
    """The model class at ``keys`` below ``model`` (through optional values and lists)."""
    current: Any = model
    for key in keys:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = _field_info(current, key)
        if info is None:
            return None
        current = _model_in(info.annotation)
    return current


def _field_info(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _annotated_description(annotation: Any) -> str | None:
    origin = get_origin(annotation)
    if origin is Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, FieldInfo) and meta.description:
                return meta.description
        return _annotated_description(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _annotated_description(arg)
            if found:
                return found
    return None


__all__ = ["kind_of", "translate", "validate_node"]
