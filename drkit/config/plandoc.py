"""The restore plan file format as a document model (``restore-plans/*.yaml``; docs/restore-plans.md):
the source of ``drkit schema restore-plan`` and of the keys :mod:`drkit.config.restoreplan` allows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from drkit.config.checkdoc import Check
from drkit.config.limits import MAX_UID
from drkit.config.model import ClusterResources, Duration, Metadata, Model, Mover, Repository, Text

SnapshotId = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{4,64}$")]
Time = Annotated[datetime | str, Field(description="an RFC 3339 time with a zone: 2026-11-26T08:00:00Z")]


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
    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: Any = None
    from_: Annotated[str | None, Field(alias="from")] = None


Globs = Text | list[Text]


class Modifier(Model):
    kinds: Globs | None = None
    names: Globs | None = None
    namespaces: Globs | None = None
    json_patch: Annotated[list[PatchOperation], Field(min_length=1)] | None = None
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


class Waits(Model):
    enabled: bool | None = None
    timeouts: dict[str, Duration] | None = None


class Spec(Model):
    repository: Repository | None = None
    snapshot: Literal["latest"] | SnapshotId | Snapshot | None = None
    target: Target | None = None
    scope: Scope | None = None
    namespace_mapping: dict[str, Text] | None = None
    modifiers: list[Modifier] | None = None
    existing_policy: Literal["skip", "update", "fail"] | None = None
    restore: Restore | None = None
    volumes: Volumes | None = None
    waits: Waits | None = None
    include_status: bool | None = None
    keep_last_applied_configuration: bool | None = None
    finished_jobs: Literal["skip", "suspend"] | None = None
    checks: list[Check] | None = None


class RestorePlanDocument(Model):
    """A restore plan: what ``drkit restore plan|run`` and drills restore, from where, into what."""

    api_version: Literal["drkit.io/v1"]
    kind: Literal["RestorePlan"]
    metadata: Metadata
    spec: Spec
