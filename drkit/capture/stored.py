"""Reading back what a cluster backup stored: the captured objects of a snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from drkit.capture.cluster import OBJECTS_PATH
from drkit.capture.resources import CapturedObject
from drkit.errors import ConfigError, VerificationFailed
from drkit.repo.engine.snapshotreader import SnapshotReader


def object_records(reader: SnapshotReader) -> list[dict[str, Any]]:
    """The per-object records of a cluster snapshot (path, group, version, kind, namespace, ...)."""
    if reader.kind != "cluster" or not reader.exists(OBJECTS_PATH):
        raise ConfigError(
            f"snapshot {reader.snapshot.short_id} holds no captured resources (kind {reader.kind})",
            field="snapshot",
        )
    try:
        records = json.loads(reader.read_bytes(OBJECTS_PATH))
    except ValueError as exc:
        raise VerificationFailed(
            f"{OBJECTS_PATH} of snapshot {reader.snapshot.short_id} is not JSON"
        ) from exc
    if not isinstance(records, list):
        raise VerificationFailed(f"{OBJECTS_PATH} of snapshot {reader.snapshot.short_id} is not a list")
    return records


def stored_objects(reader: SnapshotReader) -> Iterator[CapturedObject]:
    """Every captured object of the snapshot, with its raw JSON as the API served it."""
    for r in object_records(reader):
        yield CapturedObject(
            group=r["group"],
            version=r["version"],
            resource=r["resource"],
            kind=r["kind"],
            namespace=r["namespace"],
            name=r["name"],
            resource_version=r["resourceVersion"],
            raw=reader.read_bytes(r["path"]),
            list_resource_version=r.get("listResourceVersion", ""),
        )
