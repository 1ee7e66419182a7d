"""Local mode: where a volume's files are on the machine drkit runs on (single-node clusters, the
local-path provisioner, hostPath and ``local`` PVs).

    rule = PathRule.parse("*=local-path")                    # --volume-path-map PV_OR_PATTERN=HOSTPATH
    found = resolve_local(volume, [rule], local_node_name())  # the first matching rule, else the PV's path

Backups read from there (:mod:`drkit.capture.volumes`); restores write there
(:mod:`drkit.restore.volumes`).
"""

from __future__ import annotations

import fnmatch
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from drkit.capture.claims import VolumeInfo
from drkit.errors import ConfigError

LOCAL_PATH_ROOT: Final = "/opt/local-path-provisioner"
LOCAL_PATH_TEMPLATE: Final = "{root}/{pv}_{namespace}_{pvc}"


@dataclass(frozen=True)
class PathRule:
    """``PATTERN=TEMPLATE``: a PV name or glob (or ``<ns>/<pvc>`` glob when it holds a ``/``) and the
    directory, with ``{pv}``, ``{namespace}``, ``{pvc}`` replaced; ``local-path[:ROOT]`` stands for
    the local-path provisioner's ``ROOT/{pv}_{namespace}_{pvc}`` (ROOT: /opt/local-path-provisioner)."""

    pattern: str
    template: str

    @classmethod
    def parse(cls, text: str) -> PathRule:
        pattern, sep, template = text.partition("=")
        pattern, template = pattern.strip(), template.strip()
        if not sep or not pattern or not template:
            raise ConfigError(
                f"--volume-path-map {text!r} is not PV_OR_PATTERN=HOSTPATH",
                field="volume-path-map",
                hint="e.g. pvc-1234=/srv/data, '*=/mnt/{namespace}/{pvc}' or '*=local-path'",
            )
        if template == "local-path" or template.startswith("local-path:"):
            root = template.partition(":")[2] or LOCAL_PATH_ROOT
            template = LOCAL_PATH_TEMPLATE.replace("{root}", root.rstrip("/"))
        if not template.startswith("/"):
            raise ConfigError(
                f"--volume-path-map {text!r}: the path must be absolute", field="volume-path-map"
            )
        try:
            template.format(pv="", namespace="", pvc="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"--volume-path-map {text!r}: unknown placeholder {exc} (use {{pv}}, {{namespace}}, {{pvc}})",
                field="volume-path-map",
            ) from None
        return cls(pattern, template)

    def matches(self, volume: VolumeInfo) -> bool:
        subject = volume.key if "/" in self.pattern else volume.pv
        return fnmatch.fnmatchcase(subject, self.pattern)

    def path_for(self, volume: VolumeInfo) -> Path:
        return Path(self.template.format(pv=volume.pv, namespace=volume.namespace, pvc=volume.pvc))


@dataclass(frozen=True)
class LocalSource:
    path: Path | None
    how: str  # the rule or PV field that gave the path, or why there is none


def resolve_local(
    volume: VolumeInfo,
    rules: Sequence[PathRule],
    node_name: str,
    is_dir: Callable[[Path], bool] = Path.is_dir,
) -> LocalSource:
    """Where ``volume``'s files are on this machine: the first matching rule, else the PV's own host
    path when this is its node (or its node is unknown)."""
    for rule in rules:
        if rule.matches(volume):
            path = rule.path_for(volume)
            if not is_dir(path):
                return LocalSource(
                    None, f"--volume-path-map {rule.pattern} gives {path}, not a directory here"
                )
            return LocalSource(path, f"--volume-path-map {rule.pattern}")
    if volume.host_path:
        if volume.node is not None and volume.node != node_name:
            return LocalSource(
                None,
                f"its host path is on node {volume.node}, and drkit runs on {node_name} (map it or use Jobs)",
            )
        path = Path(volume.host_path)
        if not is_dir(path):
            return LocalSource(None, f"its host path {path} is not a directory here")
        return LocalSource(path, "the PV's host path")
    return LocalSource(None, "no --volume-path-map rule matches and the PV is not a hostPath/local volume")


def local_node_name() -> str:
    """The node drkit runs on: ``$NODE_NAME`` (set it from the downward API), else the host name."""
    return os.environ.get("NODE_NAME") or socket.gethostname()
