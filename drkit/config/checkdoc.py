"""The items of a restore plan's ``checks:`` list as document models: a discriminated union keyed by
the one check type each item holds (docs/drills.md). :mod:`drkit.drill.checks` validates the items
against :data:`Check` and builds its ``CheckSpec`` from the result."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag
from pydantic_core import PydanticCustomError

from drkit.config.model import Duration, Model, Text, Word
from drkit.config.yamlsource import kind_of


class ObjectRef(Model):
    kind: Text
    api_version: Text | None = None
    name: Text
    namespace: Text | None = None


class Count(Model):
    kind: Text
    api_version: Text | None = None
    namespace: Text | None = None
    selector: Text | None = None
    min: Annotated[int, Field(ge=0)] | None = None
    equals: Annotated[int, Field(ge=0)] | None = None


class Available(Model):
    kind: Literal["Deployment", "StatefulSet"]
    name: Text
    namespace: Text | None = None


class Named(Model):
    name: Text
    namespace: Text


class VolumeChecksum(Model):
    namespace: Text
    pvc: Text
    path: Text


class HttpProbe(Model):
    namespace: Text
    service: Text
    port: Annotated[int | str, Field(description="a port number or name")]
    path: str | None = None
    scheme: Literal["http", "https"] | None = None
    expect_status: Annotated[int, Field(ge=100)] | None = None
    contains: str | None = None


def _argument(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        raise PydanticCustomError(
            "argument", "expected a non-empty string, got {kind}", {"kind": kind_of(value)}
        )
    return value


class Command(Model):
    run: Annotated[
        Word | Annotated[list[Annotated[str, BeforeValidator(_argument)]], Field(min_length=1)],
        Field(description="a command: a string (run by sh) or a list of arguments"),
    ]
    shell: bool | None = None


class _Common(Model):
    name: Text | None = None
    timeout: Duration | None = None


class ExistsCheck(_Common):
    exists: ObjectRef


class CountCheck(_Common):
    count: Count


class AvailableCheck(_Common):
    available: Available


class ConfigMapEqualsCheck(_Common):
    configmap_equals: Named


class SecretEqualsCheck(_Common):
    secret_equals: Named


class StatusEqualsCheck(_Common):
    status_equals: ObjectRef


class VolumeChecksumCheck(_Common):
    volume_checksum: VolumeChecksum


class HttpProbeCheck(_Common):
    http_probe: HttpProbe


class CommandCheck(_Common):
    command: Command


CHECK_MODELS: dict[str, type[_Common]] = {
    "exists": ExistsCheck,
    "count": CountCheck,
    "available": AvailableCheck,
    "configmapEquals": ConfigMapEqualsCheck,
    "secretEquals": SecretEqualsCheck,
    "statusEquals": StatusEqualsCheck,
    "volumeChecksum": VolumeChecksumCheck,
    "httpProbe": HttpProbeCheck,
    "command": CommandCheck,
}
"""Each check type (its key in a ``checks:`` item) and the model of such an item."""


def check_type(item: Any) -> str | None:
    """The one check type an item holds (the discriminator); ``None`` for none or several."""
    if isinstance(item, dict):
        found = [key for key in CHECK_MODELS if key in item]
    else:
        found = [key for key, model in CHECK_MODELS.items() if isinstance(item, model)]
    return found[0] if len(found) == 1 else None


Check = Annotated[
    Annotated[ExistsCheck, Tag("exists")]
    | Annotated[CountCheck, Tag("count")]
    | Annotated[AvailableCheck, Tag("available")]
    | Annotated[ConfigMapEqualsCheck, Tag("configmapEquals")]
    | Annotated[SecretEqualsCheck, Tag("secretEquals")]
    | Annotated[StatusEqualsCheck, Tag("statusEquals")]
    | Annotated[VolumeChecksumCheck, Tag("volumeChecksum")]
    | Annotated[HttpProbeCheck, Tag("httpProbe")]
    | Annotated[CommandCheck, Tag("command")],
    Discriminator(
        check_type,
        custom_error_type="check_type",
        custom_error_message="give exactly one check type",
    ),
]
"""One item of ``checks:``: exactly one check type, plus an optional ``name`` and ``timeout``."""
