"""Where each repository object lives in the store, and how its name is derived.

Every object except ``config`` and key slots is named by the unkeyed BLAKE3 (hex) of its stored
bytes, so a reader checks any object against its own name without a key (docs/format.md).
"""

from __future__ import annotations

import re
from typing import Final

import blake3

CONFIG_KEY: Final = "config"
KEYS_PREFIX: Final = "keys/"
DATA_PREFIX: Final = "data/"
INDEX_PREFIX: Final = "index/"
SNAPSHOTS_PREFIX: Final = "snapshots/"

_HEX_ID = re.compile(r"^[0-9a-f]{64}$")


def object_name(data: bytes | bytearray | memoryview) -> str:
    """The name of a stored object: lowercase hex of the unkeyed BLAKE3-256 of its bytes."""
    digest: str = blake3.blake3(data).hexdigest()
    return digest


def is_object_name(text: str) -> bool:
    return bool(_HEX_ID.match(text))


def pack_key(pack_id: str) -> str:
    return f"{DATA_PREFIX}{pack_id[:2]}/{pack_id}"


def index_key(index_id: str) -> str:
    return f"{INDEX_PREFIX}{index_id}"


def snapshot_key(snapshot_id: str) -> str:
    return f"{SNAPSHOTS_PREFIX}{snapshot_id}"


def name_of_key(key: str) -> str:
    """The last path segment of a key: the object's name."""
    return key.rsplit("/", 1)[-1]
