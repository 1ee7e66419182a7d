"""Paged raw lists: ``limit``/``continue`` pages, a relist from scratch when the continue token has
expired (410 Gone), each item re-serialized compactly with sorted keys and with the ``apiVersion`` and
``kind`` that list items omit. The next page is requested as soon as a page arrives, so that the API
server prepares it while the caller stores this one (one page ahead, never more).

    pager = ListPager(client, resource, namespace="prod", label_selector="app=web")
    for item in pager:
        store(item.namespace, item.name, item.raw)
    pager.resource_version  # the list's resourceVersion (of the relist that completed)

Memory does not grow by a Python object per item: the keys already yielded (needed only to skip them
after a relist) are kept as one byte buffer, ~30 bytes an item (:class:`YieldedKeys`).
"""

from __future__ import annotations

import json
import struct
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


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
"""``json.dumps`` with these options, without building an encoder per call (~15% of its time)."""


def canonical_json(obj: Any) -> bytes:
    """The byte form drkit stores an object in: same object, same bytes (so it deduplicates)."""
    return _CANONICAL(obj).encode("utf-8")


_LENGTHS = struct.Struct("<II")


class YieldedKeys:
    """The (namespace, name) keys a list has yielded, for skipping them after a relist, without an
    object per key: a list's items come in the order of their keys in etcd (``<namespace>/<name>``,
    compared as bytes), so while each key is greater than the one before, none can be a repeat, and
    the keys are only appended to a buffer (lengths and UTF-8 bytes). A set is built from that buffer
    when it is needed, and kept from then on: after the first relist, or at the first key out of
    order (a server that does not list in key order: every key is then checked, as before)."""

    __slots__ = ("_buf", "_last", "_set")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._last: tuple[str, str] | None = None  # (namespace/name, namespace) of the last key
        self._set: set[tuple[str, str]] | None = None

    def __len__(self) -> int:
        return len(self._set) if self._set is not None else self._count()

    def _count(self) -> int:
        n = pos = 0
        while pos < len(self._buf):
            a, b = _LENGTHS.unpack_from(self._buf, pos)
            pos += _LENGTHS.size + a + b
            n += 1
        return n

    @property
    def compact(self) -> bool:
        """True while the keys are only a buffer (no set built)."""
        return self._set is None

    def _keys(self) -> set[tuple[str, str]]:
        keys: set[tuple[str, str]] = set()
        buf, pos = bytes(self._buf), 0
        while pos < len(buf):
            a, b = _LENGTHS.unpack_from(buf, pos)
            pos += _LENGTHS.size
            ns = buf[pos : pos + a].decode("utf-8", "surrogatepass")
            name = buf[pos + a : pos + a + b].decode("utf-8", "surrogatepass")
            keys.add((ns, name))
            pos += a + b
        return keys

    def expand(self) -> None:
        """From now on keep (and check) every key in a set: after a relist."""
        if self._set is None:
            self._set = self._keys()
            self._buf = bytearray()

    def add(self, key: tuple[str, str]) -> bool:
        """Record ``key``; False if it was yielded before (skip it)."""
        keys = self._set
        if keys is None:
            last = self._last
            order = (f"{key[0]}/{key[1]}", key[0])  # etcd's order; the namespace breaks ties
            if last is None or order > last:
                self._last = order
                ns, name = key[0].encode("utf-8", "surrogatepass"), key[1].encode("utf-8", "surrogatepass")
                self._buf += _LENGTHS.pack(len(ns), len(name))
                self._buf += ns
                self._buf += name
                return True
            self.expand()  # out of key order: check every key from here on
            keys = self._set
            assert keys is not None
        if key in keys:
            return False
        keys.add(key)
        return True


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
        seen = YieldedKeys()
        while True:
            try:
                yield from self._list_once(seen)
            except KubeGone:
                if self.relists >= self.max_relists:
                    raise
                self.relists += 1
                seen.expand()  # the relist starts again from the first key
            else:
                return

    def _fetch(self, path: str, token: str) -> _Fetch:
        query = {"limit": str(self.limit)}
        if token:
            query["continue"] = token
        if self.label_selector:
            query["labelSelector"] = self.label_selector
        return _Fetch(lambda: self.client.get_bytes(path, query))

    def _list_once(self, seen: YieldedKeys) -> Iterator[ListedItem]:
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
                if not seen.add(key):
                    continue
                yield ListedItem(
                    key[0], key[1], str(om.get("resourceVersion") or ""), canonical_json(obj), obj
                )
