"""What discovery finds: one served API resource at one version. Pure (no ``kubernetes`` import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Resource:
    """An API resource such as ``deployments`` in ``apps/v1``. ``group`` is ``""`` for the core group."""

    group: str
    version: str
    resource: str  # the plural, lower case: "deployments"
    kind: str  # "Deployment"
    namespaced: bool
    verbs: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        """The ``apiVersion`` of its objects: ``v1`` or ``apps/v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``plural.group`` (``deployments.apps``), or the plural alone in the core group (``configmaps``)."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The API path of its collection (all namespaces when ``namespace`` is None) or of one object."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            base = f"{base}/namespaces/{namespace}"
        base = f"{base}/{self.resource}"
        return f"{base}/{name}" if name is not None else base

    def __str__(self) -> str:
        return f"{self.qualified} ({self.group_version})"
