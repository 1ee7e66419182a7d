"""Export captured objects as a Velero backup tarball (format 1.1.0), so that users can move between
tools. Pure: writes a gzip-compressed tar to any binary stream.

Layout (Velero's ``pkg/archive`` and ``pkg/backup``): every object is written twice, once at the
classic path and once under its API version with the ``-preferredversion`` suffix (drkit captures the
preferred version only):

    metadata/version                                              "1.1.0"
    resources/<resource>[.<group>]/namespaces/<ns>/<name>.json
    resources/<resource>[.<group>]/cluster/<name>.json
    resources/<resource>[.<group>]/<version>-preferredversion/namespaces/<ns>/<name>.json
    resources/<resource>[.<group>]/<version>-preferredversion/cluster/<name>.json

The core group has no suffix (``resources/configmaps/...``), as Velero's ``GroupResource.String()``.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from drkit.capture.resources import CapturedObject, check_segment

FORMAT_VERSION = "1.1.0"
PREFERRED_SUFFIX = "-preferredversion"


@dataclass(frozen=True)
class VeleroMetadata:
    """What the tarball says about itself. ``created`` becomes every member's mtime."""

    created: datetime
    format_version: str = FORMAT_VERSION


@dataclass(frozen=True)
class VeleroExportStats:
    objects: int
    members: int


def velero_paths(obj: CapturedObject) -> tuple[str, str]:
    """The classic path and the versioned (``<version>-preferredversion``) path of an object."""
    group_resource = check_segment(obj.resource, "resource")
    if obj.group:
        group_resource = f"{group_resource}.{check_segment(obj.group, 'group')}"
    scope = f"namespaces/{check_segment(obj.namespace, 'namespace')}" if obj.namespace else "cluster"
    leaf = f"{scope}/{check_segment(obj.name, 'name')}.json"
    version_dir = f"{check_segment(obj.version, 'version')}{PREFERRED_SUFFIX}"
    return f"resources/{group_resource}/{leaf}", f"resources/{group_resource}/{version_dir}/{leaf}"


def write_velero_tar(
    objects: Iterable[CapturedObject], out: BinaryIO, metadata: VeleroMetadata
) -> VeleroExportStats:
    """Write ``objects`` (raw JSON as captured) to ``out`` as a ``.tar.gz`` in Velero's layout.

    The same object twice (same path) is written once: the first one wins."""
    mtime = metadata.created.astimezone(UTC).timestamp()
    written: set[str] = set()
    count = 0
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "metadata/version", metadata.format_version.encode(), mtime)
        for obj in objects:
            paths = velero_paths(obj)
            if paths[0] in written:
                continue
            for path in paths:
                _add(tar, path, obj.raw, mtime)
                written.add(path)
            count += 1
    return VeleroExportStats(objects=count, members=1 + 2 * count)


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    info.type = tarfile.REGTYPE
    tar.addfile(info, io.BytesIO(data))
