"""The version 1 tree encoder (canonical JSON) as drkit wrote it before version 2, kept for tests:
repositories written then must still read, restore and serve as a backup's parent."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from drkit.repo.format.tree import Entry, Node, NodeType, entry_node


def _put_bytes(doc: dict[str, Any], field: str, value: bytes) -> None:
    try:
        doc[field] = value.decode("utf-8")
    except UnicodeDecodeError:
        doc[f"{field}_hex"] = value.hex()


def node_json_v1(n: Node) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": n.type.value, "mode": n.mode, "uid": n.uid, "gid": n.gid}
    doc["mtime_ns"] = n.mtime_ns
    _put_bytes(doc, "name", n.name)
    if n.user is not None:
        doc["user"] = n.user
    if n.group is not None:
        doc["group"] = n.group
    if n.xattrs:
        doc["xattrs"] = {k: v.hex() for k, v in n.xattrs}
    if n.type is NodeType.FILE:
        doc["size"] = n.size
        doc["content"] = [c.hex() for c in n.content]
        if n.inode:
            doc["inode"] = n.inode
            doc["device"] = n.device
        if n.links > 1:
            doc["links"] = n.links
        if n.sparse:
            doc["sparse"] = True
    elif n.type is NodeType.DIR:
        doc["subtree"] = (n.subtree or b"").hex()
    else:
        _put_bytes(doc, "target", n.target or b"")
    return doc


def encode_tree_v1(nodes: Iterable[Node | Entry]) -> bytes:
    ordered = sorted((entry_node(n) if isinstance(n, Entry) else n for n in nodes), key=lambda n: n.name)
    doc = {"version": 1, "entries": [node_json_v1(n) for n in ordered]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii")
