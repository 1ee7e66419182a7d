"""The restore plan file format as a document model (``restore-plans/*.yaml``; docs/restore-plans.md):
the source of ``drkit schema restore-plan`` and of the keys :mod:`drkit.config.restoreplan` allows."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from drkit.config.checkdoc import Check
from drkit.config.limits import MAX_UID
from drkit.config.model import (
    AnyCase,
    ClusterResources,
    Duration,
    Metadata,
    Model,
    Mover,
    Parallel,
    Repository,
    Text,
)
from drkit.config.yamlsource import kind_of

SnapshotId = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{4,64}$")]
_SNAPSHOT_ID = re.compile(r"[0-9a-f]{4,64}")


def _time(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):  # PyYAML reads 2026-11-26 as a date
        raise PydanticCustomError("time", "a date is not a time: write 2026-11-26T00:00:00Z")
    return value


Time = Annotated[
    datetime | str,
    BeforeValidator(_time),
    Field(description="an RFC 3339 time with a zone: 2026-11-26T08:00:00Z"),
]


def _snapshot(value: Any) -> Any:
    """The loader's rules for ``spec.snapshot`` as a word or an id, in its words."""
    if isinstance(value, str):
        text = value.strip()
        if text != "latest" and not _SNAPSHOT_ID.fullmatch(text.lower()):
            raise PydanticCustomError("snapshot", f"{text!r} is not a snapshot reference")
        return text if text == "latest" else text.lower()
    if value is not None and not isinstance(value, dict):
        raise PydanticCustomError("snapshot", f"expected latest, an id or a mapping, got {kind_of(value)}")
    return value


def _operation(value: Any) -> Any:
    if isinstance(value, str) and value not in _OPS:
        raise PydanticCustomError("operation", f"unknown operation {value!r}: one of " + ", ".join(_OPS))
    return value


def _operations(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise PydanticCustomError(
            "operations", f"expected a non-empty list of operations, got {kind_of(value)}"
        )
    return value


_OPS = ("add", "remove", "replace", "move", "copy", "test")


class Snapshot(Model):
    id: SnapshotId | None = None
    latest_before: Time | None = None
    schedule: Text | None = None


class Target(Model):
    kubeconfig: Text | None = None
    context: Text | None = None
    scratch: bool | None = None


class Scope(Model):
    include_namespaces: list[Text] | None = None
    exclude_namespaces: list[Text] | None = None
    include_resources: list[Text] | None = None
    exclude_resources: list[Text] | None = None
    selector: Text | None = None
    namespace_selector: Text | None = None
    include_cluster_resources: ClusterResources | None = None


class PatchOperation(Model):
    op: Annotated[Literal["add", "remove", "replace", "move", "copy", "test"], BeforeValidator(_operation)]
    path: str
    value: Any = None
    from_: Annotated[str | None, Field(alias="from")] = None


Globs = Text | list[Text]


Operations = Annotated[list[PatchOperation], Field(min_length=1), BeforeValidator(_operations)]


class Modifier(Model):
    kinds: Globs | None = None
    names: Globs | None = None
    namespaces: Globs | None = None
    json_patch: Annotated[list[PatchOperation], Field(min_length=1), BeforeValidator(_operations)] | None = (
        None
    )
    merge_patch: dict[str, Any] | None = None


class Restore(Model):
    resources: bool | None = None
    etcd: bool | None = None
    volumes: bool | None = None


def _nonroot_uid(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_UID:
        raise PydanticCustomError(
            "uid", f"expected a user id above 0 (not root) and at most {MAX_UID}, got {value!r}"
        )
    return value


class Volumes(Model):
    mover: Mover | None = None
    path_map: list[Text] | None = None
    mover_secret: Text | None = None
    image: Text | None = None
    timeout: Duration | None = None
    run_as_user: Annotated[int, Field(ge=1, le=MAX_UID), BeforeValidator(_nonroot_uid)] | None = None
    parallel: Parallel | None = None


class Waits(Model):
    enabled: bool | None = None
    timeouts: dict[str, Duration] | None = None


class Spec(Model):
    repository: Repository | None = None
    snapshot: Annotated[Literal["latest"] | SnapshotId | Snapshot, BeforeValidator(_snapshot)] | None = None
    target: Target | None = None
    scope: Scope | None = None
    namespace_mapping: dict[str, Text] | None = None
    modifiers: list[Modifier] | None = None
    existing_policy: Annotated[Literal["skip", "update", "fail"], AnyCase()] | None = None
    restore: Restore | None = None
    volumes: Volumes | None = None
    waits: Waits | None = None
    include_status: bool | None = None
    keep_last_applied_configuration: bool | None = None
    finished_jobs: Annotated[Literal["skip", "suspend"], AnyCase()] | None = None
    checks: list[Check] | None = None


class RestorePlanDocument(Model):
    """A restore plan: what ``drkit restore plan|run`` and drills restore, from where, into what."""

    api_version: Literal["drkit.io/v1"]
    kind: Literal["RestorePlan"]
    metadata: Metadata
    spec: Spec
