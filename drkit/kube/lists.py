"""Paged raw lists: ``limit``/``continue`` pages, a relist from scratch when the continue token has
expired (410 Gone), each item re-serialized compactly with sorted keys and with the ``apiVersion`` and
``kind`` that list items omit. The next page is requested as soon as a page arrives, so that the API
server prepares it while the caller stores this one (one page ahead, never more).

    pager = ListPager(client, resource, namespace="prod", label_selector="app=web")
    for item in pager:
        store(item.namespace, item.name, item.raw)
    pager.resource_version  # the list's resourceVersion (of the relist that completed)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from drkit.kube.client import KubeClient
from drkit.kube.errors import KubeGone
from drkit.kube.resource import Resource

PAGE_SIZE = 500
MAX_RELISTS = 3


@dataclass(frozen=True)
class ListedItem:
    namespace: str  # "" for a cluster-scoped object
    name: str
    resource_version: str
    raw: bytes  # canonical JSON: sorted keys, no spaces, UTF-8, with apiVersion and kind
    obj: dict[str, Any]  # the same object, parsed (apiVersion and kind included)


def canonical_json(obj: Any) -> bytes:
    """The byte form drkit stores an object in: same object, same bytes (so it deduplicates)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class _Fetch:
    """One page request running in a daemon thread; ``result()`` waits for it (and raises its error).
    The request itself is bounded by the client's timeout, so the thread always ends."""

    def __init__(self, fn: Callable[[], bytes]) -> None:
        self._fn = fn
        self._value: bytes | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="drkit-list-page", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer by result()
            self._error = exc

    def result(self) -> bytes:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


class ListPager:
    """Iterate over every object of one resource (in one namespace, or all when ``namespace`` is None).

    After the iteration, ``resource_version`` is the list's resourceVersion, ``pages`` the number of
    pages read and ``relists`` how often the list was restarted because its continue token expired.
    Objects already yielded before a relist are not yielded again."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        limit: int = PAGE_SIZE,
        max_relists: int = MAX_RELISTS,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.limit = limit
        self.max_relists = max_relists
        self.resource_version = ""
        self.pages = 0
        self.relists = 0

    def __iter__(self) -> Iterator[ListedItem]:
        seen: set[tuple[str, str]] = set()
        while True:
            try:
                yield from self._list_once(seen)
            except KubeGone:
                if self.relists >= self.max_relists:
                    raise
                self.relists += 1
            else:
                return

    def _fetch(self, path: str, token: str) -> _Fetch:
        query = {"limit": str(self.limit)}
        if token:
            query["continue"] = token
        if self.label_selector:
            query["labelSelector"] = self.label_selector
        return _Fetch(lambda: self.client.get_bytes(path, query))

    def _list_once(self, seen: set[tuple[str, str]]) -> Iterator[ListedItem]:
        path = self.resource.path(self.namespace)
        api_version = self.resource.group_version
        kind = self.resource.kind
        first = True
        fetch: _Fetch | None = self._fetch(path, "")
        while fetch is not None:
            page = json.loads(fetch.result())
            self.pages += 1
            meta = page.get("metadata") or {}
            if first:
                self.resource_version = str(meta.get("resourceVersion") or "")
                first = False
            token = str(meta.get("continue") or "")
            # the next page is asked for now: the API server prepares it while this one is consumed
            fetch = self._fetch(path, token) if token else None
            for obj in page.get("items") or []:
                obj["apiVersion"] = api_version
                obj["kind"] = kind
                om = obj.get("metadata") or {}
                key = (str(om.get("namespace") or ""), str(om.get("name") or ""))
                if key in seen:
                    continue
                seen.add(key)
                yield ListedItem(
                    key[0], key[1], str(om.get("resourceVersion") or ""), canonical_json(obj), obj
                )
