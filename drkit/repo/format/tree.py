"""Trees: one per directory, a canonical JSON list of its entries, stored as a TREE blob.

Canonical form: ``{"entries": [...], "version": 1}`` with entries sorted by name bytes, keys sorted,
no whitespace (``json.dumps(..., sort_keys=True, separators=(",", ":"))``, ASCII-escaped). An
unchanged directory yields identical bytes, hence the same blob id, hence dedup.

Entry fields: ``name`` (UTF-8 text; ``name_hex`` instead when the name is not valid UTF-8),
``type`` (``file``/``dir``/``symlink``), ``mode`` (permission bits incl. setuid/setgid/sticky),
``uid``, ``gid``, ``mtime_ns``; files: ``size``, ``content`` (chunk ids, hex, in order); dirs:
``subtree`` (tree id, hex); symlinks: ``target`` (or ``target_hex``).

Optional fields (absent when empty, so trees without them encode as before and older trees read):
``user``/``group`` (owner names), ``xattrs`` (``{name: hex value}``), and for files ``inode``,
``device``, ``links`` (hard link count when > 1: entries with equal device and inode and links > 1
are one file, restored as hard links) and ``sparse`` (the file had holes: zero chunks become holes).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from drkit.errors import VerificationFailed

TREE_VERSION: Final = 1


class NodeType(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"


@dataclass(frozen=True)
class Node:
    name: bytes
    type: NodeType
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    size: int = 0
    content: tuple[bytes, ...] = ()
    subtree: bytes | None = None
    target: bytes | None = None
    user: str | None = None
    group: str | None = None
    xattrs: tuple[tuple[str, bytes], ...] = ()
    inode: int = 0
    device: int = 0
    links: int = 0
    sparse: bool = False

    @property
    def link_group(self) -> tuple[int, int] | None:
        """The hard link group of a file (device, inode) when it had more than one link, else None."""
        if self.type is NodeType.FILE and self.links > 1 and self.inode:
            return (self.device, self.inode)
        return None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry of a stored tree kept as its decoded JSON object, to be written back as it was.

    An incremental backup reuses the parent snapshot's entry of a file or directory that has not
    changed in any field: no ``Node`` is made, and the entry encodes to the very same bytes (the
    encoding is canonical), so an unchanged directory keeps its tree id.
    """

    name: bytes
    doc: dict[str, Any]


def safe_name(name: bytes) -> bool:
    """A name a restore may create inside its target: one path component, nothing special."""
    return bool(name) and name not in (b".", b"..") and b"/" not in name and b"\x00" not in name


def _put_bytes(doc: dict[str, Any], field: str, value: bytes) -> None:
    try:
        doc[field] = value.decode("utf-8")
    except UnicodeDecodeError:
        doc[f"{field}_hex"] = value.hex()


def _get_bytes(doc: dict[str, Any], field: str) -> bytes:
    if field in doc:
        return str(doc[field]).encode("utf-8")
    return bytes.fromhex(str(doc[f"{field}_hex"]))


def _node_json(n: Node) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": n.type.value,
        "mode": n.mode,
        "uid": n.uid,
        "gid": n.gid,
        "mtime_ns": n.mtime_ns,
    }
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


def encode_tree(nodes: Sequence[Node | StoredEntry]) -> bytes:
    ordered = sorted(nodes, key=lambda n: n.name)
    for a, b in itertools.pairwise(ordered):
        if a.name == b.name:
            raise ValueError(f"duplicate name {a.name!r} in a tree")
    entries = [n.doc if isinstance(n, StoredEntry) else _node_json(n) for n in ordered]
    doc = {"version": TREE_VERSION, "entries": entries}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii")


def _node_from_json(e: dict[str, Any], where: str) -> Node:
    t = NodeType(e["type"])
    name = _get_bytes(e, "name")
    if not safe_name(name):
        raise VerificationFailed(f"tree {where} has a hostile entry name {name!r}")
    fields = _optional(e, where, name)
    fields.update(mode=int(e["mode"]) & 0o7777, uid=int(e["uid"]), gid=int(e["gid"]))
    fields["mtime_ns"] = int(e["mtime_ns"])
    if t is NodeType.FILE:
        content = tuple(bytes.fromhex(c) for c in e["content"])
        if any(len(c) != 32 for c in content):
            raise VerificationFailed(f"tree {where}: {name!r} has a malformed chunk id")
        size = int(e["size"])
        if size < 0:
            raise VerificationFailed(f"tree {where}: {name!r} has a negative size")
        if "inode" in e:
            fields["inode"], fields["device"] = int(e["inode"]), int(e["device"])
        if "links" in e:
            fields["links"] = int(e["links"])
        return Node(name, t, size=size, content=content, sparse=e.get("sparse") is True, **fields)
    if t is NodeType.DIR:
        sub = bytes.fromhex(e["subtree"])
        if len(sub) != 32:
            raise VerificationFailed(f"tree {where}: {name!r} has a malformed subtree id")
        return Node(name, t, subtree=sub, **fields)
    return Node(name, t, target=_get_bytes(e, "target"), **fields)


def _optional(e: dict[str, Any], where: str, name: bytes) -> dict[str, Any]:
    """The optional fields every entry type may carry (owner names, extended attributes)."""
    out: dict[str, Any] = {}
    for f in ("user", "group"):
        if f in e:
            if not isinstance(e[f], str):
                raise VerificationFailed(f"tree {where}: {name!r} has a malformed {f}")
            out[f] = e[f]
    if "xattrs" in e:
        raw = e["xattrs"]
        if not isinstance(raw, dict) or not all(isinstance(k, str) and k for k in raw):
            raise VerificationFailed(f"tree {where}: {name!r} has malformed xattrs")
        out["xattrs"] = tuple(sorted((k, bytes.fromhex(v)) for k, v in raw.items()))
    return out


def _check_version(doc: object, where: str) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or doc.get("version") != TREE_VERSION:
        version = doc.get("version") if isinstance(doc, dict) else None
        raise VerificationFailed(f"tree {where} has unknown version {version!r}")
    entries: list[dict[str, Any]] = doc["entries"]
    return entries


def tree_entries(data: bytes, *, where: str) -> dict[bytes, dict[str, Any]]:
    """A stored tree as a map from entry name to its decoded JSON object, for an incremental backup
    to compare entries with (no ``Node`` per entry: most of them are only compared, then reused).

    Names are not checked for safety: a backup looks entries up by the names it lists in a directory,
    which are always safe, so an entry with any other name is never used; what a backup takes from an
    entry it checks as it compares (a reused entry equals, field by field, what it would write itself).
    """
    try:
        entries = _check_version(json.loads(data), where)
        out = {e["name"].encode() if "name" in e else bytes.fromhex(e["name_hex"]): e for e in entries}
    except VerificationFailed:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerificationFailed(f"tree {where} is malformed: {e}") from None
    if len(out) != len(entries):
        raise VerificationFailed(f"tree {where} has a duplicate entry name")
    return out


def node_doc(n: Node) -> dict[str, Any]:
    """The JSON object ``n`` encodes to inside a tree."""
    return _node_json(n)


def doc_name(doc: dict[str, Any]) -> bytes:
    """The name of a stored entry (``tree_entries`` checked it)."""
    return _get_bytes(doc, "name")


def entry_node(doc: dict[str, Any], *, where: str) -> Node:
    """One stored entry decoded and checked as ``decode_tree`` does."""
    try:
        return _node_from_json(doc, where)
    except VerificationFailed:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerificationFailed(f"tree {where} is malformed: {e}") from None


def decode_tree(data: bytes, *, where: str) -> list[Node]:
    """Parse a tree, refusing anything a restore could be tricked by (bad or duplicate names)."""
    try:
        nodes = [_node_from_json(e, where) for e in _check_version(json.loads(data), where)]
    except VerificationFailed:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerificationFailed(f"tree {where} is malformed: {e}") from None
    for a, b in itertools.pairwise(nodes):
        if a.name >= b.name:
            raise VerificationFailed(
                f"tree {where} is not strictly sorted (duplicate or reordered {b.name!r})"
            )
    return nodes
