"""Split trees: a directory of very many entries stored as several tree blobs (docs/format.md,
"Split trees").

A directory of more than :data:`SPLIT_ABOVE` entries may be stored as *parts*: ordinary (version 2)
trees each holding a run of its sorted entries, and one TREE blob listing them (magic ``DRS\\x01``).
Where a part ends depends only on the entries (an entry whose name's CRC-32 has its low bits zero,
within a minimum and maximum part length), so a directory that changes a little keeps most of its
parts' ids from one snapshot to the next, and a writer can store each part as soon as its entries
are known in order (a cluster capture's namespace of 100k objects never holds them all).

Readers see one directory: :func:`read_tree` follows the parts and checks that together they form
one valid tree (each part a non-split tree with its recorded number of entries, names strictly
increasing across parts); anything else is ``VerificationFailed`` naming the split tree and the part.
Directories of up to ``SPLIT_ABOVE`` entries are never split: their trees are exactly as before.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final, TypeVar

from drkit.errors import VerificationFailed
from drkit.repo.format.tree import Node, decode_tree

SPLIT_MAGIC: Final = b"DRS\x01"
"""The first four bytes of a split tree's list of parts ("DRS", version 1)."""
SPLIT_ABOVE: Final = 8192
"""A directory of more entries than this is stored split (by the snapshot writer); none of fewer."""
PART_MIN: Final = 1024
PART_MAX: Final = 8192
PART_MASK: Final = 0x7FF
"""A part ends after an entry whose name's CRC-32 ``& PART_MASK`` is 0 once it holds ``PART_MIN``
entries, or at ``PART_MAX`` entries (the last part ends with the directory)."""

_HEAD = struct.Struct("<4sII")  # magic, total entries, parts
_ID = 32

T = TypeVar("T")


def is_split(data: bytes) -> bool:
    """Whether a stored tree is a split tree's list of parts."""
    return data[:4] == SPLIT_MAGIC


def ends_part(name: bytes, count: int) -> bool:
    """Whether a part holding ``count`` entries, the last named ``name``, ends there."""
    return count >= PART_MAX or (count >= PART_MIN and not zlib.crc32(name) & PART_MASK)


def cut_parts(entries: Iterable[T], name: Callable[[T], bytes]) -> Iterator[list[T]]:
    """Sorted ``entries`` cut into parts (the last one may be short: it ends with the input)."""
    part: list[T] = []
    for e in entries:
        part.append(e)
        if ends_part(name(e), len(part)):
            yield part
            part = []
    if part:
        yield part


def encode_split(parts: Sequence[tuple[bytes, int]]) -> bytes:
    """The list of parts (tree id, number of entries), in name order."""
    if not parts or any(len(i) != _ID or c <= 0 for i, c in parts):
        raise ValueError("a split tree needs parts of at least one entry and 32-byte ids")
    total = sum(c for _i, c in parts)
    return b"".join(
        (
            _HEAD.pack(SPLIT_MAGIC, total, len(parts)),
            struct.pack(f"<{len(parts)}I", *(c for _i, c in parts)),
            *(i for i, _c in parts),
        )
    )


def read_split(data: bytes, *, where: str) -> list[tuple[bytes, int]]:
    """A split tree's parts (tree id, number of entries), checked for form."""
    try:
        magic, total, n = _HEAD.unpack_from(data, 0)
        counts = struct.unpack_from(f"<{n}I", data, _HEAD.size)
    except struct.error:
        raise VerificationFailed(f"split tree {where} is truncated") from None
    if magic != SPLIT_MAGIC:
        raise VerificationFailed(f"tree {where} is not a split tree")
    pos = _HEAD.size + 4 * n
    if len(data) != pos + _ID * n:
        raise VerificationFailed(f"split tree {where} has {len(data) - pos} bytes of part ids for {n} parts")
    if n == 0 or min(counts) == 0:
        raise VerificationFailed(f"split tree {where} has no parts or an empty part")
    if sum(counts) != total:
        raise VerificationFailed(f"split tree {where} says {total} entries but its parts hold {sum(counts)}")
    return [(data[pos + _ID * k : pos + _ID * (k + 1)], counts[k]) for k in range(n)]


def read_tree(data: bytes, *, where: str, part: Callable[[bytes], bytes]) -> list[Node]:
    """A stored tree's entries, whether split or not (``part``: a tree id to its plaintext).

    ``decode_tree``'s checks hold for the whole directory: names safe, unique and in order."""
    if not is_split(data):
        return decode_tree(data, where=where)
    nodes: list[Node] = []
    parts = read_split(data, where=where)
    for k, (part_id, count) in enumerate(parts):
        pwhere = f"{part_id.hex()} (part {k + 1} of {len(parts)} of split tree {where})"
        try:
            raw = part(part_id)
        except VerificationFailed as e:
            raise VerificationFailed(f"{e.message} (part {k + 1} of split tree {where})") from None
        if is_split(raw):
            raise VerificationFailed(f"tree {pwhere} is itself split")
        got = decode_tree(raw, where=pwhere)
        if len(got) != count:
            raise VerificationFailed(f"tree {pwhere} has {len(got)} entries, not {count}")
        if nodes and got[0].name <= nodes[-1].name:
            raise VerificationFailed(
                f"tree {pwhere} is out of order: {got[0].name!r} after {nodes[-1].name!r}"
            )
        nodes += got
    return nodes
