"""Drill checks: what a restored cluster must show, declared in a restore plan's ``checks:`` list.

    specs = parse_checks(node, file="restore-plans/shop.yaml")      # ConfigError with file/line/field
    results = [run_check(spec, CheckContext(kube=..., resolve=..., snapshot=reader, ...)) for spec in specs]

Each item of ``checks:`` is a mapping with exactly one check key, plus an optional ``name`` and
``timeout`` (default 60s)::

    - exists: {kind: Deployment, name: web, namespace: shop}
    - count: {kind: ConfigMap, namespace: shop, min: 2}            # or equals: N; selector: a=b
    - available: {kind: Deployment, name: web, namespace: shop}     # or StatefulSet
    - configmapEquals: {name: settings, namespace: shop}            # data/binaryData == the snapshot's
    - secretEquals: {name: db, namespace: shop}                     # type/data == the snapshot's
    - volumeChecksum: {namespace: shop, pvc: data, path: www/index.html}
    - httpProbe: {namespace: shop, service: web, port: 80, path: /healthz, expectStatus: 200}
    - command: {run: [kubectl, get, pods, -A]}                      # KUBECONFIG=the scratch cluster
      timeout: 2m

Namespaces are the *snapshot's* namespaces: a drill that maps ``shop`` to ``drill-1a2b-shop`` checks
the mapped namespace. A check is polled until it passes, cannot pass any more, or its timeout runs
out; its result is ``pass``, ``fail`` or ``skip`` with a message. Messages never carry the value of a
Secret: only the names of the keys that differ.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import TypeAdapter
from pydantic.alias_generators import to_snake

from drkit.config import checkdoc
from drkit.config.checkdoc import CHECK_MODELS
from drkit.config.model import keys_by_path, timedelta_of
from drkit.config.translate import validate_node
from drkit.config.yamlsource import Node, Section
from drkit.deadline import Deadline
from drkit.errors import ConfigError, DrkitError
from drkit.kube.apply import Requester, get
from drkit.kube.errors import KubeAPIError, KubeNotFound
from drkit.kube.resource import Resource
from drkit.kube.waits import condition_for

DEFAULT_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 1.0
OUTPUT_TAIL = 2000

CHECK_TYPES = tuple(CHECK_MODELS)
COMMON_FIELDS = ("name", "timeout")
FIELDS: dict[str, tuple[str, ...]] = {kind: keys_by_path(model)[kind] for kind, model in CHECK_MODELS.items()}
"""Each check type and the keys of its mapping, from the document models (drkit.config.checkdoc)."""
AVAILABLE_KINDS = ("Deployment", "StatefulSet")


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckSpec:
    """One validated check. ``namespace`` is the snapshot's; ``where`` is ``file:line`` for messages."""

    type: str
    name: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: str = ""
    api_version: str | None = None
    object_name: str = ""
    namespace: str = ""
    selector: str = ""
    min: int | None = None
    equals: int | None = None
    pvc: str = ""
    path: str = ""
    service: str = ""
    port: str = ""
    scheme: str = ""
    expect_status: int = 200
    contains: str = ""
    argv: tuple[str, ...] = ()
    shell: bool = False
    where: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.name, "timeoutS": self.timeout_s}
        if self.where:
            out["where"] = self.where
        return out


@dataclass(frozen=True)
class CheckResult:
    spec: CheckSpec
    status: Status
    message: str
    duration_s: float
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAIL

    def to_json(self) -> dict[str, Any]:
        return {
            **self.spec.to_json(),
            "status": str(self.status),
            "message": self.message,
            "durationS": round(self.duration_s, 3),
            "attempts": self.attempts,
        }


# --- parsing ------------------------------------------------------------------------------------


def parse_checks(checks: object, *, file: str, path: str = "checks") -> tuple[CheckSpec, ...]:
    """Validate a ``checks:`` list. ``checks`` is a :class:`Node` from ``drkit.config.yamlsource``
    (errors then name the line) or plain data (errors name the field path only)."""
    if checks is None:
        return ()
    node = checks if isinstance(checks, Node) else _node(checks)
    try:
        return _parse_list(node, file, path)
    except ConfigError as exc:
        if exc.line == 0:  # plain data: no line to point at
            raise ConfigError(message_of(exc), file=file, field=exc.field, hint=exc.hint) from None
        raise


def message_of(exc: ConfigError) -> str:
    """The message of ``exc`` without the ``file:line: field: `` prefix ConfigError put in front of it."""
    text = exc.message
    where = []
    if exc.file:
        where.append(exc.file if exc.line is None else f"{exc.file}:{exc.line}")
    if exc.field:
        where.append(exc.field)
    for n in range(len(where), 0, -1):
        prefix = ": ".join(where[-n:]) + ": "
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _node(value: object) -> Node:
    if isinstance(value, Mapping):
        return Node({str(k): _node(v) for k, v in value.items()}, 0, 0, key_line=0)
    if isinstance(value, list | tuple):
        return Node([_node(v) for v in value], 0, 0)
    return Node(value, 0, 0, key_line=0)


def _parse_list(node: Node, file: str, path: str) -> tuple[CheckSpec, ...]:
    if node.value is None:
        return ()
    if not isinstance(node.value, list):
        raise ConfigError(
            f"expected a list of checks, got {node.kind}", file=file, line=node.line, field=path
        )
    specs = [_parse_one(item, file, f"{path}[{i}]") for i, item in enumerate(node.value)]
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(
                f"two checks are named {spec.name!r}",
                file=file,
                field=f"{spec.where or path}",
                hint="give one of them another `name:`",
            )
        seen[spec.name] = spec.where
    return tuple(specs)


def _parse_one(node: Node, file: str, path: str) -> CheckSpec:
    section = Section(node, path, file, (*CHECK_TYPES, *COMMON_FIELDS))
    types = [t for t in CHECK_TYPES if t in section.entries]
    if len(types) != 1:
        what = "no check type" if not types else f"several check types ({', '.join(types)})"
        raise ConfigError(
            f"{what}: give exactly one of {', '.join(CHECK_TYPES)}",
            file=file,
            line=node.line,
            field=path,
        )
    kind = types[0]
    item = validate_node(_CHECK, node, file=file, path=path, model=CHECK_MODELS[kind], skip=1)
    timeout = timedelta_of(item.timeout)  # the model checked its form; this its meaning
    timeout_s = DEFAULT_TIMEOUT_S if timeout is None else timeout.total_seconds()
    if timeout_s <= 0:
        raise section.error(section.require("timeout"), section.child("timeout"), "must be positive")
    body = section.required_section(kind, FIELDS[kind])
    where = f"{file}:{node.line}" if node.line else f"{file}: {path}"
    spec = CheckSpec(type=kind, name="", timeout_s=timeout_s, where=where)
    spec = _BUILDERS[kind](getattr(item, to_snake(kind)), body, spec)
    return _replace(spec, name=item.name or _default_name(spec))


_CHECK: TypeAdapter[checkdoc.Check] = TypeAdapter(checkdoc.Check)


def _replace(spec: CheckSpec, **changes: Any) -> CheckSpec:
    return replace(spec, **changes)


def _object(m: checkdoc.ObjectRef | checkdoc.Available, body: Section, spec: CheckSpec) -> CheckSpec:
    return _replace(
        spec,
        kind=m.kind,
        api_version=m.api_version if isinstance(m, checkdoc.ObjectRef) else None,
        object_name=m.name,
        namespace=m.namespace or "",
    )


def _count(m: checkdoc.Count, body: Section, spec: CheckSpec) -> CheckSpec:
    if m.min is None and m.equals is None:
        raise ConfigError(
            "give min or equals", file=body.file, line=body.node.line, field=body.path, hint="e.g. min: 1"
        )
    if m.min is not None and m.equals is not None:
        raise body.error(body.require("equals"), body.child("equals"), "give min or equals, not both")
    return _replace(
        spec,
        kind=m.kind,
        api_version=m.api_version,
        namespace=m.namespace or "",
        selector=m.selector or "",
        min=m.min,
        equals=m.equals,
    )


def _named(kind: str) -> Callable[[checkdoc.Named, Section, CheckSpec], CheckSpec]:
    def build(m: checkdoc.Named, body: Section, spec: CheckSpec) -> CheckSpec:
        return _replace(spec, kind=kind, object_name=m.name, namespace=m.namespace)

    return build


def _volume(m: checkdoc.VolumeChecksum, body: Section, spec: CheckSpec) -> CheckSpec:
    path = m.path.strip("/")
    if not path or any(part in ("", ".", "..") for part in path.split("/")):
        raise body.error(
            body.require("path"), body.child("path"), "expected a relative file path inside the volume"
        )
    return _replace(spec, namespace=m.namespace, pvc=m.pvc, path=path)


def _http(m: checkdoc.HttpProbe, body: Section, spec: CheckSpec) -> CheckSpec:
    path = m.path or "/"
    return _replace(
        spec,
        namespace=m.namespace,
        service=m.service,
        port=str(m.port),
        scheme=m.scheme or "",
        path=path if path.startswith("/") else f"/{path}",
        expect_status=200 if m.expect_status is None else m.expect_status,
        contains=m.contains or "",
    )


def _command(m: checkdoc.Command, body: Section, spec: CheckSpec) -> CheckSpec:
    if isinstance(m.run, str):
        if m.shell is False:
            raise body.error(
                body.require("run"),
                body.child("run"),
                "a string runs in a shell; give a list to run without one",
            )
        return _replace(spec, argv=(m.run,), shell=True)  # noqa: S604 - a string is a shell command
    return _replace(spec, argv=tuple(m.run), shell=bool(m.shell))


_BUILDERS: dict[str, Callable[[Any, Section, CheckSpec], CheckSpec]] = {
    "exists": _object,
    "count": _count,
    "available": _object,
    "configmapEquals": _named("ConfigMap"),
    "secretEquals": _named("Secret"),
    "statusEquals": _object,
    "volumeChecksum": _volume,
    "httpProbe": _http,
    "command": _command,
}
"""How each validated check item (its model in drkit.config.checkdoc) becomes a :class:`CheckSpec`:
the checks a model cannot say (one of min or equals, a path inside the volume) name their line."""


def _at(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _default_name(spec: CheckSpec) -> str:
    t = spec.type
    if t in ("exists", "available", "statusEquals"):
        return f"{t} {spec.kind} {_at(spec.namespace, spec.object_name)}"
    if t == "count":
        bound = f">= {spec.min}" if spec.min is not None else f"== {spec.equals}"
        where = f" in {spec.namespace}" if spec.namespace else ""
        sel = f" ({spec.selector})" if spec.selector else ""
        return f"count {spec.kind}{where}{sel} {bound}"
    if t in ("configmapEquals", "secretEquals"):
        return f"{t} {_at(spec.namespace, spec.object_name)}"
    if t == "volumeChecksum":
        return f"volumeChecksum {spec.namespace}/{spec.pvc}:{spec.path}"
    if t == "httpProbe":
        return f"httpProbe {spec.namespace}/{spec.service}:{spec.port}{spec.path}"
    return "command " + " ".join(spec.argv)[:60]


# --- running ------------------------------------------------------------------------------------


class SnapshotFiles(Protocol):
    """What checks read from the snapshot: :class:`drkit.repo.engine.snapshotreader.SnapshotReader` is one."""

    def exists(self, path: str) -> bool: ...

    def read_bytes(self, path: str) -> bytes: ...


class VolumeFiles(Protocol):
    """Read access to restored volume data in the scratch cluster (provider specific)."""

    def read_file(self, namespace: str, pvc: str, path: str) -> bytes | None: ...


Resolver = Callable[[str, "str | None"], Resource]
"""``(kind, apiVersion or None) -> Resource``; raises ConfigError for an unknown kind."""


@dataclass
class CheckContext:
    kube: Requester
    resolve: Resolver
    snapshot: SnapshotFiles | None = None
    namespace_map: Mapping[str, str] = field(default_factory=dict)
    kubeconfig: Path | None = None
    volumes: VolumeFiles | None = None
    service_proxy: bool = True
    service_proxy_reason: str = ""
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    interval: float = POLL_INTERVAL_S
    env: Mapping[str, str] | None = None

    def target_namespace(self, namespace: str) -> str:
        return self.namespace_map.get(namespace, namespace)


@dataclass(frozen=True)
class _Look:
    status: Status
    message: str
    final: bool = False  # True: looking again cannot change the answer


def run_check(spec: CheckSpec, ctx: CheckContext) -> CheckResult:
    started = ctx.clock()
    if spec.type == "command":
        look = _command_run(spec, ctx)
        return CheckResult(spec, look.status, look.message, ctx.clock() - started)
    polls = Deadline(spec.timeout_s, clock=ctx.clock).polls(ctx.interval, sleep=ctx.sleep)
    for attempts in polls:  # noqa: B007 - the count is reported after the loop
        try:
            look = _LOOKS[spec.type](spec, ctx)
        except (KubeAPIError, ConfigError) as exc:
            look = _Look(Status.FAIL, str(exc), final=isinstance(exc, ConfigError))
        except DrkitError as exc:
            look = _Look(Status.FAIL, str(exc), final=True)
        if look.status is not Status.FAIL or look.final:
            break
    message = look.message
    if look.status is Status.FAIL and not look.final:
        message = f"{message} (still so after {spec.timeout_s:g}s)"
    return CheckResult(spec, look.status, message, ctx.clock() - started, attempts)


def _get(ctx: CheckContext, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
    return get(ctx.kube, resource.path(namespace if resource.namespaced else None, name))


def _exists_look(spec: CheckSpec, ctx: CheckContext) -> _Look:
    resource = ctx.resolve(spec.kind, spec.api_version)
    ns = ctx.target_namespace(spec.namespace)
    shown = f"{resource.qualified}/{_at(ns if resource.namespaced else '', spec.object_name)}"
    if _get(ctx, resource, ns, spec.object_name) is None:
        return _Look(Status.FAIL, f"{shown} does not exist")
    return _Look(Status.PASS, f"{shown} exists")


def _count_look(spec: CheckSpec, ctx: CheckContext) -> _Look:
    resource = ctx.resolve(spec.kind, spec.api_version)
    ns = ctx.target_namespace(spec.namespace) if spec.namespace else None
    query = {"labelSelector": spec.selector} if spec.selector else None
    try:
        listed = json.loads(ctx.kube.request("GET", resource.path(ns), query=query).body)
    except KubeNotFound:
        listed = {"items": []}
    items = listed.get("items") or []
    n = len(items)
    where = f" in {ns}" if ns else ""
    if spec.equals is not None:
        ok, want = n == spec.equals, f"exactly {spec.equals}"
    else:
        ok, want = n >= (spec.min or 0), f"at least {spec.min}"
    text = f"{n} {resource.qualified}{where} (want {want})"
    return _Look(Status.PASS if ok else Status.FAIL, text)


def _available_look(spec: CheckSpec, ctx: CheckContext) -> _Look:
    resource = ctx.resolve(spec.kind, None)
    ns = ctx.target_namespace(spec.namespace)
    shown = f"{resource.qualified}/{_at(ns, spec.object_name)}"
    obj = _get(ctx, resource, ns, spec.object_name)
    if obj is None:
        return _Look(Status.FAIL, f"{shown} does not exist")
    condition = condition_for(spec.kind, "available")
    if condition is None:  # pragma: no cover - AVAILABLE_KINDS all have one
        return _Look(Status.FAIL, f"no readiness rule for {spec.kind}", final=True)
    seen = condition(obj)
    if seen.done:
        return _Look(Status.PASS, f"{shown} available: {seen.message}")
    return _Look(Status.FAIL, f"{shown} not available: {seen.message}", final=seen.final)


def snapshot_object_path(group: str, version: str, resource: str, namespace: str, name: str) -> str:
    """Where the capture stored an object (docs/format.md, "Cluster snapshots")."""
    return "/".join(
        ("resources", group or "core", version, resource, namespace or "_cluster", f"{name}.json")
    )


def _stored(spec: CheckSpec, ctx: CheckContext, resource: str) -> tuple[dict[str, Any] | None, str]:
    if ctx.snapshot is None:
        return None, "no snapshot to compare with"
    path = snapshot_object_path("", "v1", resource, spec.namespace, spec.object_name)
    if not ctx.snapshot.exists(path):
        return None, f"the snapshot has no {path}"
    return json.loads(ctx.snapshot.read_bytes(path)), path


def _fields_differ(want: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    problems = []
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    if missing:
        problems.append(f"missing keys {missing}")
    if extra:
        problems.append(f"extra keys {extra}")
    if changed:
        problems.append(f"different values for keys {changed}")
    return problems


def _configmap_look(spec: CheckSpec, ctx: CheckContext) -> _Look:
    want, where = _stored(spec, ctx, "configmaps")
    if want is None:
        return _Look(Status.FAIL, where, final=True)
    ns = ctx.target_namespace(spec.namespace)
    got = get(
        ctx.kube, f"/api/v1/namespaces/{quote(ns, safe='')}/configmaps/{quote(spec.object_name, safe='')}"
    )
    if got is None:
        return _Look(Status.FAIL, f"configmaps/{ns}/{spec.object_name} does not exist")
    problems = []
    for key in ("data", "binaryData"):
        for p in _fields_differ(want.get(key) or {}, got.get(key) or {}):
            problems.append(f"{key}: {p}")
    if problems:
        return _Look(
            Status.FAIL, f"configmaps/{ns}/{spec.object_name} differs from {where}: " + "; ".join(problems)
        )
    n = len(want.get("data") or {}) + len(want.get("binaryData") or {})
    return _Look(Status.PASS, f"configmaps/{ns}/{spec.object_name} equals the snapshot's ({_keys(n)})")


def _secret_look(spec: CheckSpec, ctx: CheckContext) -> _Look:
    want, where = _stored(spec, ctx, "secrets")
    if want is None:
        return _Look(Status.FAIL, where, final=True)
    ns = ctx.target_namespace(spec.namespace)
    got = get(ctx.kube, f"/api/v1/namespaces/{quote(ns, safe='')}/secrets/{quote(spec.object_name, safe='')}")
    shown = f"secrets/{ns}/{spec.object_name}"
    if got is None:
        return _Look(Status.FAIL, f"{shown} does not exist")
    problems = [f"data: {p}" for p in _fields_differ(want.get("data") or {}, got.get("data") or {})]
    if (want.get("type") or "Opaque") != (got.get("type") or "Opaque"):
        problems.append(f"type {got.get('type')!r} instead of {want.get('type')!r}")
    if problems:  # key names only: never a value
        return _Look(Status.FAIL, f"{shown} differs from the snapshot's: " + "; ".join(problems))
    return _Look(Status.PASS, f"{shown} equals the snapshot's ({_keys(len(want.get('data') or {}))})")


def _keys(n: int) -> str:
    return f"{n} key" if n == 1 else f"{n} keys"


def _status_look(spec: CheckSpec, ctx: CheckContext) -> _Look:
    """The restored object's ``status`` equals the one stored in the snapshot (``includeStatus``)."""
    resource = ctx.resolve(spec.kind, spec.api_version)
    if ctx.snapshot is None:
        return _Look(Status.FAIL, "no snapshot to compare with", final=True)
    path = snapshot_object_path(
        resource.group, resource.version, resource.resource, spec.namespace if resource.namespaced else "",
        spec.object_name,
    )  # fmt: skip
    if not ctx.snapshot.exists(path):
        return _Look(Status.FAIL, f"the snapshot has no {path}", final=True)
    want = json.loads(ctx.snapshot.read_bytes(path)).get("status") or {}
    ns = ctx.target_namespace(spec.namespace)
    shown = f"{resource.qualified}/{_at(ns if resource.namespaced else '', spec.object_name)}"
    got_obj = _get(ctx, resource, ns, spec.object_name)
    if got_obj is None:
        return _Look(Status.FAIL, f"{shown} does not exist")
    got = got_obj.get("status") or {}
    problems = _fields_differ(want, got)
    if problems:
        return _Look(Status.FAIL, f"status of {shown} differs from the snapshot's: " + "; ".join(problems))
    return _Look(
        Status.PASS,
        f"status of {shown} equals the snapshot's ({len(want)} field{'s' if len(want) != 1 else ''})",
    )


def _volume_look(spec: CheckSpec, ctx: CheckContext) -> _Look:
    stored = f"volumes/{spec.namespace}/{spec.pvc}/{spec.path}"
    if ctx.snapshot is None or not ctx.snapshot.exists(stored):
        return _Look(Status.FAIL, f"the snapshot has no {stored}", final=True)
    if ctx.volumes is None:
        return _Look(Status.SKIP, "this scratch cluster gives drkit no access to restored volume data", True)
    want = hashlib.sha256(ctx.snapshot.read_bytes(stored)).hexdigest()
    data = ctx.volumes.read_file(ctx.target_namespace(spec.namespace), spec.pvc, spec.path)
    if data is None:
        return _Look(Status.FAIL, f"{spec.path} is not in the restored volume {spec.pvc}")
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        return _Look(
            Status.FAIL, f"sha256 {got[:16]}... of the restored file, {want[:16]}... in the snapshot"
        )
    return _Look(Status.PASS, f"sha256 {want[:16]}... equal to the snapshot's")


def _http_look(spec: CheckSpec, ctx: CheckContext) -> _Look:
    if not ctx.service_proxy:
        return _Look(
            Status.SKIP, ctx.service_proxy_reason or "no service proxy in this scratch cluster", True
        )
    ns = ctx.target_namespace(spec.namespace)
    target = f"{spec.scheme}:{spec.service}:{spec.port}" if spec.scheme else f"{spec.service}:{spec.port}"
    url = f"/api/v1/namespaces/{quote(ns, safe='')}/services/{quote(target, safe=':')}/proxy{spec.path}"
    try:
        answer = ctx.kube.request("GET", url, accept="*/*")
        status, body = answer.status, answer.body
    except KubeAPIError as exc:
        status, body = exc.status, str(exc).encode()
    if status != spec.expect_status:
        return _Look(Status.FAIL, f"GET {url}: status {status}, want {spec.expect_status}: {body[:200]!r}")
    if spec.contains and spec.contains.encode() not in body:
        return _Look(Status.FAIL, f"GET {url}: the answer does not contain {spec.contains!r}")
    return _Look(Status.PASS, f"GET {url}: {status}")


def _tail(data: bytes | str | None) -> str:
    if not data:
        return ""
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    return text[-OUTPUT_TAIL:].strip()


def _command_run(spec: CheckSpec, ctx: CheckContext) -> _Look:
    env = dict(os.environ if ctx.env is None else ctx.env)
    if ctx.kubeconfig is not None:
        env["KUBECONFIG"] = str(ctx.kubeconfig)
    argv: str | Sequence[str] = spec.argv[0] if spec.shell and len(spec.argv) == 1 else list(spec.argv)
    try:
        done = subprocess.run(
            argv,
            shell=spec.shell,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=spec.timeout_s,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        return _Look(Status.FAIL, f"timed out after {spec.timeout_s:g}s; output: {_tail(exc.stdout)}", True)
    except OSError as exc:
        return _Look(Status.FAIL, f"cannot run {spec.argv[0]!r}: {exc.strerror or exc}", True)
    output = _tail(done.stdout + b"\n" + done.stderr)
    if done.returncode != 0:
        return _Look(Status.FAIL, f"exit code {done.returncode}: {output}", True)
    return _Look(Status.PASS, f"exit code 0: {output}" if output else "exit code 0", True)


_LOOKS: dict[str, Callable[[CheckSpec, CheckContext], _Look]] = {
    "exists": _exists_look,
    "count": _count_look,
    "available": _available_look,
    "configmapEquals": _configmap_look,
    "secretEquals": _secret_look,
    "statusEquals": _status_look,
    "volumeChecksum": _volume_look,
    "httpProbe": _http_look,
}


# --- kinds to resources -------------------------------------------------------------------------


def resolver(resources: Iterable[Resource]) -> Resolver:
    """A :data:`Resolver` over discovered resources: ``kind`` matched case-insensitively, the
    preferred (first) one unless ``apiVersion`` names another group/version."""
    by_kind: dict[str, list[Resource]] = {}
    for r in resources:
        if "/" not in r.resource:  # subresources
            by_kind.setdefault(r.kind.lower(), []).append(r)

    def resolve(kind: str, api_version: str | None) -> Resource:
        found = by_kind.get(kind.lower(), [])
        if api_version:
            found = [r for r in found if r.group_version == api_version]
        if not found:
            where = f" in {api_version}" if api_version else ""
            raise ConfigError(f"the scratch cluster serves no kind {kind!r}{where}", field="checks")
        return found[0]

    return resolve
