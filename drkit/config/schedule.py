"""Schedules: the declarative form of ``drkit backup run`` plus its clock (``schedules/*.yaml``).

A schedule file is one versioned YAML document (the format is documented in ``docs/schedules.md``)::

    apiVersion: drkit.io/v1
    kind: Schedule
    metadata:
      name: nightly
    spec:
      cron: "0 2 * * *"
      repository:
        url: s3://backups/prod
      ...

:func:`load_schedule` turns a file into a frozen :class:`Schedule`; every problem is a
:class:`~drkit.errors.ConfigError` that names the file, the line and the dotted field path. Keys are
camelCase. Relative paths are taken relative to the file's directory. Nothing is expanded: an
environment-variable reference is refused, and secrets stay in files (``passwordFile``, ``keyFile``).

Cron expressions have five fields and are evaluated by APScheduler 3's ``CronTrigger`` in the
schedule's time zone. Two differences from crontab would silently change when a job runs, so they
are refused: numeric days of the week (APScheduler counts 0 as Monday, crontab as Sunday; write
``mon-fri``), and restricting both the day of the month and the day of the week (crontab runs when
either matches, APScheduler when both do). :func:`cron_trigger` is the one place that builds a trigger,
for this module and for the daemon.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TypeVar

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, TypeAdapter
from pydantic.alias_generators import to_snake

from drkit.config import model, scheduledoc
from drkit.config.capture import CaptureSettings, EtcdSettings, KubeSettings, ResourceSettings, VolumeSettings
from drkit.config.durations import format_duration
from drkit.config.limits import MIN_LOCK_RETENTION
from drkit.config.model import keys_by_path, timedelta_of
from drkit.config.repository import RepositorySettings, repository_settings
from drkit.config.scheduledoc import ScheduleDocument
from drkit.config.translate import validate_node
from drkit.config.yamlsource import Node, Section, document_sections, load_yaml_file, suggest
from drkit.errors import ConfigError
from drkit.storage.base import LockMode

API_VERSION = "drkit.io/v1"
KIND = "Schedule"
UNLIMITED = -1
"""A retention count that keeps every bucket (``unlimited`` in a file; the repository's ``UNLIMITED``)."""

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NAME_MAX = 63
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * sun",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class RetentionSettings:
    """Raw retention values; the repository layer turns them into a ``Policy``. Counts are ``>= 0``
    or :data:`UNLIMITED`; ``None`` means "not given". ``keep_within`` is a checked duration string."""

    keep_last: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    keep_within: str | None = None
    keep_tags: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """No rule given: nothing is ever pruned."""
        return self == RetentionSettings()


@dataclass(frozen=True)
class LockSettings:
    mode: LockMode | None = None  # None: the repository's own setting
    period: timedelta | None = None  # None: the repository's own setting


@dataclass(frozen=True)
class VerifySettings:
    cron: str
    read_data_percent: float = 0.0


@dataclass(frozen=True)
class DrillSettings:
    cron: str
    plan: Path


@dataclass(frozen=True)
class Schedule:
    name: str
    source: Path  # the file it was loaded from
    cron: str  # five fields (a macro such as @daily is stored expanded)
    timezone: str  # an IANA zone name, "UTC" by default
    jitter: timedelta
    repository: RepositorySettings
    kube: KubeSettings
    etcd: EtcdSettings | None
    resources: ResourceSettings
    volumes: VolumeSettings
    tags: tuple[str, ...]
    retention: RetentionSettings
    lock: LockSettings
    verify: VerifySettings | None
    drill: DrillSettings | None

    @property
    def tz(self) -> tzinfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def capture(self) -> CaptureSettings:
        """What this schedule's backups capture: the request ``drkit backup run`` fills from its options."""
        return CaptureSettings(kube=self.kube, etcd=self.etcd, resources=self.resources, volumes=self.volumes)


# -- cron -----------------------------------------------------------------------------------------


def expand_cron(expr: str) -> str:
    """``expr`` with its macro (``@daily``, ...) expanded and whitespace normalised. ``ValueError``
    for a cron expression APScheduler would read differently from crontab (see the module doc)."""
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text not in _MACROS:
            known = ", ".join(_MACROS)
            raise ValueError(f"unknown macro {text!r} (known: {known})")
        return _MACROS[text]
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    day, weekday = fields[2], fields[4]
    if any(c.isdigit() for c in weekday):
        raise ValueError(
            f"day of week {weekday!r} is numeric: APScheduler counts 0 as Monday, crontab as Sunday; "
            "write names such as mon-fri or sun"
        )
    if day != "*" and weekday != "*":
        raise ValueError(
            "both day of month and day of week are restricted: crontab runs when either matches, "
            "APScheduler only when both do; use two schedules or move the condition into one field"
        )
    return text


def cron_trigger(expr: str, timezone: str | tzinfo, jitter: timedelta | None = None) -> CronTrigger:
    """The APScheduler trigger for a cron expression in ``timezone``. ``ValueError`` with
    APScheduler's message (or the checks of :func:`expand_cron`) for a bad expression."""
    tz = zoneinfo.ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    trigger = CronTrigger.from_crontab(expand_cron(expr), timezone=tz)
    if jitter:
        trigger.jitter = int(jitter.total_seconds())
    return trigger


def next_fire_times(expr: str, timezone: str | tzinfo, count: int, now: datetime) -> list[datetime]:
    """The next ``count`` times (aware, in ``timezone``) at or after ``now`` that ``expr`` fires, without
    jitter. ``now`` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    trigger = cron_trigger(expr, timezone)
    times: list[datetime] = []
    previous: datetime | None = None
    moment = now
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:  # pragma: no cover - a cron trigger without an end date never ends
            break
        times.append(fire)
        previous = fire
        moment = fire.astimezone(UTC) + timedelta(seconds=1)  # wall-clock arithmetic would repeat a fold
    return times


def next_runs(schedule: Schedule, count: int, now: datetime) -> list[datetime]:
    """The next ``count`` backup times of ``schedule`` at or after ``now`` (aware), before jitter."""
    return next_fire_times(schedule.cron, schedule.timezone, count, now)


# -- loading --------------------------------------------------------------------------------------

SCHEMA: dict[str, tuple[str, ...]] = keys_by_path(ScheduleDocument)
"""Every mapping of the file format (by dotted path) and the keys it allows, from the document model
(:class:`~drkit.config.scheduledoc.ScheduleDocument`); the docs test reads it."""

_TOP = SCHEMA[""]
_METADATA = SCHEMA["metadata"]
_SPEC = SCHEMA["spec"]
_RETENTION = SCHEMA["spec.retention"]
_VERIFY = SCHEMA["spec.verify"]
_DRILL = SCHEMA["spec.drill"]

M = TypeVar("M", bound=BaseModel)


@functools.cache
def _adapter(model: type[M]) -> TypeAdapter[M]:
    return TypeAdapter(model)


CAPTURE_KEYS: dict[str, str] = {
    "kube.kubeconfig": "spec.kube.kubeconfig",
    "kube.context": "spec.kube.context",
    "etcd.endpoints": "spec.etcd.endpoints",
    "etcd.ca_file": "spec.etcd.caFile",
    "etcd.cert_file": "spec.etcd.certFile",
    "etcd.key_file": "spec.etcd.keyFile",
    "etcd.kubeadm": "spec.etcd.kubeadm",
    "resources.enabled": "spec.resources.enabled",
    "resources.include_namespaces": "spec.resources.includeNamespaces",
    "resources.exclude_namespaces": "spec.resources.excludeNamespaces",
    "resources.include_resources": "spec.resources.includeResources",
    "resources.exclude_resources": "spec.resources.excludeResources",
    "resources.selector": "spec.resources.selector",
    "resources.include_cluster_resources": "spec.resources.includeClusterResources",
    "resources.namespace_selector": "spec.resources.namespaceSelector",
    "volumes.mode": "spec.volumes.mode",
    "volumes.mover": "spec.volumes.mover",
    "volumes.path_map": "spec.volumes.pathMap",
    "volumes.snapshot_class": "spec.volumes.snapshotClass",
    "volumes.image": "spec.volumes.image",
    "volumes.secret": "spec.volumes.moverSecret",
    "volumes.timeout": "spec.volumes.timeout",
    "volumes.run_as_user": "spec.volumes.runAsUser",
    "volumes.fs_group": "spec.volumes.fsGroup",
    "volumes.read_as_root": "spec.volumes.readAsRoot",
    "volumes.hooks": "spec.volumes.hooks",
    "volumes.parallel": "spec.volumes.parallel",
}
"""Each field of :class:`~drkit.config.capture.CaptureSettings` and the schedule key that sets it (the
command line's are ``CAPTURE_FLAGS`` in ``drkit/cli/backup.py``; a test checks both are complete)."""


def load_schedule(path: Path) -> Schedule:
    """Read and validate one schedule file. ``ConfigError`` naming file, line and field on any problem."""
    root = load_yaml_file(path)
    return _Loader(path, root).schedule()


def load_schedules(directory: Path) -> list[Schedule]:
    """Every ``*.yaml`` and ``*.yml`` file directly in ``directory`` (hidden files skipped), sorted by
    file name. Schedule names must be unique: a second file with a name already taken is an error
    that names both files."""
    if not directory.exists():
        raise ConfigError("no such directory", file=str(directory))
    if not directory.is_dir():
        raise ConfigError("not a directory", file=str(directory))
    files = sorted(
        p
        for p in directory.iterdir()
        if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p.is_file()
    )
    schedules: list[Schedule] = []
    seen: dict[str, Schedule] = {}
    for file in files:
        schedule = load_schedule(file)
        first = seen.get(schedule.name)
        if first is not None:
            raise ConfigError(
                f"schedule name {schedule.name!r} is already used by {first.source}",
                file=str(file),
                line=_name_line(file),
                field="metadata.name",
                hint="each schedule needs its own name (it labels metrics and names run records)",
            )
        seen[schedule.name] = schedule
        schedules.append(schedule)
    return schedules


def _name_line(file: Path) -> int | None:
    metadata = load_yaml_file(file).value
    node = metadata.get("metadata") if isinstance(metadata, dict) else None
    name = node.value.get("name") if node is not None and isinstance(node.value, dict) else None
    return name.line if name is not None else None


class _Loader:
    def __init__(self, path: Path, root: Node) -> None:
        self.path = path
        self.file = str(path)
        self.base = path.parent
        self.root = root

    def schedule(self) -> Schedule:
        metadata, spec = document_sections(
            self.root,
            self.file,
            api_version=API_VERSION,
            kind=KIND,
            known=_TOP,
            metadata=_METADATA,
            spec=_SPEC,
            what="a schedule is apiVersion, kind, metadata and spec",
            docs="docs/schedules.md",
        )
        name = self._name(metadata)
        self.doc: scheduledoc.Spec = validate_node(
            _adapter(scheduledoc.Spec), spec.node, file=self.file, path="spec", model=scheduledoc.Spec
        )
        timezone = self._timezone(spec)
        return Schedule(
            name=name,
            source=self.path,
            cron=self._cron(spec, self.doc.cron, timezone),
            timezone=timezone,
            jitter=timedelta_of(self.doc.jitter) or timedelta(0),
            repository=self._repository(spec),
            kube=self._kube(spec),
            etcd=self._etcd(spec),
            resources=self._resources(spec),
            volumes=self._volumes(spec),
            tags=tuple(self.doc.tags or ()),
            retention=self._retention(spec),
            lock=self._lock(spec),
            verify=self._verify(spec, timezone),
            drill=self._drill(spec, timezone),
        )

    def _name(self, metadata: Section) -> str:
        node = metadata.require("name")
        name = metadata.text(node, "metadata.name")
        if len(name) > _NAME_MAX or not _NAME.fullmatch(name):
            raise metadata.error(
                node,
                "metadata.name",
                f"{name!r} is not a valid name",
                f"lower-case letters, digits and '-', starting and ending with a letter or digit, "
                f"at most {_NAME_MAX} characters (a DNS label: it labels metrics and names run records)",
            )
        return name

    def _timezone(self, spec: Section) -> str:
        name = self.doc.timezone
        if name is None:
            return "UTC"
        node = spec.require("timezone")
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            guess = suggest(name, sorted(zoneinfo.available_timezones()))
            message = f"unknown time zone {name!r}"
            if guess:
                message += f"; did you mean {guess!r}?"
            raise spec.error(
                node, "spec.timezone", message, "an IANA name such as UTC or Europe/Berlin"
            ) from None
        return name

    def _cron(self, section: Section, expr: str, timezone: str) -> str:
        """``expr`` (``cron`` of ``section``, as the model read it) checked as APScheduler reads it."""
        field, node = section.child("cron"), section.require("cron")
        try:
            cron_trigger(expr, timezone)
        except ValueError as exc:
            raise section.error(
                node,
                field,
                f"invalid cron expression {expr!r}: {exc}",
                "five fields: minute hour day-of-month month day-of-week, e.g. '0 2 * * *' or '30 3 * * sun'",
            ) from None
        return expand_cron(expr)

    def _repository(self, spec: Section) -> RepositorySettings:
        return repository_settings(
            self.doc.repository, spec.require("repository"), base=self.base, file=self.file
        )

    def _section(self, spec: Section, key: str, model: type[M]) -> tuple[M, Section] | None:
        """``spec.<key>`` as its document model validated it, and a Section for the lines of the
        checks a model cannot make; ``None`` when absent or null."""
        node = spec.get(key)
        if node is None:
            return None
        value = getattr(self.doc, to_snake(key))
        assert isinstance(value, model)
        return value, Section(node, f"spec.{key}", self.file, SCHEMA[f"spec.{key}"])

    def _path(self, text: str | None) -> Path | None:
        return None if text is None else self.base / text

    def _kube(self, spec: Section) -> KubeSettings:
        found = self._section(spec, "kube", scheduledoc.Kube)
        if found is None:
            return KubeSettings()
        kube, _ = found
        return KubeSettings(kubeconfig=self._path(kube.kubeconfig), context=kube.context)

    def _etcd(self, spec: Section) -> EtcdSettings | None:
        found = self._section(spec, "etcd", scheduledoc.Etcd)
        if found is None:
            return None
        e, etcd = found
        settings = EtcdSettings(
            endpoints=tuple(e.endpoints),
            ca_file=self._path(e.ca_file),
            cert_file=self._path(e.cert_file),
            key_file=self._path(e.key_file),
            kubeadm=bool(e.kubeadm),
        )
        if settings.kubeadm:
            for key in ("caFile", "certFile", "keyFile"):
                given = etcd.get(key)
                if given is not None:
                    raise etcd.error(
                        given,
                        etcd.child(key),
                        "kubeadm: true already chooses the certificates",
                        "give one or the other",
                    )
        if (settings.cert_file is None) != (settings.key_file is None):
            key = "keyFile" if settings.key_file is None else "certFile"
            present = etcd.get("certFile" if key == "keyFile" else "keyFile")
            assert present is not None
            raise etcd.error(present, etcd.child(key), "certFile and keyFile go together")
        return settings

    def _resources(self, spec: Section) -> ResourceSettings:
        found = self._section(spec, "resources", scheduledoc.Resources)
        if found is None:
            return ResourceSettings()
        r, _ = found
        mode = r.include_cluster_resources
        return ResourceSettings(
            enabled=r.enabled is not False,
            include_namespaces=tuple(r.include_namespaces or ()),
            exclude_namespaces=tuple(r.exclude_namespaces or ()),
            include_resources=tuple(r.include_resources or ()),
            exclude_resources=tuple(r.exclude_resources or ()),
            selector=r.selector,
            include_cluster_resources="auto" if mode is None else str(mode).lower(),
            namespace_selector=r.namespace_selector,
        )

    def _volumes(self, spec: Section) -> VolumeSettings:
        found = self._section(spec, "volumes", scheduledoc.Volumes)
        if found is None:
            return VolumeSettings()
        v, vol = found
        timeout = timedelta_of(v.timeout)
        if timeout is not None and timeout <= timedelta(0):
            raise vol.error(vol.require("timeout"), "spec.volumes.timeout", "a timeout must be longer than 0")
        if v.run_as_user == 0 and not v.read_as_root:
            raise vol.error(
                vol.require("runAsUser"),
                "spec.volumes.runAsUser",
                "user 0 is root, which the mover does not run as",
                "readAsRoot: true reads files of any owner as root with only CAP_DAC_READ_SEARCH",
            )
        mode = (v.mode or "none").strip()
        return VolumeSettings(
            mode=mode.lower() if mode.lower() in ("all", "none") else mode,
            mover=v.mover or "local",
            path_map=tuple(v.path_map or ()),
            snapshot_class=v.snapshot_class,
            image=v.image,
            secret=v.mover_secret,
            timeout=timeout,
            run_as_user=v.run_as_user,
            fs_group=v.fs_group,
            read_as_root=bool(v.read_as_root),
            hooks=v.hooks is not False,
            parallel=v.parallel or VolumeSettings.parallel,
        )

    def _retention(self, spec: Section) -> RetentionSettings:
        found = self._section(spec, "retention", scheduledoc.Retention)
        if found is None:
            return RetentionSettings()
        r, _ = found

        def count(value: int | str | None) -> int | None:
            return UNLIMITED if isinstance(value, str) else value

        return RetentionSettings(
            keep_last=count(r.keep_last),
            keep_hourly=count(r.keep_hourly),
            keep_daily=count(r.keep_daily),
            keep_weekly=count(r.keep_weekly),
            keep_monthly=count(r.keep_monthly),
            keep_yearly=count(r.keep_yearly),
            keep_within=None if r.keep_within is None else str(r.keep_within),
            keep_tags=tuple(r.keep_tags or ()),
        )

    def _lock(self, spec: Section) -> LockSettings:
        found = self._section(spec, "lock", scheduledoc.Lock)
        if found is None:
            return LockSettings()
        m, lock = found
        period = timedelta_of(m.period)
        if period is not None and period < MIN_LOCK_RETENTION:
            raise lock.error(
                lock.require("period"),
                "spec.lock.period",
                f"the lock period must be at least {format_duration(MIN_LOCK_RETENTION)} (longer than 0)",
            )
        return LockSettings(mode=None if m.mode is None else LockMode(m.mode), period=period)

    def _verify(self, spec: Section, timezone: str) -> VerifySettings | None:
        found = self._section(spec, "verify", scheduledoc.Verify)
        if found is None:
            return None
        v, verify = found
        cron = self._cron(verify, v.cron, timezone)
        return VerifySettings(cron=cron, read_data_percent=float(v.read_data_percent or 0.0))

    def _drill(self, spec: Section, timezone: str) -> DrillSettings | None:
        found = self._section(spec, "drill", scheduledoc.Drill)
        if found is None:
            return None
        d, drill = found
        cron = self._cron(drill, d.cron, timezone)
        return DrillSettings(cron=cron, plan=self.base / d.plan)


# -- rendering ------------------------------------------------------------------------------------


def to_document(schedule: Schedule) -> dict[str, object]:
    """``schedule`` as a YAML-ready document in the file format, every path absolute and every default
    written out (unset optional values left out). Loading it gives back an equal schedule (but for
    ``source``); ``daemon --check`` can print it as the schedule drkit understood. Built as the
    document model (:class:`~drkit.config.scheduledoc.ScheduleDocument`, so it is valid by
    construction) and dumped by its camelCase keys."""
    repo, res, vol, ret = schedule.repository, schedule.resources, schedule.volumes, schedule.retention
    s3 = _doc(
        model.S3,
        endpoint=repo.s3_endpoint,
        region=repo.s3_region,
        path_style=repo.s3_path_style,
        ca_bundle=repo.s3_ca_bundle,
        profile=repo.s3_profile,
    )
    etcd = schedule.etcd
    spec = _doc(
        scheduledoc.Spec,
        cron=schedule.cron,
        timezone=schedule.timezone,
        jitter=format_duration(schedule.jitter),
        repository=_doc(
            model.Repository,
            url=repo.url,
            password_file=repo.password_file,
            key_file=repo.key_file,
            s3=s3 if s3.model_dump(exclude_none=True) else None,
        ),
        kube=_doc(scheduledoc.Kube, kubeconfig=schedule.kube.kubeconfig, context=schedule.kube.context),
        etcd=None
        if etcd is None
        else _doc(
            scheduledoc.Etcd,
            endpoints=list(etcd.endpoints),
            ca_file=etcd.ca_file,
            cert_file=etcd.cert_file,
            key_file=etcd.key_file,
            kubeadm=etcd.kubeadm,
        ),
        resources=_doc(
            scheduledoc.Resources,
            enabled=res.enabled,
            include_namespaces=list(res.include_namespaces),
            exclude_namespaces=list(res.exclude_namespaces),
            include_resources=list(res.include_resources),
            exclude_resources=list(res.exclude_resources),
            selector=res.selector,
            namespace_selector=res.namespace_selector,
            include_cluster_resources=res.include_cluster_resources,
        ),
        volumes=_doc(
            scheduledoc.Volumes,
            mode=vol.mode,
            mover=vol.mover if vol.mover != "local" else None,
            path_map=list(vol.path_map),
            snapshot_class=vol.snapshot_class,
            image=vol.image,
            mover_secret=vol.secret,
            timeout=None if vol.timeout is None else format_duration(vol.timeout),
            run_as_user=vol.run_as_user,
            fs_group=vol.fs_group,
            read_as_root=vol.read_as_root or None,
            hooks=None if vol.hooks else False,
            parallel=None if vol.parallel == VolumeSettings.parallel else vol.parallel,
        ),
        tags=list(schedule.tags),
        retention=_doc(
            scheduledoc.Retention,
            **{name: _count_text(getattr(ret, name)) for name in _COUNT_FIELDS},
            keep_within=ret.keep_within,
            keep_tags=list(ret.keep_tags),
        ),
        lock=_doc(
            scheduledoc.Lock,
            mode=None if schedule.lock.mode is None else schedule.lock.mode.value,
            period=None if schedule.lock.period is None else format_duration(schedule.lock.period),
        ),
        verify=None
        if schedule.verify is None
        else _doc(
            scheduledoc.Verify, cron=schedule.verify.cron, read_data_percent=schedule.verify.read_data_percent
        ),
        drill=None
        if schedule.drill is None
        else _doc(scheduledoc.Drill, cron=schedule.drill.cron, plan=schedule.drill.plan),
    )
    document = _doc(
        ScheduleDocument,
        api_version=API_VERSION,
        kind=KIND,
        metadata=_doc(model.Metadata, name=schedule.name),
        spec=spec,
    )
    return document.model_dump(by_alias=True, exclude_none=True)


def _doc(cls: type[M], **values: object) -> M:
    """The document model ``cls`` of ``values`` by their Python names (paths as strings; ``None``
    left out), validated like a file."""
    given = {k: str(v) if isinstance(v, Path) else v for k, v in values.items() if v is not None}
    return cls.model_validate(given, by_name=True)


_COUNT_FIELDS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


def _count_text(value: int | None) -> int | str | None:
    return "unlimited" if value == UNLIMITED else value


__all__: Sequence[str] = (
    "API_VERSION",
    "CAPTURE_KEYS",
    "KIND",
    "SCHEMA",
    "UNLIMITED",
    "CaptureSettings",
    "DrillSettings",
    "EtcdSettings",
    "KubeSettings",
    "LockSettings",
    "RepositorySettings",
    "ResourceSettings",
    "RetentionSettings",
    "Schedule",
    "VerifySettings",
    "VolumeSettings",
    "cron_trigger",
    "expand_cron",
    "load_schedule",
    "load_schedules",
    "next_fire_times",
    "next_runs",
    "to_document",
)
