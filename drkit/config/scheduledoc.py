"""The schedule file format as a document model (``schedules/*.yaml``; docs/schedules.md): the source
of ``drkit schema schedule`` and of the keys :mod:`drkit.config.schedule` allows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from drkit.config.limits import MAX_KEEP_COUNT
from drkit.config.model import (
    AnyCase,
    ClusterResources,
    Duration,
    Id,
    Metadata,
    Model,
    Mover,
    Parallel,
    Repository,
    Text,
)
from drkit.config.yamlsource import kind_of


def _count(value: Any) -> Any:
    """The loader's rules for a retention count, in its words."""
    if isinstance(value, str) and value.strip().lower() in ("unlimited", "all"):
        return value.strip().lower()
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("count", f"expected a count or 'unlimited', got {kind_of(value)}")
    if value < 0:
        raise PydanticCustomError("count", f"a count cannot be negative: {value}")
    if value > MAX_KEEP_COUNT:
        raise PydanticCustomError("count", f"a count must be at most {MAX_KEEP_COUNT}, got {value}")
    return value


Count = Annotated[
    Annotated[int, Field(ge=0, le=MAX_KEEP_COUNT)] | Annotated[Literal["unlimited", "all"], AnyCase()],
    BeforeValidator(_count),
    Field(description="how many to keep, or unlimited"),
]


def _endpoint(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith(("https://", "http://")):
        raise PydanticCustomError("endpoint", f"{value!r} is not an http(s):// URL")
    return value


Endpoint = Annotated[str, Field(pattern=r"^https?://"), BeforeValidator(_endpoint)]


class Kube(Model):
    kubeconfig: Text | None = None
    context: Text | None = None


class Etcd(Model):
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]
    ca_file: Text | None = None
    cert_file: Text | None = None
    key_file: Text | None = None
    kubeadm: bool | None = None


class Resources(Model):
    enabled: bool | None = None
    include_namespaces: list[Text] | None = None
    exclude_namespaces: list[Text] | None = None
    include_resources: list[Text] | None = None
    exclude_resources: list[Text] | None = None
    selector: Text | None = None
    namespace_selector: Text | None = None
    include_cluster_resources: ClusterResources | None = None


class Volumes(Model):
    mode: Annotated[Text, Field(description="all, none, or a label selector of the claims")] | None = None
    mover: Mover | None = None
    path_map: list[Text] | None = None
    snapshot_class: Text | None = None
    image: Text | None = None
    mover_secret: Text | None = None
    timeout: Duration | None = None
    run_as_user: Id | None = None
    fs_group: Id | None = None
    read_as_root: bool | None = None
    hooks: bool | None = None
    parallel: Parallel | None = None


class Retention(Model):
    keep_last: Count | None = None
    keep_hourly: Count | None = None
    keep_daily: Count | None = None
    keep_weekly: Count | None = None
    keep_monthly: Count | None = None
    keep_yearly: Count | None = None
    keep_within: Duration | None = None
    keep_tags: list[Text] | None = None


class Lock(Model):
    mode: Annotated[Literal["compliance", "governance"], AnyCase()] | None = None
    period: Duration | None = None


def _percent(value: Any) -> Any:
    """The loader's rules for a percentage (``10``, ``2.5``, ``"10%"``), in its words; a number."""
    number = value
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            number = float(value.strip()[:-1])
        except ValueError:
            number = value
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise PydanticCustomError("percent", f"expected a percentage from 0 to 100, got {kind_of(value)}")
    if not 0 <= number <= 100:  # also refuses NaN
        raise PydanticCustomError("percent", f"a percentage must be from 0 to 100, got {number:g}")
    return float(number)


Percent = Annotated[
    Annotated[float, Field(ge=0, le=100)] | Annotated[str, Field(pattern=r"^\s*[0-9.]+\s*%\s*$")],
    BeforeValidator(_percent),
    Field(description="a percentage from 0 to 100 (10 or '10%')"),
]


class Verify(Model):
    cron: Text
    read_data_percent: Percent | None = None


class Drill(Model):
    cron: Text
    plan: Text


class Spec(Model):
    cron: Annotated[Text, Field(description="five cron fields or a macro such as @daily")]
    timezone: Text | None = None
    jitter: Duration | None = None
    repository: Repository
    kube: Kube | None = None
    etcd: Etcd | None = None
    resources: Resources | None = None
    volumes: Volumes | None = None
    tags: list[Text] | None = None
    retention: Retention | None = None
    lock: Lock | None = None
    verify: Verify | None = None
    drill: Drill | None = None


class ScheduleDocument(Model):
    """A schedule: what ``drkit backup run`` captures, plus the clock that runs it (docs/schedules.md)."""

    api_version: Literal["drkit.io/v1"]
    kind: Literal["Schedule"]
    metadata: Metadata
    spec: Spec
