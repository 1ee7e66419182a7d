"""Trees: one per directory, a canonical list of its entries, stored as a TREE blob.

Version 2 (written): a compact binary encoding, columns of fixed-width little-endian integers
followed by the variable-length parts (docs/format.md, "Trees", has the byte layout). Entries are
sorted by name bytes; the encoding of a list of entries is unique, so an unchanged directory yields
identical bytes, hence the same blob id, hence dedup. Version 1 (read only): canonical JSON
``{"entries": [...], "version": 1}``, the format of repositories written before version 2.

Entry fields: ``name`` (bytes), ``type`` (``file``/``dir``/``symlink``), ``mode`` (permission bits
incl. setuid/setgid/sticky), ``uid``, ``gid``, ``mtime_ns``; files: ``size``, ``content`` (chunk
ids, in order); dirs: ``subtree`` (tree id); symlinks: ``target``. Optional (empty when absent):
``user``/``group`` (owner names), ``xattrs``, and for files ``inode``, ``device``, ``links`` (hard
link count when > 1: entries with equal device and inode and links > 1 are one file, restored as
hard links) and ``sparse`` (the file had holes: zero chunks become holes).
"""

from __future__ import annotations

import functools
import itertools
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NamedTuple

from drkit import native
from drkit.errors import VerificationFailed

TREE_VERSION: Final = 2
MAGIC: Final = b"DRT\x02"
"""The first four bytes of a version 2 tree ("DRT", then the version). A version 1 tree is JSON and
starts with ``{``."""

_HEAD = struct.Struct("<4sII")  # magic, entries, strings
_ID = 32


class NodeType(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"


_TYPES: Final = (NodeType.FILE, NodeType.DIR, NodeType.SYMLINK)  # by their code in a version 2 tree
_TYPE_CODE: Final = {t: i for i, t in enumerate(_TYPES)}


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


class Entry(NamedTuple):
    """One tree entry in the form the encoder writes and the backup compares: a plain tuple, cheap to
    make, compare and keep (a parent snapshot's trees are read into maps of these).

    ``ids``: a file's chunk ids concatenated (32 bytes each), a directory's subtree id, else empty.
    ``target``: a symlink's target, else empty. Fields that do not apply to the type are 0/empty.
    """

    name: bytes
    type: NodeType
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    size: int
    ids: bytes
    target: bytes
    user: str | None
    group: str | None
    xattrs: tuple[tuple[str, bytes], ...]
    inode: int
    device: int
    links: int
    sparse: bool


def safe_name(name: bytes) -> bool:
    """A name a restore may create inside its target: one path component, nothing special."""
    return bool(name) and name not in (b".", b"..") and b"/" not in name and b"\x00" not in name


def node_entry(n: Node) -> Entry:
    """``n`` as the encoder writes it (fields that do not apply to its type dropped)."""
    t = n.type
    if t is NodeType.FILE:
        ids, target = b"".join(n.content), b""
        inode, device, links, sparse = n.inode, n.device, (n.links if n.links > 1 else 0), n.sparse
    else:
        ids = (n.subtree or b"") if t is NodeType.DIR else b""
        target = (n.target or b"") if t is NodeType.SYMLINK else b""
        inode = device = links = 0
        sparse = False
    xattrs = tuple(sorted(n.xattrs, key=_xattr_key)) if n.xattrs else ()
    return Entry(
        n.name, t, n.mode, n.uid, n.gid, n.mtime_ns, n.size if t is NodeType.FILE else 0, ids,
        target, n.user, n.group, xattrs, inode, device, links, bool(sparse),
    )  # fmt: skip


def entry_node(e: Entry) -> Node:
    """An entry as a ``Node``."""
    t = e.type
    ids = e.ids
    return Node(
        e.name,
        t,
        e.mode,
        e.uid,
        e.gid,
        e.mtime_ns,
        size=e.size,
        content=tuple(ids[i : i + _ID] for i in range(0, len(ids), _ID)) if t is NodeType.FILE else (),
        subtree=ids if t is NodeType.DIR else None,
        target=e.target if t is NodeType.SYMLINK else None,
        user=e.user,
        group=e.group,
        xattrs=e.xattrs,
        inode=e.inode,
        device=e.device,
        links=e.links,
        sparse=e.sparse,
    )


@functools.lru_cache(maxsize=512)
def _fixed(n: int) -> struct.Struct:
    """The fixed-width columns of a tree of ``n`` entries, in order (docs/format.md)."""
    return struct.Struct(f"<{n}B{n}B{n}H{n}I{n}I{n}I{n}I{n}q{n}Q{n}Q{n}Q{n}I{n}I{n}I{n}I{n}I")


_COLUMNS = 16  # columns in ``_fixed``


def _xattr_key(kv: tuple[str, bytes]) -> bytes:
    return _text(kv[0])


def _text(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _untext(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


_native = native.load("_tree")
"""``drkit/native/_tree.c``: the same encoding of a list of ``Entry`` tuples in C, or None (not built,
``DRKIT_NO_NATIVE``)."""


def encode_tree(nodes: Iterable[Node | Entry]) -> bytes:
    """The canonical version 2 encoding of a directory's entries (in any order; names unique).

    A list of ``Entry`` tuples is encoded in C when the module was built (the same bytes; it declines
    anything unusual, and this function's Python then encodes it or raises as it always did)."""
    if _native is not None and type(nodes) is list:
        got: bytes | None = _native.encode(nodes, _TYPES)
        if got is not None:
            return got
    return encode_tree_py(nodes)


def encode_tree_py(nodes: Iterable[Node | Entry]) -> bytes:
    """``encode_tree`` in Python only (the reference the compiled encoder is tested against)."""
    es = sorted((x if type(x) is Entry else node_entry(x) for x in nodes), key=_by_name)  # type: ignore[arg-type]
    for a, b in itertools.pairwise(es):
        if a.name == b.name:
            raise ValueError(f"duplicate name {a.name!r} in a tree")
    n = len(es)
    strings: dict[str, int] = {}
    urefs: list[int] = []
    grefs: list[int] = []
    xparts: list[bytes] = []
    xcounts: list[int] = []
    for e in es:
        u, g = e.user, e.group
        urefs.append(0 if u is None else strings.setdefault(u, len(strings) + 1))
        grefs.append(0 if g is None else strings.setdefault(g, len(strings) + 1))
        xa = e.xattrs
        xcounts.append(len(xa))
        if xa:
            prev = None
            for kb, v in sorted((_text(k), v) for k, v in xa):
                if not kb or kb == prev:
                    raise ValueError(f"{e.name!r}: xattr names must be unique and non-empty")
                prev = kb
                xparts.append(struct.pack("<I", len(kb)) + kb + struct.pack("<I", len(v)) + v)
    if n:
        cols = list(zip(*es, strict=True))
        names, ids, targets = cols[0], cols[7], cols[8]
        fixed = _fixed(n).pack(
            *map(_TYPE_CODE.__getitem__, cols[1]),
            *cols[15],  # sparse (bool: 0/1)
            *cols[2],
            *cols[3],
            *cols[4],
            *urefs,
            *grefs,
            *cols[5],
            *cols[6],
            *cols[12],
            *cols[13],
            *cols[14],
            *map(len, names),
            *(len(i) // _ID for i in ids),
            *map(len, targets),
            *xcounts,
        )
        for e in es:
            if len(e.ids) % _ID or (e.type is NodeType.DIR and len(e.ids) != _ID):
                raise ValueError(f"{e.name!r}: malformed ids")
    else:
        names = ids = targets = ()
        fixed = b""
    stable = [_text(s) for s in strings]
    return b"".join(
        (
            _HEAD.pack(MAGIC, n, len(stable)),
            fixed,
            struct.pack(f"<{len(stable)}I", *map(len, stable)),
            *stable,
            *names,
            *ids,
            *targets,
            *xparts,
        )
    )


def _by_name(e: Entry) -> bytes:
    return e.name


def _read_v2(data: bytes, where: str) -> list[Entry]:
    """A version 2 tree's entries, checked for everything a reader relies on (but names)."""
    try:
        _magic, n, ns = _HEAD.unpack_from(data, 0)
        fx = _fixed(n)
        cols = fx.unpack_from(data, _HEAD.size)
        pos = _HEAD.size + fx.size
        slens = struct.unpack_from(f"<{ns}I", data, pos)
    except struct.error:
        raise VerificationFailed(f"tree {where} is truncated") from None
    pos += 4 * ns
    c = [cols[i * n : (i + 1) * n] for i in range(_COLUMNS)]
    (types, flags, modes, uids, gids, urefs, grefs, mtimes, sizes) = c[:9]
    (inodes, devices, links, nlens, idcounts, tlens, xcounts) = c[9:]
    if n and (max(types) > 2 or max(flags) > 1 or max(modes) > 0o7777):
        raise VerificationFailed(f"tree {where} has a malformed type, flag or mode")
    if n and max(*urefs, *grefs) > ns:
        raise VerificationFailed(f"tree {where} names an owner that is not in its table")
    if pos + sum(slens) + sum(nlens) + _ID * sum(idcounts) + sum(tlens) > len(data):
        raise VerificationFailed(f"tree {where} is truncated")
    strings: list[str | None] = [None, *map(_untext, _slices(data, pos, slens))]
    pos += sum(slens)
    names = _slices(data, pos, nlens)
    pos += sum(nlens)
    idlens = [k * _ID for k in idcounts]
    ids = _slices(data, pos, idlens)
    pos += sum(idlens)
    targets = _slices(data, pos, tlens)
    pos += sum(tlens)
    xattrs: list[tuple[tuple[str, bytes], ...]] = [()] * n
    if n and max(xcounts):
        pos = _read_xattrs(data, pos, (xcounts, names), xattrs, where)
    tnodes = list(map(_TYPES.__getitem__, types))
    if types.count(0) != n:  # dirs or symlinks: no file fields, the ids and target their type has
        _check_non_files(tnodes, c, names, where)
    if any(tlens) and any(ln for t, ln in zip(types, tlens, strict=True) if t == 0):
        raise VerificationFailed(f"tree {where}: a file has a target")
    if pos != len(data):
        raise VerificationFailed(f"tree {where} has {len(data) - pos} trailing bytes")
    return list(
        map(
            _new_entry,
            zip(
                names,
                tnodes,
                modes,
                uids,
                gids,
                mtimes,
                sizes,
                ids,
                targets,
                map(strings.__getitem__, urefs),
                map(strings.__getitem__, grefs),
                xattrs,
                inodes,
                devices,
                links,
                map(bool, flags),
                strict=True,
            ),
        )
    )


_new_entry = functools.partial(tuple.__new__, Entry)  # Entry(*row) without the Python-level __new__


def _check_non_files(
    tnodes: list[NodeType], c: list[tuple[int, ...]], names: list[bytes], where: str
) -> None:
    flags, sizes, inodes, devices, links, idcounts, tlens = (c[i] for i in (1, 8, 9, 10, 11, 13, 14))
    for i, t in enumerate(tnodes):
        if t is NodeType.FILE:
            continue
        if idcounts[i] != (1 if t is NodeType.DIR else 0) or (tlens[i] and t is NodeType.DIR):
            raise VerificationFailed(f"tree {where}: {names[i]!r} has malformed ids or target")
        if sizes[i] or inodes[i] or devices[i] or links[i] or flags[i]:
            raise VerificationFailed(f"tree {where}: {names[i]!r} has file fields on a {t}")


def _slices(data: bytes, pos: int, lens: Sequence[int]) -> list[bytes]:
    ends = list(itertools.accumulate(lens, initial=pos))
    return [data[a:b] for a, b in itertools.pairwise(ends)]


def _read_xattrs(
    data: bytes,
    pos: int,
    of: tuple[Sequence[int], list[bytes]],
    out: list[tuple[tuple[str, bytes], ...]],
    where: str,
) -> int:
    """The xattr records from ``pos`` into ``out`` (``of``: the entries' xattr counts and names)."""
    counts, names = of
    try:
        for i, count in enumerate(counts):
            if not count:
                continue
            got: list[tuple[str, bytes]] = []
            prev = None
            for _ in range(count):
                (kl,) = struct.unpack_from("<I", data, pos)
                k = data[pos + 4 : pos + 4 + kl]
                pos += 4 + kl
                (vl,) = struct.unpack_from("<I", data, pos)
                v = data[pos + 4 : pos + 4 + vl]
                pos += 4 + vl
                if not k or len(k) != kl or len(v) != vl or (prev is not None and k <= prev):
                    raise VerificationFailed(f"tree {where}: {names[i]!r} has malformed xattrs")
                prev = k
                got.append((_untext(k), v))
            out[i] = tuple(got)
    except struct.error:
        raise VerificationFailed(f"tree {where} is truncated") from None
    return pos


@dataclass(frozen=True, slots=True)
class TreeMap:
    """A stored tree read into a map from entry name to its ``Entry`` (what an incremental backup
    compares a directory with). ``canonical``: the tree is in the version written now, so entries
    taken over unchanged encode to exactly its bytes (a version 1 tree never does)."""

    entries: dict[bytes, Entry]
    canonical: bool


def tree_map(data: bytes, *, where: str) -> TreeMap:
    """A stored tree (version 1 or 2) as a ``TreeMap``.

    Names are not checked for safety: a backup looks entries up by the names it lists in a directory,
    which are always safe, so an entry with any other name is never used.
    """
    if data[:4] == MAGIC:
        es = _read_v2(data, where)
        canonical = True
    else:
        es = [node_entry(n) for n in _v1_nodes(data, where, check_names=False)]
        canonical = False
    out = {e.name: e for e in es}
    if len(out) != len(es):
        raise VerificationFailed(f"tree {where} has a duplicate entry name")
    return TreeMap(out, canonical)


def decode_tree(data: bytes, *, where: str) -> list[Node]:
    """Parse a tree (version 1 or 2), refusing anything a restore could be tricked by (bad or
    duplicate names, entries out of order)."""
    if data[:4] == MAGIC:
        nodes = [entry_node(e) for e in _read_v2(data, where)]
        for n in nodes:
            if not safe_name(n.name):
                raise VerificationFailed(f"tree {where} has a hostile entry name {n.name!r}")
    else:
        nodes = _v1_nodes(data, where, check_names=True)
    for a, b in itertools.pairwise(nodes):
        if a.name >= b.name:
            raise VerificationFailed(
                f"tree {where} is not strictly sorted (duplicate or reordered {b.name!r})"
            )
    return nodes


# -- version 1 (JSON), read only ---------------------------------------------------------------------


def _v1_nodes(data: bytes, where: str, *, check_names: bool) -> list[Node]:
    if data[:4] == b"DRS\x01":
        raise VerificationFailed(f"tree {where} is a split tree (splittree.read_tree reads it)")
    if data[:3] == MAGIC[:3]:
        raise VerificationFailed(f"tree {where} has unknown version {data[3:4].hex() or None}")
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise VerificationFailed(f"tree {where} is malformed: {e}") from None
    if not isinstance(doc, dict) or doc.get("version") != 1:
        version = doc.get("version") if isinstance(doc, dict) else None
        raise VerificationFailed(f"tree {where} has unknown version {version!r}")
    try:
        return [_node_from_json(e, where, check_names) for e in doc["entries"]]
    except VerificationFailed:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerificationFailed(f"tree {where} is malformed: {e}") from None


def _get_bytes(doc: dict[str, Any], field: str) -> bytes:
    if field in doc:
        return str(doc[field]).encode("utf-8")
    return bytes.fromhex(str(doc[f"{field}_hex"]))


def _node_from_json(e: dict[str, Any], where: str, check_names: bool) -> Node:
    t = NodeType(e["type"])
    name = _get_bytes(e, "name")
    if check_names and not safe_name(name):
        raise VerificationFailed(f"tree {where} has a hostile entry name {name!r}")
    fields = _optional(e, where, name)
    fields.update(mode=int(e["mode"]) & 0o7777, uid=int(e["uid"]), gid=int(e["gid"]))
    fields["mtime_ns"] = int(e["mtime_ns"])
    if t is NodeType.FILE:
        content = tuple(bytes.fromhex(c) for c in e["content"])
        if any(len(c) != _ID for c in content):
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
        if len(sub) != _ID:
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
