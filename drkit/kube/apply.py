"""Writing raw objects: server-side apply, create-only, get and exists, on API paths built from
group/version/resource/namespace/name. Bodies are sent as the bytes given (JSON; JSON is YAML, so
it is a valid ``application/apply-patch+yaml`` body).

    path = object_path("apps", "v1", "deployments", "shop", "web")
    applied = server_side_apply(kube, path, body)              # field manager "drkit"
    applied = server_side_apply(kube, path, body, force=True)  # take over fields other managers own

Errors are the client's typed errors (``drkit.kube.errors``), refined here for writes:

* :class:`KubeConflict` (409): an apply conflict (another field manager owns a field; ``force``
  takes it over) or, for a create, the object exists already;
* :class:`KubeInvalid` (422): the API server refused the object; ``causes`` names each field;
* ``KubeForbidden`` (401/403), ``KubeNotFound`` (404: the resource type is not served, e.g. its CRD
  is missing, or the namespace does not exist), ``KubeUnavailable`` (no answer, 429, 5xx).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from drkit.kube.client import JSON, RawResponse
from drkit.kube.errors import KubeAPIError, KubeNotFound

FIELD_MANAGER = "drkit"
APPLY_PATCH = "application/apply-patch+yaml"
# Names only, not whole objects: what ``existing_names`` lists.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
PAGE_SIZE = 500


class Requester(Protocol):
    """What these functions need of a client: :class:`drkit.kube.client.KubeClient` is one."""

    def request(
        self,
        verb: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        accept: str = JSON,
        content_type: str = JSON,
    ) -> RawResponse: ...


# --- errors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldCause:
    """One complaint of a 422 answer: ``spec.replicas: Invalid value: -1: must be >= 0``."""

    field: str
    reason: str  # "Invalid value", "Required value", "Unsupported value", ...
    message: str  # the whole complaint as the API server wrote it

    def __str__(self) -> str:
        return self.message


class KubeConflict(KubeAPIError):
    """409: an apply conflict with another field manager, or a create of an object that exists."""


class KubeInvalid(KubeAPIError):
    """422: the object is invalid. ``causes`` has one entry per field the API server named."""

    def __init__(self, message: str, *, causes: tuple[FieldCause, ...] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.causes = causes

    @property
    def fields(self) -> list[str]:
        return [c.field for c in self.causes]


# The reasons of k8s.io/apimachinery/pkg/util/validation/field (ErrorType.String()).
_REASONS = (
    "Invalid value",
    "Required value",
    "Unsupported value",
    "Duplicate value",
    "Forbidden",
    "Too long",
    "Too many",
    "Not found",
    "Internal error",
    "Invalid type",
)
_CAUSE = re.compile(r"(?:^|\[|, )([A-Za-z][A-Za-z0-9_.\-/\[\]\"']*): (" + "|".join(_REASONS) + r")\b")


def field_causes(api_message: str) -> tuple[FieldCause, ...]:
    """The per-field complaints in a 422 message such as ``Deployment.apps "web" is invalid:
    [spec.replicas: Invalid value: -1: ..., spec.selector: Required value]``."""
    _, sep, rest = api_message.partition(" is invalid: ")
    text = rest if sep else api_message
    matches = list(_CAUSE.finditer(text))
    causes = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        whole = text[m.start() : end].lstrip("[, ").rstrip("], ")
        causes.append(FieldCause(m.group(1), m.group(2), whole))
    return tuple(causes)


# details.causes[].reason (k8s.io/apimachinery metav1.CauseType) -> the reason as messages spell it.
_CAUSE_TYPES = {
    "FieldValueInvalid": "Invalid value",
    "FieldValueRequired": "Required value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueNotFound": "Not found",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid type",
}


def status_field_causes(causes: tuple[tuple[str, str, str], ...]) -> tuple[FieldCause, ...]:
    """The complaints of a 422 from its Status' ``details.causes`` (the structured form; the message
    text is parsed only when an answer has none)."""
    out = []
    for field, reason, message in causes:
        if not field:
            continue
        said = _CAUSE_TYPES.get(reason, reason)
        text = message if message.startswith(f"{field}:") else f"{field}: {message}"
        out.append(FieldCause(field, said, text))
    return tuple(out)


def refine(exc: KubeAPIError) -> KubeAPIError:
    """A 409 as :class:`KubeConflict`, a 422 as :class:`KubeInvalid`; any other error as it is."""
    kwargs: dict[str, Any] = {
        "status": exc.status,
        "verb": exc.verb,
        "path": exc.path,
        "reason": exc.reason,
        "api_message": exc.api_message,
        "hint": exc.hint,
        "status_causes": exc.status_causes,
    }
    if exc.status == 409 and not isinstance(exc, KubeConflict):
        if exc.reason == "AlreadyExists":
            hint = "the object exists already: apply it instead of creating it"
        else:
            hint = "another field manager owns these fields; apply with force to take them over"
        kwargs["hint"] = exc.hint or hint
        return KubeConflict(exc.message, **kwargs)
    if exc.status == 422 and not isinstance(exc, KubeInvalid):
        causes = status_field_causes(exc.status_causes) or field_causes(exc.api_message)
        return KubeInvalid(exc.message, causes=causes, **kwargs)
    return exc


# --- paths --------------------------------------------------------------------------------------


def collection_path(group: str, version: str, resource: str, namespace: str = "") -> str:
    """``/api/v1/namespaces/ns/configmaps`` or ``/apis/g/v/res`` (cluster-scoped: ``namespace=""``)."""
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if namespace:
        base = f"{base}/namespaces/{_segment(namespace)}"
    return f"{base}/{resource}"


def object_path(group: str, version: str, resource: str, namespace: str, name: str) -> str:
    """The path of one object; ``namespace=""`` for a cluster-scoped one."""
    if not name:
        raise ValueError("an object path needs a name")
    return f"{collection_path(group, version, resource, namespace)}/{_segment(name)}"


def _segment(text: str) -> str:
    if text in (".", "..") or "/" in text:
        raise ValueError(f"not a valid name for an API path: {text!r}")
    return quote(text, safe="")


# --- writes -------------------------------------------------------------------------------------


def _query(*, force: bool = False, dry_run: bool = False, manager: str = FIELD_MANAGER) -> dict[str, str]:
    query = {"fieldManager": manager}
    if force:
        query["force"] = "true"
    if dry_run:
        query["dryRun"] = "All"
    return query


def server_side_apply(
    kube: Requester,
    path: str,
    body: bytes,
    *,
    force: bool = False,
    dry_run: bool = False,
    manager: str = FIELD_MANAGER,
) -> dict[str, Any]:
    """PATCH ``path`` with ``body`` as an apply configuration (creates the object when absent);
    return the object as the API server stored it. ``force`` takes over conflicting fields;
    ``dry_run`` validates and answers without storing anything."""
    try:
        answer = kube.request(
            "PATCH",
            path,
            query=_query(force=force, dry_run=dry_run, manager=manager),
            body=body,
            content_type=APPLY_PATCH,
        )
    except KubeAPIError as exc:
        raise refine(exc) from exc
    return _object(answer)


def create(
    kube: Requester, collection: str, body: bytes, *, dry_run: bool = False, manager: str = FIELD_MANAGER
) -> dict[str, Any]:
    """POST ``body`` to ``collection``: only creates; an existing object is a :class:`KubeConflict`."""
    try:
        answer = kube.request(
            "POST", collection, query=_query(dry_run=dry_run, manager=manager), body=body, content_type=JSON
        )
    except KubeAPIError as exc:
        raise refine(exc) from exc
    return _object(answer)


def get(kube: Requester, path: str) -> dict[str, Any] | None:
    """The object at ``path``, or None when it (or its resource type, or its namespace) does not exist."""
    try:
        return _object(kube.request("GET", path))
    except KubeNotFound:
        return None


def exists(kube: Requester, path: str) -> bool:
    return get(kube, path) is not None


def existing_names(kube: Requester, collection: str) -> set[str]:
    """The names of the objects in ``collection`` (metadata only, in pages); empty when the resource
    type or the namespace does not exist."""
    names: set[str] = set()
    token = ""
    while True:
        query = {"limit": str(PAGE_SIZE)}
        if token:
            query["continue"] = token
        try:
            page = _object(kube.request("GET", collection, query=query, accept=METADATA_LIST))
        except KubeNotFound:
            return names
        for item in _items(page):
            name = (item.get("metadata") or {}).get("name")
            if name:
                names.add(str(name))
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return names


def _items(page: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for item in page.get("items") or []:
        if isinstance(item, Mapping):
            yield item


def _object(answer: RawResponse) -> dict[str, Any]:
    if not answer.body:
        return {}
    doc = json.loads(answer.body)
    return doc if isinstance(doc, dict) else {}
