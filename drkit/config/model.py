"""The base of drkit's document models (pydantic v2) and the value types the file formats share.

Models describe the *shape* of a YAML document: keys in camelCase (the Python names are snake_case
with generated aliases), unknown keys refused, each value's type. They are the source of the published
JSON Schemas (``drkit schema``, ``docs/schemas/``) and of the key tables the loaders check a document
against (:func:`keys_by_path`). What a value means (a cron expression that APScheduler reads like
crontab, a URL the storage layer accepts, a time zone that exists) is checked by the loaders, which
name file, line and field; :mod:`drkit.config.translate` turns the models' own errors into such
messages.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from drkit.config.durations import parse_duration
from drkit.config.limits import MAX_UID
from drkit.config.yamlsource import kind_of
from drkit.errors import ConfigError

API_VERSION = "drkit.io/v1"


class Model(BaseModel):
    """A mapping of a drkit document: camelCase keys, no unknown ones, frozen."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, frozen=True, use_enum_values=True
    )


_ENV_REFERENCE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "expected a non-empty string")
    return value


def _not_expanded(value: str) -> str:
    if _ENV_REFERENCE.search(value):
        raise PydanticCustomError(
            "env_reference",
            f"{value!r} looks like an environment-variable reference; schedule files are not expanded",
        )
    return value


Text = Annotated[
    str, StringConstraints(min_length=1), AfterValidator(_not_blank), AfterValidator(_not_expanded)
]
"""A non-empty string, taken as written: an environment-variable reference is refused (nothing is
expanded; secrets stay in files)."""
Word = Annotated[str, StringConstraints(min_length=1), AfterValidator(_not_blank)]
"""A non-empty string that may mention ``$VARIABLE`` (a command run with the variable set)."""


def _kind(value: object) -> str:
    return kind_of(value)


def _duration(value: Any) -> Any:
    """The loaders' duration rules (:func:`~drkit.config.durations.parse_duration`), in their words."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PydanticCustomError("duration", f"expected a duration such as 30d or 12h, got {_kind(value)}")
    try:
        parse_duration(value, "")
    except ConfigError as exc:
        raise PydanticCustomError("duration", exc.message) from None
    return value


def lowered(value: Any) -> Any:
    """A word as the loaders read it: surrounding blanks and case do not matter (``" Job "``)."""
    return value.strip().lower() if isinstance(value, str) else value


class AnyCase:
    """Marks a ``Literal`` of lower-case words that is read in any case and with blanks around it
    (``Update``, ``" Job "``), and says so in the JSON Schema: the words as an ``enum`` (what an
    editor completes) or a string matching them in any case (what drkit accepts)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(lowered, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        words = handler(schema)
        pattern = "|".join("".join(_any_case(c) for c in word) for word in words["enum"])
        return {"anyOf": [words, {"type": "string", "pattern": rf"^\s*({pattern})\s*$"}]}


def _any_case(char: str) -> str:
    return f"[{char}{char.upper()}]" if char.isalpha() else re.escape(char)


Duration = Annotated[
    Annotated[str, StringConstraints(pattern=r"^\s*([0-9]+[ywdhms]?)+\s*$")] | Annotated[int, Field(ge=0)],
    BeforeValidator(_duration),
    Field(description="a duration: 30d, 12h, 2w, 1y, 90m, 1d12h, or a number of seconds"),
]


def timedelta_of(value: str | int | None) -> timedelta | None:
    """A :data:`Duration` the model validated, as a ``timedelta`` (``None`` stays ``None``)."""
    return None if value is None else parse_duration(value, "")


def _id(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UID:
        raise PydanticCustomError("id", f"expected an id from 0 to {MAX_UID}, got {_kind(value)}")
    return value


Id = Annotated[int, Field(ge=0, le=MAX_UID, description="a user or group id"), BeforeValidator(_id)]
MAX_PARALLEL = 32


def _parallel(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARALLEL:
        raise PydanticCustomError(
            "parallel", f"expected a number from 1 to {MAX_PARALLEL}, got {_kind(value)}"
        )
    return value


Parallel = Annotated[
    int,
    Field(ge=1, le=MAX_PARALLEL, description="job mode: the mover Jobs of that many claims at a time"),
    BeforeValidator(_parallel),
]
ClusterResources = Annotated[
    bool | Annotated[Literal["auto", "true", "false"], AnyCase()], Field(description="auto, true or false")
]
Mover = Annotated[Literal["local", "job"], AnyCase()]


class Metadata(Model):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]


class S3(Model):
    endpoint: Text | None = None
    region: Text | None = None
    path_style: bool | None = None
    ca_bundle: Text | None = None
    profile: Text | None = None


class Repository(Model):
    """``spec.repository``: the same in schedules and restore plans."""

    url: Text
    password_file: Text | None = None
    key_file: Text | None = None
    s3: S3 | None = None


def keys_by_path(model: type[Model], path: str = "") -> dict[str, tuple[str, ...]]:
    """Every mapping of ``model``'s document (by dotted path, ``[]`` for the items of a list) and its
    keys, as the loaders' ``SCHEMA`` tables hold them."""
    out: dict[str, tuple[str, ...]] = {path: tuple(_alias(name, f) for name, f in model.model_fields.items())}
    for name, f in model.model_fields.items():
        child = f"{path}.{_alias(name, f)}" if path else _alias(name, f)
        for sub, suffix in _models_in(f.annotation):
            out.update(keys_by_path(sub, child + suffix))
    return out


def _alias(name: str, field: Any) -> str:
    return str(field.alias or name)


def _models_in(annotation: Any, suffix: str = "") -> list[tuple[type[Model], str]]:
    """The document models a field holds (directly, in a union, or as the items of a list)."""
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return [(annotation, suffix)]
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (list, tuple):
        return [m for a in args for m in _models_in(a, suffix + "[]")]
    if origin is dict:
        return []
    return [m for a in args for m in _models_in(a, suffix)]
